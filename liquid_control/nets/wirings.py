"""Wirings: which neuron connects to which, and with which sign.

A wiring is plain data: an ``units x units`` adjacency matrix between the network's neurons, an
``input_dim x units`` sensory adjacency matrix from the input features, a role per neuron
(``motor``, ``command``, ``inter``) and the layers the wired CfC computes one after another.
Entries are +1 (excitatory synapse), -1 (inhibitory) or 0 (no synapse).

The generators (``FullyConnected``, ``Random``, ``NCP``, ``AutoNCP``) draw their synapses with
the same random calls in the same order as ``ncps.wirings`` 1.0.1, so the same seed gives the
same wiring as the reference library. ``Wiring.from_config`` restores a wiring from its explicit
matrices without drawing anything, which is how saved models get theirs back.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

ROLES = ("motor", "command", "inter")


class Wiring:
    """A built or not-yet-built wiring. Generators subclass it; ``from_config`` returns a plain one."""

    kind = "Wiring"

    def __init__(self, units: int, output_dim: int | None = None):
        units = _positive_int(units, "units")
        output_dim = units if output_dim is None else _positive_int(output_dim, "output_dim")
        if output_dim > units:
            raise ValueError(f"output_dim={output_dim} exceeds units={units}: motor neurons are a subset of the units")
        self.units = units
        self.output_dim = output_dim
        self.input_dim: int | None = None
        self.adjacency_matrix = np.zeros((units, units), dtype=np.int32)
        self.sensory_adjacency_matrix: np.ndarray | None = None
        # Neurons 0..output_dim-1 are the motor (output) neurons in every wiring.
        self.roles: list[str] = ["motor" if i < output_dim else "inter" for i in range(units)]
        self.layers: list[list[int]] = [list(range(units))]
        self.params: dict[str, Any] = {"units": units, "output_dim": output_dim}

    # ----------------------------------------------------------------- structure
    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def get_neurons_of_layer(self, layer_id: int) -> list[int]:
        if not 0 <= layer_id < len(self.layers):
            raise ValueError(f"layer {layer_id} does not exist: this wiring has {len(self.layers)} layer(s)")
        return list(self.layers[layer_id])

    def get_type_of_neuron(self, neuron_id: int) -> str:
        return self.roles[neuron_id]

    def is_built(self) -> bool:
        return self.input_dim is not None

    def build(self, input_dim: int) -> None:
        """Fix the number of input features and draw the sensory synapses (once)."""
        input_dim = _positive_int(input_dim, "input_dim")
        if self.input_dim is not None:
            if self.input_dim != input_dim:
                raise ValueError(
                    f"this wiring was built for {self.input_dim} input features but is now used with "
                    f"{input_dim}; create a new wiring for a different input size"
                )
            return
        self.input_dim = input_dim
        self.sensory_adjacency_matrix = np.zeros((input_dim, self.units), dtype=np.int32)
        self._build_sensory()

    def _build_sensory(self) -> None:
        """Draw the sensory synapses; the plain wiring has none until they are added by hand."""

    def add_synapse(self, src: int, dest: int, polarity: int) -> None:
        _check_index(src, self.units, "source neuron")
        _check_index(dest, self.units, "destination neuron")
        self.adjacency_matrix[src, dest] = _check_polarity(polarity)

    def add_sensory_synapse(self, src: int, dest: int, polarity: int) -> None:
        if self.sensory_adjacency_matrix is None:
            raise ValueError("cannot add a sensory synapse before build(input_dim) fixed the input size")
        _check_index(src, self.input_dim, "input feature")
        _check_index(dest, self.units, "destination neuron")
        self.sensory_adjacency_matrix[src, dest] = _check_polarity(polarity)

    @property
    def synapse_count(self) -> int:
        return int(np.abs(self.adjacency_matrix).sum())

    @property
    def sensory_synapse_count(self) -> int:
        if self.sensory_adjacency_matrix is None:
            return 0
        return int(np.abs(self.sensory_adjacency_matrix).sum())

    def erev_initializer(self) -> np.ndarray:
        return self.adjacency_matrix.copy()

    def sensory_erev_initializer(self) -> np.ndarray:
        self._require_built()
        return self.sensory_adjacency_matrix.copy()

    def neuron_counts(self) -> dict[str, int]:
        return {role: self.roles.count(role) for role in ROLES if role in self.roles}

    def _require_built(self) -> None:
        if not self.is_built():
            raise ValueError("this wiring is not built yet: call build(input_dim) or pass in_features to the cell")

    # ----------------------------------------------------------------- serialisation
    def to_config(self) -> dict[str, Any]:
        """Everything needed to restore this exact wiring (explicit matrices) plus its recipe."""
        self._require_built()
        return {
            "kind": self.kind,
            "params": dict(self.params),
            "units": self.units,
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "roles": list(self.roles),
            "layers": [list(map(int, layer)) for layer in self.layers],
            "adjacency_matrix": self.adjacency_matrix.tolist(),
            "sensory_adjacency_matrix": self.sensory_adjacency_matrix.tolist(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Wiring":
        """Restore a wiring from ``to_config()`` output without regenerating anything."""
        try:
            units = int(config["units"])
            wiring = Wiring(units, int(config["output_dim"]))
            adjacency = np.asarray(config["adjacency_matrix"], dtype=np.int32)
            sensory = np.asarray(config["sensory_adjacency_matrix"], dtype=np.int32)
            roles = [str(r) for r in config["roles"]]
            layers = [[int(i) for i in layer] for layer in config["layers"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"wiring config is incomplete or malformed ({exc!r}); expected the output of "
                             "Wiring.to_config()") from exc
        if adjacency.shape != (units, units):
            raise ValueError(f"wiring config: adjacency_matrix has shape {adjacency.shape}, expected {(units, units)}")
        if sensory.ndim != 2 or sensory.shape[1] != units or sensory.shape[0] != int(config["input_dim"]):
            raise ValueError(f"wiring config: sensory_adjacency_matrix has shape {sensory.shape}, expected "
                             f"({config['input_dim']}, {units})")
        if not np.isin(adjacency, (-1, 0, 1)).all() or not np.isin(sensory, (-1, 0, 1)).all():
            raise ValueError("wiring config: adjacency entries must be -1, 0 or +1")
        if len(roles) != units or any(r not in ROLES for r in roles):
            raise ValueError(f"wiring config: roles must list one of {ROLES} for each of the {units} neurons")
        if sorted(i for layer in layers for i in layer) != list(range(units)):
            raise ValueError("wiring config: layers must partition the neurons 0..units-1")
        wiring.kind = str(config.get("kind", "Wiring"))
        wiring.params = dict(config.get("params", {}))
        wiring.input_dim = sensory.shape[0]
        wiring.adjacency_matrix = adjacency
        wiring.sensory_adjacency_matrix = sensory
        wiring.roles = roles
        wiring.layers = layers
        return wiring

    def copy(self) -> "Wiring":
        return Wiring.from_config(self.to_config())

    def __repr__(self) -> str:
        built = f"input_dim={self.input_dim}" if self.is_built() else "not built"
        return f"{self.kind}(units={self.units}, output_dim={self.output_dim}, {built}, synapses={self.synapse_count})"


class FullyConnected(Wiring):
    """Every neuron connects to every neuron (optionally not to itself); a third of the synapses inhibitory on
    average."""

    kind = "FullyConnected"

    def __init__(self, units: int, output_dim: int | None = None, erev_init_seed: int = 1111,
                 self_connections: bool = True):
        super().__init__(units, output_dim)
        self.params.update(erev_init_seed=erev_init_seed, self_connections=bool(self_connections))
        self._rng = np.random.default_rng(erev_init_seed)
        for src in range(self.units):
            for dest in range(self.units):
                if src == dest and not self_connections:
                    continue
                self.add_synapse(src, dest, self._rng.choice([-1, 1, 1]))

    def _build_sensory(self) -> None:
        for src in range(self.input_dim):
            for dest in range(self.units):
                self.add_sensory_synapse(src, dest, self._rng.choice([-1, 1, 1]))


class Random(Wiring):
    """A random subset of all possible synapses, ``sparsity_level`` of them left out."""

    kind = "Random"

    def __init__(self, units: int, output_dim: int | None = None, sparsity_level: float = 0.0, random_seed: int = 1111):
        super().__init__(units, output_dim)
        if not 0.0 <= sparsity_level < 1.0:
            raise ValueError(f"sparsity_level must be in [0, 1), got {sparsity_level}")
        self.sparsity_level = float(sparsity_level)
        self.params.update(sparsity_level=self.sparsity_level, random_seed=random_seed)
        self._rng = np.random.default_rng(random_seed)
        pairs = [(src, dest) for src in range(units) for dest in range(units)]
        count = int(np.round(units * units * (1 - sparsity_level)))
        for src, dest in self._rng.choice(pairs, size=count, replace=False):
            self.add_synapse(src, dest, self._rng.choice([-1, 1, 1]))

    def _build_sensory(self) -> None:
        pairs = [(src, dest) for src in range(self.input_dim) for dest in range(self.units)]
        count = int(np.round(self.input_dim * self.units * (1 - self.sparsity_level)))
        for src, dest in self._rng.choice(pairs, size=count, replace=False):
            # ncps 1.0.1 draws the polarity of each sensory synapse twice and keeps the second
            # draw; we do the same so that a seed gives the reference library's wiring.
            self._rng.choice([-1, 1, 1])
            self.add_sensory_synapse(src, dest, self._rng.choice([-1, 1, 1]))


class NCP(Wiring):
    """A Neural Circuit Policy: sensory -> inter -> command (recurrent) -> motor, sparsely wired.

    Neuron ids run motor first, then command, then inter; the wired CfC computes the layers in
    the order inter, command, motor.
    """

    kind = "NCP"

    def __init__(
        self,
        inter_neurons: int,
        command_neurons: int,
        motor_neurons: int,
        sensory_fanout: int,
        inter_fanout: int,
        recurrent_command_synapses: int,
        motor_fanin: int,
        seed: int = 22222,
    ):
        inter_neurons = _positive_int(inter_neurons, "inter_neurons")
        command_neurons = _positive_int(command_neurons, "command_neurons")
        motor_neurons = _positive_int(motor_neurons, "motor_neurons")
        super().__init__(inter_neurons + command_neurons + motor_neurons, motor_neurons)
        if motor_fanin > command_neurons:
            raise ValueError(f"motor_fanin={motor_fanin} but there are only {command_neurons} command neurons")
        if sensory_fanout > inter_neurons:
            raise ValueError(f"sensory_fanout={sensory_fanout} but there are only {inter_neurons} inter neurons")
        if inter_fanout > command_neurons:
            raise ValueError(f"inter_fanout={inter_fanout} but there are only {command_neurons} command neurons")
        fans = (("sensory_fanout", sensory_fanout), ("inter_fanout", inter_fanout), ("motor_fanin", motor_fanin))
        for name, value in fans:
            _positive_int(value, name)
        if recurrent_command_synapses < 0:
            raise ValueError(f"recurrent_command_synapses must be >= 0, got {recurrent_command_synapses}")
        self.params = dict(
            inter_neurons=inter_neurons,
            command_neurons=command_neurons,
            motor_neurons=motor_neurons,
            sensory_fanout=int(sensory_fanout),
            inter_fanout=int(inter_fanout),
            recurrent_command_synapses=int(recurrent_command_synapses),
            motor_fanin=int(motor_fanin),
            seed=seed,
        )
        self._rng = np.random.RandomState(seed)
        self.motor_neurons = list(range(motor_neurons))
        self.command_neurons = list(range(motor_neurons, motor_neurons + command_neurons))
        self.inter_neurons = list(range(motor_neurons + command_neurons, self.units))
        self.roles = ["motor"] * motor_neurons + ["command"] * command_neurons + ["inter"] * inter_neurons
        self.layers = [self.inter_neurons, self.command_neurons, self.motor_neurons]
        self._sensory_fanout = int(sensory_fanout)
        self._inter_fanout = int(inter_fanout)
        self._recurrent_command_synapses = int(recurrent_command_synapses)
        self._motor_fanin = int(motor_fanin)

    def _build_sensory(self) -> None:
        # All synapses are drawn once the input size is known, in the reference library's order.
        self._connect_layers(list(range(self.input_dim)), self.inter_neurons, self._sensory_fanout, sensory=True)
        self._connect_layers(self.inter_neurons, self.command_neurons, self._inter_fanout, sensory=False)
        for _ in range(self._recurrent_command_synapses):
            src = self._rng.choice(self.command_neurons)
            dest = self._rng.choice(self.command_neurons)
            self.add_synapse(src, dest, self._rng.choice([-1, 1]))
        self._connect_motor_layer()

    def _connect_layers(self, sources, targets, fanout, sensory: bool) -> None:
        """Each source gets ``fanout`` distinct targets; targets nobody reached get a mean fan-in."""
        add = self.add_sensory_synapse if sensory else self.add_synapse
        unreached = list(targets)
        for src in sources:
            for dest in self._rng.choice(targets, size=fanout, replace=False):
                if dest in unreached:
                    unreached.remove(dest)
                add(src, dest, self._rng.choice([-1, 1]))
        # The reference clips this fan-in by the size of the *target* layer for inter->command
        # and by the source layer for sensory->inter; both keep it a valid sample size here.
        fanin = int(len(sources) * fanout / len(targets))
        fanin = int(np.clip(fanin, 1, len(sources) if sensory else len(targets)))
        for dest in unreached:
            for src in self._rng.choice(sources, size=fanin, replace=False):
                add(src, dest, self._rng.choice([-1, 1]))

    def _connect_motor_layer(self) -> None:
        unreached = list(self.command_neurons)
        for dest in self.motor_neurons:
            for src in self._rng.choice(self.command_neurons, size=self._motor_fanin, replace=False):
                if src in unreached:
                    unreached.remove(src)
                self.add_synapse(src, dest, self._rng.choice([-1, 1]))
        fanout = int(len(self.motor_neurons) * self._motor_fanin / len(self.command_neurons))
        fanout = int(np.clip(fanout, 1, len(self.motor_neurons)))
        for src in unreached:
            for dest in self._rng.choice(self.motor_neurons, size=fanout, replace=False):
                self.add_synapse(src, dest, self._rng.choice([-1, 1]))


class AutoNCP(NCP):
    """An NCP sized from the total neuron count and the output count (40% of the rest are command neurons)."""

    kind = "AutoNCP"

    def __init__(self, units: int, output_size: int, sparsity_level: float = 0.5, seed: int = 22222):
        units = _positive_int(units, "units")
        output_size = _positive_int(output_size, "output_size")
        if output_size >= units - 2:
            raise ValueError(f"output_size must be less than units - 2 (got units={units}, output_size={output_size})")
        if not 0.1 <= sparsity_level <= 1.0:
            raise ValueError(f"sparsity_level must be in [0.1, 1.0], got {sparsity_level}")
        density = 1.0 - sparsity_level
        inter_and_command = units - output_size
        command = max(int(0.4 * inter_and_command), 1)
        inter = inter_and_command - command
        super().__init__(
            inter,
            command,
            output_size,
            sensory_fanout=max(int(inter * density), 1),
            inter_fanout=max(int(command * density), 1),
            recurrent_command_synapses=max(int(command * density * 2), 1),
            motor_fanin=max(int(command * density), 1),
            seed=seed,
        )
        self.params = dict(units=units, output_size=output_size, sparsity_level=float(sparsity_level), seed=seed)


GENERATORS = {cls.kind: cls for cls in (FullyConnected, Random, NCP, AutoNCP)}


def make_wiring(kind: str, **params) -> Wiring:
    """Create a wiring by generator name, e.g. ``make_wiring("AutoNCP", units=19, output_size=1)``."""
    if kind not in GENERATORS:
        raise ValueError(f"unknown wiring kind {kind!r}; choose one of {sorted(GENERATORS)}")
    return GENERATORS[kind](**params)


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_index(index: int, size: int, what: str) -> None:
    if not 0 <= index < size:
        raise ValueError(f"{what} {index} is out of range: there are only {size}")


def _check_polarity(polarity) -> int:
    if polarity not in (-1, 1):
        raise ValueError(f"synapse polarity must be -1 or +1, got {polarity!r}")
    return int(polarity)


def layered_order(wiring: Wiring) -> Sequence[int]:
    """Neuron ids in the order the wired CfC keeps them in its state vector (layer by layer)."""
    return [i for layer in wiring.layers for i in layer]
