"""A picture of a wiring: inputs on the left, then each layer, neurons coloured by role.

Synapses between columns are straight lines, synapses inside a column (recurrent command
neurons, or a fully connected cell) are arcs; green is excitatory, red inhibitory.
"""

from __future__ import annotations

import os

import numpy as np

from .wirings import Wiring

ROLE_COLOURS = {"sensory": "#9a9a3a", "inter": "#1f77b4", "command": "#2ca02c", "motor": "#ff7f0e"}
POLARITY_COLOURS = {1: "#3b9c3b", -1: "#d62728"}


def plot_wiring(wiring: Wiring, path: str | os.PathLike | None = None, title: str | None = None, max_inputs: int = 64,
                dpi: int = 100):
    """Draw ``wiring`` (built) and return the matplotlib Figure; also save it as PNG if ``path`` is given."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch

    if not wiring.is_built():
        raise ValueError("the wiring is not built yet: call wiring.build(input_dim) before drawing it")
    shown_inputs = min(wiring.input_dim, max_inputs)
    columns = [[("sensory", i) for i in range(shown_inputs)]]
    columns += [[("neuron", n) for n in layer] for layer in wiring.layers]
    height = max(len(column) for column in columns)
    position = {}
    for x, column in enumerate(columns):
        ys = np.linspace(0, height - 1, len(column)) if len(column) > 1 else [ (height - 1) / 2 ]
        for node, y in zip(column, ys):
            position[node] = (x, height - 1 - y)

    fig, ax = plt.subplots(figsize=(2.2 * len(columns) + 2, max(3.0, 0.32 * height + 1.5)))
    column_of = {node: x for x, column in enumerate(columns) for node in column}
    for polarity, colour in POLARITY_COLOURS.items():
        straight = []
        sources = np.argwhere(wiring.sensory_adjacency_matrix[:shown_inputs] == polarity)
        for src, dest in sources:
            straight.append((position[("sensory", src)], position[("neuron", dest)]))
        for src, dest in np.argwhere(wiring.adjacency_matrix == polarity):
            a, b = ("neuron", src), ("neuron", dest)
            if column_of[a] == column_of[b]:
                if src != dest:
                    ax.add_patch(FancyArrowPatch(position[a], position[b], connectionstyle="arc3,rad=0.25",
                                                 arrowstyle="-", color=colour, alpha=0.5, lw=0.8))
            else:
                straight.append((position[a], position[b]))
        ax.add_collection(LineCollection(straight, colors=colour, alpha=0.45, linewidths=0.8))

    for node, (x, y) in position.items():
        role = "sensory" if node[0] == "sensory" else wiring.get_type_of_neuron(node[1])
        self_loop = node[0] == "neuron" and wiring.adjacency_matrix[node[1], node[1]] != 0
        ax.scatter([x], [y], s=160, color=ROLE_COLOURS[role], edgecolors="black" if self_loop else "white", zorder=3)
        if node[0] == "neuron":
            ax.annotate(str(node[1]), (x, y), ha="center", va="center", fontsize=6, color="white", zorder=4)

    counts = wiring.neuron_counts()
    handles = [Line2D([], [], marker="o", ls="", color=ROLE_COLOURS["sensory"], label=f"inputs ({wiring.input_dim})")]
    handles += [Line2D([], [], marker="o", ls="", color=ROLE_COLOURS[r], label=f"{r} ({counts[r]})")
                for r in ("inter", "command", "motor") if r in counts]
    handles += [Line2D([], [], color=POLARITY_COLOURS[1], label="excitatory"),
                Line2D([], [], color=POLARITY_COLOURS[-1], label="inhibitory")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    hidden = wiring.input_dim - shown_inputs
    default_title = (f"{wiring.kind}: {wiring.units} neurons, {wiring.synapse_count} synapses, "
                     f"{wiring.sensory_synapse_count} sensory synapses")
    ax.set_title((title or default_title) + (f" ({hidden} inputs not drawn)" if hidden else ""), fontsize=9)
    ax.set_xlim(-0.5, len(columns) - 0.5)
    ax.set_ylim(-1, height)
    ax.axis("off")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig
