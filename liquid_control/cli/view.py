"""``view layout``: a Foxglove layout for a model's live view (Foxglove: Layouts -> Import from file).

The panels read the topics the package publishes (``liquid_control.view.channels``, the names the
ROS nodes use, and the controller's ``/diagnostics``): the camera, the attention overlay and the
wiring image; one plot line per neuron, labelled with the model's neuron names and coloured by role;
the command against its limits; the step time; the diagnostics; the world in 3D.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from liquid_control.view.channels import CAMERA, COMMAND, NEURON_NAMES, NEURONS, OVERLAY, SCENE, STEP, WIRING

DIAGNOSTICS = "/diagnostics"  # controller_node's DiagnosticArray (ROS only)
STEERING_COMMAND = ("linear.x", "angular.z")  # what a steering model's command moves
LIMIT_OF = {"linear": "max_linear", "angular": "max_angular"}  # the Step message's limit of each Twist part


def role_colour(role: str) -> str:
    """The colour of a role in the wiring image (view.wiring_image), as Foxglove's #rrggbb."""
    from liquid_control.view.wiring_image import ROLE_RGB

    return "#{:02x}{:02x}{:02x}".format(*ROLE_RGB.get(role, ROLE_RGB["hidden"]))


def _path(value: str, label: str | None = None, colour: str | None = None) -> dict:
    path = {"value": value, "enabled": True, "timestampMethod": "receiveTime"}
    if label:
        path["label"] = label
    if colour:
        path["color"] = colour
    return path


def _plot(title: str, paths: list[dict], legend: str = "floating") -> dict:
    return {"foxglovePanelTitle": title, "paths": paths, "showXAxisLabels": True, "showYAxisLabels": True,
            "showLegend": True, "legendDisplay": legend, "showPlotValuesInLegend": True, "isSynced": True,
            "xAxisVal": "timestamp", "sidebarDimension": 240, "followingViewWidth": 20}


def _image(title: str, topic: str) -> dict:
    return {"foxglovePanelTitle": title, "imageMode": {"imageTopic": topic}, "cameraState": {}}


def _split(direction: str, first, second, percent: float = 50) -> dict:
    return {"direction": direction, "first": first, "second": second, "splitPercentage": percent}


def command_fields(card: dict) -> tuple[str, ...]:
    """The Twist fields the model commands: a velocity model's outputs by name, else speed and turn rate."""
    outputs = card.get("outputs") or {}
    return tuple(outputs.get("names") or ()) if outputs.get("mode") == "velocity" else STEERING_COMMAND


def foxglove_layout(names, roles, card: dict, title: str) -> dict:
    """The layout of a model with these neuron ``names`` and ``roles`` and ``card`` (its command)."""
    neurons = [_path(f"{NEURONS}.data[{i}]", name, role_colour(role))
               for i, (name, role) in enumerate(zip(names, roles))]
    command = []
    for field in command_fields(card):
        command.append(_path(f"{COMMAND}.{field}", field))
        limit = LIMIT_OF[field.split(".")[0]]
        if all(p["value"] != f"{STEP}.{limit}" for p in command):
            command.append(_path(f"{STEP}.{limit}", f"limit {limit}", "#7f7f7f"))
    panels = {
        "Image!camera": _image("camera", CAMERA),
        "Image!attention": _image("attention (VisualBackProp on the frame)", OVERLAY),
        "Image!wiring": _image("wiring, filled with each neuron's value", WIRING),
        "Plot!neurons": _plot(f"neurons of {title} (colour: role)", neurons, "left"),
        "Plot!command": _plot("command and its limits", command),
        "Plot!step": _plot("step time", [_path(f"{STEP}.elapsed_s", "elapsed s"),
                                         _path(f"{STEP}.step_ms", "compute ms")]),
        "DiagnosticSummary!diagnostics": {"foxglovePanelTitle": "diagnostics", "topicToRender": DIAGNOSTICS,
                                          "pinnedIds": [], "hardwareIdFilter": "", "sortByLevel": True},
        "RawMessages!names": {"foxglovePanelTitle": "neuron names and roles", "topicPath": f"{NEURON_NAMES}.data",
                              "diffEnabled": False, "diffMethod": "custom", "diffTopicPath": "",
                              "showFullMessageForDiff": False},
        "3D!scene": {"foxglovePanelTitle": "world", "followTf": "world", "topics": {SCENE: {"visible": True}},
                     "layers": {"grid": {"layerId": "foxglove.Grid", "visible": True, "frameId": "world",
                                         "size": 20, "divisions": 20}},
                     "cameraState": {"distance": 25, "perspective": True, "phi": 50, "thetaOffset": 45,
                                     "target": [0, 0, 0], "targetOffset": [0, 0, 0],
                                     "targetOrientation": [0, 0, 0, 1], "fovy": 45, "near": 0.5, "far": 5000}},
    }
    images = _split("column", "Image!camera", _split("column", "Image!attention", "Image!wiring"), 33)
    plots = _split("column", "Plot!neurons", _split("row", "Plot!command", "Plot!step"), 60)
    side = _split("column", "3D!scene", _split("column", "DiagnosticSummary!diagnostics", "RawMessages!names"), 60)
    return {"configById": panels, "globalVariables": {}, "userNodes": {}, "playbackConfig": {"speed": 1},
            "layout": _split("row", images, _split("row", plots, side, 65), 25)}


def model_layout(model_path) -> dict:
    """The layout of the model folder ``model_path`` (its neuron names from ``view.neuron_layout``)."""
    from liquid_control.nets import load_model
    from liquid_control.view import neuron_layout

    policy, card = load_model(model_path)
    layout = neuron_layout(policy)
    return foxglove_layout(layout.names, layout.roles, card, Path(model_path).name)


def layout_topics(layout: dict) -> set[str]:
    """Every topic a layout's panels read."""
    topics = set()
    for config in layout["configById"].values():
        for path in config.get("paths", []):
            topics.add(path["value"].split(".")[0])
        topics.update(filter(None, (config.get("imageMode", {}).get("imageTopic"), config.get("topicToRender"))))
        topics.update(config.get("topics", {}))
        if "topicPath" in config:
            topics.add(config["topicPath"].split(".")[0])
    return topics


def layout_text(layout: dict) -> str:
    return json.dumps(layout, indent=2) + "\n"


def cmd_layout(args: argparse.Namespace) -> int:
    text = layout_text(model_layout(args.model))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(f"{args.out}: Foxglove -> Layouts -> Import from file")
    else:
        print(text, end="")
    return 0


def add_parser(verbs) -> None:
    view = verbs.add_parser("view", help="the live view's tools (docs/live_view.md)")
    tools = view.add_subparsers(dest="tool", metavar="TOOL")
    tools.required = True
    layout = tools.add_parser("layout", help="write a Foxglove layout for a model's live view (its neuron names, "
                                             "its command)")
    layout.add_argument("--model", required=True, help="model folder, e.g. models/ncp19_lane")
    layout.add_argument("--out", help="the layout file (default: print it)")
    layout.set_defaults(func=cmd_layout)
