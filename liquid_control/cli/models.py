"""The model-folder verbs: ``wiring`` (summarise and draw one), ``info``, ``import-ncps`` and ``export`` (ONNX)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from liquid_control.cli.arguments import parse_assignments


def parse_wiring(text: str):
    """``KIND:key=value,key=value`` -> a wiring, e.g. ``AutoNCP:units=19,output_size=1``."""
    from liquid_control.nets import make_wiring

    kind, _, params = text.partition(":")
    settings = parse_assignments([p for p in params.split(",") if p], "wiring parameter")
    try:
        return make_wiring(kind, **settings)
    except TypeError as exc:
        raise SystemExit(f"error: bad parameters for wiring {kind}: {exc}") from exc


def cmd_wiring(args: argparse.Namespace) -> int:
    from liquid_control.nets.plot import plot_wiring

    if args.model:
        from liquid_control.nets import load_model

        module, _ = load_model(args.model)
        wiring = module.wiring
    else:
        wiring = parse_wiring(args.spec)
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
    from liquid_control.nets import load_model

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

    from liquid_control.nets import from_ncps_state_dict, save_model

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
    units = parse_wiring(args.wiring) if args.wiring else args.units
    settings = parse_assignments(args.setting, "setting")
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


def cmd_export(args: argparse.Namespace) -> int:
    from liquid_control.nets import load_model
    from liquid_control.nets.model_file import _sha256, update_card
    from liquid_control.nets.onnx_export import check_onnx, export_onnx

    policy, card = load_model(args.model)
    if not hasattr(policy, "step"):
        raise SystemExit(f"error: {args.model} holds a {card['architecture'].get('kind')!r} network without a step "
                         "to export")
    camera = hasattr(policy, "image_shape")
    out = Path(args.out) if args.out else Path(args.model) / ("policy.onnx" if camera else "network.onnx")
    export_onnx(policy, out, opset=args.opset)
    parity = check_onnx(policy, out)
    exports = dict(card.get("exports") or {})
    if out.parent.resolve() == Path(args.model).resolve():
        signature = "(image[B,C,H,W], dt[B], state...)" if camera else "(x[B,F], dt[B], state...)"
        exports["onnx"] = {"file": out.name, "opset": args.opset, "sha256": _sha256(out),
                           "signature": signature + " -> (output[B,K], next_state...)",
                           "parity_vs_torch": parity}
        update_card(args.model, exports=exports)
    print(json.dumps({"onnx": str(out), **parity}))
    worst = max(parity["max_abs_output_error"], parity["max_abs_state_error"])
    if worst > 1e-4:
        print(f"error: the ONNX graph differs from the torch model by {worst:.2e}", file=sys.stderr)
        return 1
    return 0


def add_wiring_parser(verbs) -> None:
    wiring = verbs.add_parser("wiring", help="summarise and draw a wiring (a generator spec or a model's)")
    wiring.add_argument("spec", nargs="?", default="AutoNCP:units=19,output_size=1",
                        help="KIND:key=value,... with KIND one of AutoNCP, NCP, FullyConnected, Random "
                             "(default: %(default)s)")
    wiring.add_argument("--inputs", type=int, help="number of input features (sensory neurons)")
    wiring.add_argument("--model", help="draw the wiring of this model folder instead")
    wiring.add_argument("--out", help="write a PNG picture here")
    wiring.set_defaults(func=cmd_wiring)


def add_info_parser(verbs) -> None:
    info = verbs.add_parser("info", help="describe a model folder (card + weights)")
    info.add_argument("model", help="model folder (card.yaml + weights.safetensors)")
    info.set_defaults(func=cmd_info)


def add_import_ncps_parser(verbs) -> None:
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


def add_export_parser(verbs) -> None:
    exp = verbs.add_parser("export", help="export a policy's control step to ONNX and check it against torch")
    exp.add_argument("--model", required=True, help="model folder")
    exp.add_argument("--out", help="ONNX file (default: MODEL/policy.onnx, recorded in the card)")
    exp.add_argument("--opset", type=int, default=17)
    exp.set_defaults(func=cmd_export)
