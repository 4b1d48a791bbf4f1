"""Argument helpers the verbs share: ``key=value`` settings and seed lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import yaml

REPO_MODELS = Path(__file__).resolve().parents[2] / "models"  # the shipped models


def parse_assignments(pairs: Sequence[str], what: str) -> dict[str, Any]:
    """``key=value`` pairs with YAML values (so 3 is an int, 0.5 a float, true a bool, null None)."""
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: {what} {pair!r} is not of the form key=value")
        result[key.strip()] = yaml.safe_load(value)
    return result


def seed_list(text: str) -> list[int]:
    """'0-23' or '0,3,5' or '1000-1004,7' -> a list of ints."""
    seeds: list[int] = []
    for part in text.split(","):
        low, sep, high = part.partition("-")
        try:
            seeds.extend(range(int(low), int(high) + 1) if sep else [int(low)])
        except ValueError:
            raise SystemExit(f"error: bad seed list {text!r}; write e.g. 0-23 or 0,3,5") from None
    return seeds


def value_range(text: str) -> tuple[float, float]:
    """'5,20' or '30' -> (low, high)."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise SystemExit(f"error: bad range {text!r}; write LOW,HIGH or one number") from None
    if len(values) not in (1, 2):
        raise SystemExit(f"error: bad range {text!r}; write LOW,HIGH or one number")
    return values[0], values[-1]


def add_view_options(parser) -> None:
    """``--live`` and ``--mcap``: the live view of the network (``liquid_control.view``), and its rates."""
    view = parser.add_argument_group("live view (Foxglove; docs/live_view.md)")
    view.add_argument("--live", metavar="[HOST:]PORT",
                      help="serve the view to Foxglove over WebSocket (Open connection: ws://HOST:PORT); the host "
                           "defaults to 127.0.0.1, 0.0.0.0 serves other machines, port 0 picks a free one")
    view.add_argument("--live-wait", type=float, default=0.0, metavar="SECONDS",
                      help="with --live, wait up to this long for a viewer to subscribe before starting")
    view.add_argument("--mcap", metavar="FILE.mcap", help="write the view to an MCAP file Foxglove opens")
    view.add_argument("--view-overlay-hz", type=float, default=2.0,
                      help="attention overlay rate, simulation time (default: %(default)s)")
    view.add_argument("--view-wiring-hz", type=float, default=2.0,
                      help="wiring image rate (default: %(default)s)")
    view.add_argument("--view-scene-hz", type=float, default=5.0, help="world scene rate (default: %(default)s)")
    view.add_argument("--view-camera-hz", type=float, default=0.0,
                      help="camera image rate (default: every frame)")


def open_view(args):
    """The ``LiveView`` the options ask for (announced on stderr), or None without --live and --mcap."""
    if not (getattr(args, "live", None) or getattr(args, "mcap", None)):
        return None
    from liquid_control.view.publisher import ViewRates
    from liquid_control.view.session import LiveView

    rates = ViewRates(camera_hz=args.view_camera_hz, overlay_hz=args.view_overlay_hz, wiring_hz=args.view_wiring_hz,
                      scene_hz=args.view_scene_hz)
    try:
        view = LiveView(args.live, args.mcap, rates, args.live_wait)
    except (ValueError, RuntimeError, OSError) as error:
        raise SystemExit(f"error: the live view: {error}") from None
    view.announce()
    return view
