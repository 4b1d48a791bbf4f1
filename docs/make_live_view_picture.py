"""The README's picture of the live view (docs/images/live_view.png), made by the package from an MCAP
file the view wrote: a frame of the attention overlay beside every neuron's trace over time, each
coloured by its role, as the Foxglove layout (config/foxglove/lane_keeping.json) shows them.

    python docs/make_live_view_picture.py                 # drive the shipped lane model with --mcap, then draw
    python docs/make_live_view_picture.py --mcap FILE     # draw from a file the view wrote
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

from liquid_control.view.channels import NEURON_NAMES, NEURONS, OVERLAY  # noqa: E402
from liquid_control.view.decoding import message_class
from liquid_control.view.wiring_image import ROLE_RGB  # noqa: E402


def drive_to_mcap(path: Path, model: Path, distance_m: float, seed: int) -> None:
    subprocess.run([sys.executable, "-m", "liquid_control", "drive", "--driver", "model", "--model", str(model),
                    "--seed", str(seed), "--distance", str(distance_m), "--mcap", str(path), "--json"],
                   check=True, cwd=REPO, stdout=subprocess.DEVNULL)


def read_view(path: Path) -> tuple[list, list, dict]:
    """The overlays [(s, pixels)], the neuron values [(s, values)] and the names message's content."""
    from mcap.reader import make_reader

    overlays, neurons, names = [], [], {}
    with open(path, "rb") as stream:
        for schema, channel, message in make_reader(stream).iter_messages(topics=[OVERLAY, NEURONS, NEURON_NAMES]):
            seconds = message.log_time * 1e-9
            if channel.topic == OVERLAY:
                image = message_class(schema.name, bytes(schema.data)).FromString(message.data)
                pixels = np.frombuffer(image.data, np.uint8).reshape(image.height, image.step)
                overlays.append((seconds, pixels[:, :image.width * 3].reshape(image.height, image.width, 3)))
            elif channel.topic == NEURONS:
                neurons.append((seconds, json.loads(message.data)["data"]))
            else:
                names = json.loads(json.loads(message.data)["data"])
    return overlays, neurons, names


def draw(overlays: list, neurons: list, names: dict, out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds, frame = overlays[(2 * len(overlays)) // 3]
    times = np.array([t for t, _ in neurons])
    values = np.array([v for _, v in neurons], dtype=np.float32)
    roles = names.get("roles") or ["hidden"] * values.shape[1]
    figure, (image_axes, trace_axes) = plt.subplots(1, 2, figsize=(11, 3.4), width_ratios=(1, 1.6))
    image_axes.imshow(frame)
    image_axes.set_title(f"attention (VisualBackProp) at {seconds:.1f} s")
    image_axes.axis("off")
    shown = set()
    for index, role in enumerate(roles):
        colour = np.array(ROLE_RGB.get(role, ROLE_RGB["hidden"])) / 255
        trace_axes.plot(times, values[:, index], color=colour, linewidth=0.9, alpha=0.85,
                        label=None if role in shown else role)
        shown.add(role)
    trace_axes.axvline(seconds, color="0.3", linestyle=":", linewidth=1)
    trace_axes.set_xlabel("simulation time, s")
    trace_axes.set_ylabel("neuron state")
    trace_axes.set_title(f"{values.shape[1]} neurons ({names.get('sensory_inputs', '?')} sensory inputs not shown)")
    trace_axes.legend(loc="upper right", fontsize=8, ncol=len(shown))
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=90)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mcap", type=Path, help="a file the view wrote (default: drive and write one)")
    parser.add_argument("--model", type=Path, default=REPO / "models" / "ncp19_lane")
    parser.add_argument("--distance", type=float, default=60.0, help="metres to drive (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1000, help="held-out track (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images" / "live_view.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = args.mcap
        if path is None:
            path = Path(folder) / "view.mcap"
            drive_to_mcap(path, args.model, args.distance, args.seed)
        overlays, neurons, names = read_view(path)
    if not overlays or not neurons:
        raise SystemExit(f"{path}: no {OVERLAY} or {NEURONS} messages")
    title = (f"the live view of {args.mcap.name}" if args.mcap else
             f"{args.model.name} driving held-out track {args.seed}: the live view's MCAP (drive --mcap)")
    draw(overlays, neurons, names, args.out, title)
    print(f"{args.out}: {args.out.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
