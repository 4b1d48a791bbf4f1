"""``python -m liquid_control <verb>``: the package's command line.

Verbs grow with the package; each is a thin shell over library code.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import yaml


def _parse_assignments(pairs: Sequence[str], what: str) -> dict[str, Any]:
    """``key=value`` pairs with YAML values (so 3 is an int, 0.5 a float, true a bool, null None)."""
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: {what} {pair!r} is not of the form key=value")
        result[key.strip()] = yaml.safe_load(value)
    return result


def _parse_wiring(text: str):
    """``KIND:key=value,key=value`` -> a wiring, e.g. ``AutoNCP:units=19,output_size=1``."""
    from .nets import make_wiring

    kind, _, params = text.partition(":")
    settings = _parse_assignments([p for p in params.split(",") if p], "wiring parameter")
    try:
        return make_wiring(kind, **settings)
    except TypeError as exc:
        raise SystemExit(f"error: bad parameters for wiring {kind}: {exc}") from exc


def cmd_demo(args: argparse.Namespace) -> int:
    print(
        "The closed-loop demo (MuJoCo lane world -> perception -> liquid controller -> car, with the shipped\n"
        "NCP-19 model) is not built yet: the simulator, the ROS nodes and the trained model are still to come.\n"
        "What works today: the liquid-network core. Try\n"
        "  python -m liquid_control wiring AutoNCP:units=19,output_size=1 --inputs 32 --out wiring.png\n"
        "and the test suite (make test).",
        file=sys.stderr,
    )
    return 2


def cmd_wiring(args: argparse.Namespace) -> int:
    from .nets.plot import plot_wiring

    if args.model:
        from .nets import load_model

        module, _ = load_model(args.model)
        wiring = module.wiring
    else:
        wiring = _parse_wiring(args.spec)
        if args.inputs is None:
            raise SystemExit("error: --inputs is required to build a wiring (the number of input features)")
        wiring.build(args.inputs)
    summary = {
        "kind": wiring.kind,
        "params": wiring.params,
        "units": wiring.units,
        "inputs": wiring.input_dim,
        "outputs": wiring.output_dim,
        "neurons": wiring.neuron_counts(),
        "layers": [len(layer) for layer in wiring.layers],
        "synapses": wiring.synapse_count,
        "sensory_synapses": wiring.sensory_synapse_count,
    }
    if args.out:
        plot_wiring(wiring, args.out)
        summary["picture"] = str(args.out)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .nets import load_model

    module, card = load_model(args.model)
    info = {
        "name": card.get("name"),
        "description": card.get("description"),
        "architecture": {k: v for k, v in card["architecture"].items() if k != "units"},
        "state_size": module.state_size,
        "output_size": module.output_size,
        "parameters": card["weights"].get("parameters"),
        "preprocessing": card.get("preprocessing"),
        "outputs": card.get("outputs"),
        "metrics": card.get("metrics"),
        "provenance": card.get("provenance"),
    }
    units = card["architecture"].get("units")
    info["architecture"]["wiring"] = units["wiring"]["kind"] if isinstance(units, dict) else f"dense, {units} units"
    print(json.dumps(info, indent=2, default=str))
    return 0


def cmd_import_ncps(args: argparse.Namespace) -> int:
    import torch

    from .nets import from_ncps_state_dict, save_model

    source = Path(args.state_dict)
    if not source.is_file():
        raise SystemExit(f"error: no such file: {source}")
    if source.suffix == ".safetensors":
        from safetensors.torch import load_file

        state_dict = load_file(str(source))
    else:
        # weights_only refuses pickled code: a state dict of tensors loads, an arbitrary object does not.
        state_dict = torch.load(source, map_location="cpu", weights_only=True)
        if isinstance(state_dict, dict) and "state_dict" in state_dict and isinstance(state_dict["state_dict"], dict):
            state_dict = state_dict["state_dict"]
    if args.wiring and args.units:
        raise SystemExit("error: give either --units (dense) or --wiring, not both")
    if not (args.wiring or args.units):
        raise SystemExit("error: give --units N (dense) or --wiring KIND:params")
    units = _parse_wiring(args.wiring) if args.wiring else args.units
    settings = _parse_assignments(args.setting, "setting")
    module = from_ncps_state_dict(state_dict, args.kind, args.input_size, units, **settings)
    out = save_model(
        module,
        args.out,
        name=args.name,
        description=args.description or f"imported from the ncps state dict {source.name}",
        provenance={"source": "ncps", "imported_from": source.name},
    )
    print(f"wrote {out} ({sum(p.numel() for p in module.parameters())} parameters)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m liquid_control",
        description="Drive robots with liquid neural networks (LTC, CfC, NCP) from ROS 2.",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True

    demo = verbs.add_parser("demo", help="run the closed-loop lane-keeping demo (not built yet)")
    demo.set_defaults(func=cmd_demo)

    wiring = verbs.add_parser("wiring", help="summarise and draw a wiring (a generator spec or a model's)")
    wiring.add_argument("spec", nargs="?", default="AutoNCP:units=19,output_size=1",
                        help="KIND:key=value,... with KIND one of AutoNCP, NCP, FullyConnected, Random (default: %(default)s)")
    wiring.add_argument("--inputs", type=int, help="number of input features (sensory neurons)")
    wiring.add_argument("--model", help="draw the wiring of this model folder instead")
    wiring.add_argument("--out", help="write a PNG picture here")
    wiring.set_defaults(func=cmd_wiring)

    info = verbs.add_parser("info", help="describe a model folder (card + weights)")
    info.add_argument("model", help="model folder (card.yaml + weights.safetensors)")
    info.set_defaults(func=cmd_info)

    imp = verbs.add_parser("import-ncps", help="turn an ncps state dict (.pt or .safetensors) into a model folder")
    imp.add_argument("state_dict", help="file saved with torch.save(module.state_dict()) or safetensors")
    imp.add_argument("--kind", choices=("cfc", "ltc"), required=True, help="the ncps module class it came from")
    imp.add_argument("--input-size", type=int, required=True, help="input_size given to the ncps constructor")
    imp.add_argument("--units", type=int, help="units, for a dense (unwired) network")
    imp.add_argument("--wiring", help="the wiring, KIND:key=value,... (masks are taken from the state dict)")
    imp.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                     help="other constructor arguments, e.g. mode=pure, mixed_memory=true, ode_unfolds=6")
    imp.add_argument("--out", required=True, help="model folder to write")
    imp.add_argument("--name", help="model name for the card")
    imp.add_argument("--description", help="description for the card")
    imp.set_defaults(func=cmd_import_ncps)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
