"""An ``ncps.wirings`` wiring (built) copied into our ``Wiring``: matrices, roles and layers, nothing redrawn.

Apart from ``ncps_import`` (which needs the cells and sequence modules) so that ``sequence`` can
accept an ncps wiring as its ``units`` without importing the module that imports it. ``ncps``
itself is never imported: the wiring is read through its attributes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .wirings import Wiring


def wiring_from_ncps(ncps_wiring) -> Wiring:
    """Copy an ``ncps.wirings`` wiring (built) into ours: matrices, roles and layers, nothing redrawn."""
    if ncps_wiring.input_dim is None:
        raise ValueError("the ncps wiring is not built yet (its input size is unknown); build it or pass the module "
                         "that uses it")
    units = int(ncps_wiring.units)
    config = {
        "kind": type(ncps_wiring).__name__,
        "params": _ncps_wiring_params(ncps_wiring),
        "units": units,
        "input_dim": int(ncps_wiring.input_dim),
        "output_dim": int(ncps_wiring.output_dim),
        "roles": [ncps_wiring.get_type_of_neuron(i) for i in range(units)],
        "layers": [list(map(int, ncps_wiring.get_neurons_of_layer(i))) for i in range(ncps_wiring.num_layers)],
        "adjacency_matrix": np.asarray(ncps_wiring.adjacency_matrix).tolist(),
        "sensory_adjacency_matrix": np.asarray(ncps_wiring.sensory_adjacency_matrix).tolist(),
    }
    return Wiring.from_config(config)


def _ncps_wiring_params(ncps_wiring) -> dict[str, Any]:
    """The generator's recipe, for the record (the matrices are what count)."""
    if type(ncps_wiring).__name__ == "NCP":
        # NCP.get_config() in ncps 1.0.1 reseeds the wiring's generator; read the fields instead.
        names = ("inter_neurons", "command_neurons", "motor_neurons", "sensory_fanout", "inter_fanout",
                 "recurrent_command_synapses", "motor_fanin")
        attributes = ("_num_inter_neurons", "_num_command_neurons", "_num_motor_neurons", "_sensory_fanout",
                      "_inter_fanout", "_recurrent_command_synapses", "_motor_fanin")
        return {name: int(getattr(ncps_wiring, attr)) for name, attr in zip(names, attributes)
                if hasattr(ncps_wiring, attr)}
    try:
        params = ncps_wiring.get_config()
    except Exception:  # a recipe is optional; a custom wiring may not have one
        return {}
    return {k: v for k, v in params.items() if isinstance(v, (int, float, bool, str))}
