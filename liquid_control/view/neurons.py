"""Which neurons a model has and what they hold after a step: the neuron channel of the live view.

A wired liquid core (NCP: inter, command and motor neurons) names each neuron by its role and its
id in the wiring, grouped layer by layer as the wiring draws them; its sensory inputs (the conv
head's features) are summarised as a count, not listed. A dense liquid core, an LSTM, GRU or CTRNN
gets generic names (h0, h1, ...). The values are the hidden state h (the h part of a mixed-memory
or LSTM state), one per neuron, in the names' order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GENERIC_ROLE = "hidden"


@dataclass(frozen=True)
class NeuronLayout:
    names: tuple[str, ...]
    roles: tuple[str, ...]
    positions: np.ndarray  # index into the state vector h of each named neuron
    inputs: int  # sensory inputs (features the core reads), summarised

    def __len__(self) -> int:
        return len(self.names)

    def describe(self) -> dict:
        """The names message's content: names and roles in order, and the summarised inputs."""
        return {"names": list(self.names), "roles": list(self.roles), "sensory_inputs": self.inputs}


def core_of(model):
    """The recurrent core of a camera policy, or the model itself when it is a bare core."""
    return getattr(model, "core", model)


def wiring_of(model):
    """The structural wiring of a model's core (an NCP, a random wiring), or None for a dense or
    non-liquid core (a dense CfC's FullyConnected wiring only describes an all-to-all cell)."""
    wiring = getattr(core_of(model), "wiring", None)
    if wiring is None or wiring.kind == "FullyConnected":
        return None
    return wiring


def neuron_layout(model) -> NeuronLayout:
    """The names, roles and state positions of the neurons of ``model`` (a Policy or a core)."""
    core = core_of(model)
    inputs = int(getattr(core, "input_size", 0))
    wiring = wiring_of(model)
    if wiring is not None:
        ids = list(core.rnn_cell.state_neuron_ids())
        position_of = {neuron: position for position, neuron in enumerate(ids)}
        ordered = [n for layer in wiring.layers for n in layer if n in position_of]
        roles = tuple(wiring.get_type_of_neuron(n) for n in ordered)
        names = tuple(f"{role} {n}" for role, n in zip(roles, ordered))
        return NeuronLayout(names, roles, np.asarray([position_of[n] for n in ordered], dtype=np.intp), inputs)
    width = _hidden_width(core)
    return NeuronLayout(tuple(f"h{i}" for i in range(width)), (GENERIC_ROLE,) * width,
                        np.arange(width, dtype=np.intp), inputs)


def _hidden_width(core) -> int:
    for attribute in ("state_size", "hidden_size"):
        value = getattr(core, attribute, None)
        if value is not None:
            return int(value)
    return 0  # a feed-forward core: no state, no neurons


def state_values(layout: NeuronLayout, hidden: np.ndarray | None) -> np.ndarray:
    """One float32 value per named neuron from a hidden state h ((width,) or (1, width)); zeros
    before the first step (no state yet)."""
    if hidden is None or len(layout) == 0:
        return np.zeros(len(layout), dtype=np.float32)
    return np.asarray(hidden, dtype=np.float32).reshape(-1)[layout.positions]


def loop_values(layout: NeuronLayout, loop) -> np.ndarray:
    """The neuron values of a ``runtime.loop.ControlLoop`` after its last step, on any backend (the state
    is read once: a tick in another thread may replace it meanwhile)."""
    state = loop.state
    if state is None or len(layout) == 0:
        return state_values(layout, None)
    arrays = loop.engine.state_arrays(state)
    return state_values(layout, arrays[0][0] if arrays else None)
