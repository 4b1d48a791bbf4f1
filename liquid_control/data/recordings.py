"""A recording's camera frames at the model's input and its commands, streamed once and cached.

``read_recording(bag, task)`` streams a rosbag2 bag (MCAP or sqlite3, split or not) once: camera
messages (``Image`` or ``CompressedImage``) are decoded and preprocessed to the model's input in
worker processes (``frame_decoding``) and appended to a file on disk, so memory does not grow with
the recording's length; the command topics' twists are kept whole (six fields and both stamps),
so another choice of outputs or pairing needs no second pass. The folder is a cache keyed by the
bag's content, the camera topic and the pixel settings: a second training decodes nothing.
Frames that cannot be decoded are counted by reason, never fatal.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from liquid_control.data.bags import BagError, BagReader
from liquid_control.data.images import PreprocessSpec

CACHE_VERSION = 1  # bump when what a cache entry holds changes
CHUNK = 32  # camera messages per unit of work handed to a decoding process
TWIST_COLUMNS = ("linear.x", "linear.y", "linear.z", "angular.x", "angular.y", "angular.z")
PIXEL_SETTINGS = ("input_encoding", "crop", "size", "interpolation")  # what the cached pixels depend on


@dataclass
class CommandStream:
    """Every message of one command topic: stamps in ns (header 0 where it has none) and the twist."""

    msgtype: str
    header_ns: np.ndarray  # (M,) int64
    receive_ns: np.ndarray  # (M,) int64, the bag's timestamps
    twist: np.ndarray  # (M, 6) float32, TWIST_COLUMNS


@dataclass
class Recording:
    path: str
    camera_topic: str
    camera_type: str
    frames: np.ndarray  # (N, H, W, C) uint8 memory-mapped: the decoded frames in the bag's order
    frame_header_ns: np.ndarray  # (N,) int64
    frame_receive_ns: np.ndarray  # (N,) int64
    commands: dict[str, CommandStream]
    camera_messages: int  # on the camera topic, decoded or not
    undecodable: dict[str, int] = field(default_factory=dict)  # reason -> frames
    from_cache: bool = False


def cache_root() -> Path:
    """Where recordings are cached: $LIQUID_CONTROL_CACHE, else $XDG_CACHE_HOME/liquid_control, else ~/.cache/..."""
    if os.environ.get("LIQUID_CONTROL_CACHE"):
        return Path(os.environ["LIQUID_CONTROL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "liquid_control" / "recordings"


def _file_digest(path: Path, window: int = 1 << 20) -> str:
    """A content digest of a (possibly large) file: its size and its first and last MiB."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(window))
        if size > window:
            handle.seek(max(window, size - window))
            digest.update(handle.read(window))
    return digest.hexdigest()


def recording_key(bag: Path, camera_topic: str, command_topics: list[str], spec: PreprocessSpec) -> str:
    files = sorted(p for p in Path(bag).iterdir() if p.is_file()) if Path(bag).is_dir() else [Path(bag)]
    identity = {"version": CACHE_VERSION, "camera": camera_topic, "commands": sorted(command_topics),
                "pixels": {name: spec.to_dict()[name] for name in PIXEL_SETTINGS},
                "files": [[p.name, _file_digest(p)] for p in files]}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


IMAGE_TYPES = ("/Image", "/CompressedImage")  # endings of the message types a camera topic may carry
TWIST_TYPES = ("/Twist", "/TwistStamped")


def topics_of_type(bag: BagReader, endings: tuple[str, ...]) -> list[str]:
    """The bag's topics whose message type ends in one of ``endings`` (IMAGE_TYPES, TWIST_TYPES)."""
    return [name for name, info in bag.topics.items() if info.msgtype.endswith(endings)]


def _check_topics(bag: BagReader, task) -> tuple[str, list[str]]:
    """The camera topic's type and the command topics to read, or a BagError that says what to pass."""
    camera = task.camera.topic
    images = topics_of_type(bag, IMAGE_TYPES)
    if camera not in bag.topics:
        found = ", ".join(images) or "none"
        raise BagError(f"{bag.path}: no camera topic {camera} (its image topics: {found}); pass --camera-topic or set "
                       f"camera.topic in the task")
    camera_type = bag.topics[camera].msgtype
    if camera_type not in ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"):
        raise BagError(f"{bag.path}: {camera} carries {camera_type}, not camera images (its image topics: "
                       f"{', '.join(images) or 'none'})")
    twists = topics_of_type(bag, TWIST_TYPES)
    command = task.command.topic
    if command not in bag.topics:
        raise BagError(f"{bag.path}: no command topic {command} (its Twist/TwistStamped topics: "
                       f"{', '.join(twists) or 'none'}); pass --command-topic or set command.topic in the task")
    if command not in twists:
        raise BagError(f"{bag.path}: {command} carries {bag.topics[command].msgtype}, not Twist or TwistStamped")
    topics = [command]
    if task.command.expert_topic and task.command.expert_topic in twists:
        topics.append(task.command.expert_topic)
    return camera_type, topics


def read_recording(bag_path, task, cache: Path | None | bool = True, jobs: int | None = None,
                   progress: bool = True) -> Recording:
    """The recording ``bag_path`` for ``task`` (its camera, command topics and pixel settings).

    ``cache``: True for ``cache_root()``, a folder, or False/None for a temporary folder removed
    at exit (frames still go to disk, not memory). ``jobs``: decoding processes (default: one
    per core; 1 decodes in this process)."""
    bag_path = Path(bag_path)
    spec = PreprocessSpec.from_dict({**task.preprocessing})
    with BagReader(bag_path) as bag:
        camera_type, command_topics = _check_topics(bag, task)
        key = recording_key(bag_path, task.camera.topic, command_topics, spec)
        root = cache_root() if cache is True else Path(cache) if cache else None
        if root is not None and (root / key / "meta.json").is_file():
            return _load(root / key, bag_path, from_cache=True)
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="liquid_control_frames_"))
            atexit.register(shutil.rmtree, root, True)
        partial = root / f"{key}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        try:
            _stream(bag, task.camera.topic, camera_type, command_topics, spec, partial, jobs, progress)
            if (root / key).exists():  # another process cached the same recording meanwhile
                shutil.rmtree(partial)
            else:
                os.replace(partial, root / key)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    return _load(root / key, bag_path, from_cache=False)


def _decode_pool(jobs: int | None):
    jobs = jobs or os.cpu_count() or 1
    if jobs <= 1:
        return None, 1
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    # spawn: nothing half-made (torch's threads, open bag handles) is inherited by the workers.
    return ProcessPoolExecutor(jobs, mp_context=get_context("spawn")), jobs


def _stream(bag: BagReader, camera: str, camera_type: str, command_topics: list[str], spec: PreprocessSpec,
            folder: Path, jobs: int | None, progress: bool) -> None:
    from tqdm import tqdm

    from liquid_control.data.frame_decoding import decode_chunk

    settings = spec.to_dict()
    shape = (*spec.size, spec.channels)
    header_ns, receive_ns, undecodable = [], [], {}
    commands = {topic: ([], [], []) for topic in command_topics}
    pool, workers = _decode_pool(jobs)
    pending: deque = deque()
    bar = tqdm(total=bag.topics[camera].count, desc=f"decoding {bag.path.name}", unit="frame", disable=not progress)
    with open(folder / "frames.u8", "wb") as out:

        def collect(decoded, stamps) -> None:
            for frame, stamp in zip(decoded, stamps):
                if frame.pixels is None or frame.pixels.shape != shape:
                    reason = frame.reason or "wrong_shape"
                    undecodable[reason] = undecodable.get(reason, 0) + 1
                    continue
                out.write(frame.pixels.tobytes())
                header_ns.append(frame.header_ns)
                receive_ns.append(stamp)
            bar.update(len(stamps))

        def submit(chunk, stamps) -> None:
            if pool is None:
                collect(decode_chunk(chunk, settings), stamps)
                return
            pending.append((pool.submit(decode_chunk, chunk, settings), stamps))
            while len(pending) > 2 * workers:  # bounded: memory stays flat however long the bag
                future, done_stamps = pending.popleft()
                collect(future.result(), done_stamps)

        try:
            chunk, stamps = [], []
            for message in bag.messages([camera, *command_topics]):
                if message.topic == camera:
                    chunk.append((message.raw, camera_type))
                    stamps.append(message.timestamp_ns)
                    if len(chunk) == CHUNK:
                        submit(chunk, stamps)
                        chunk, stamps = [], []
                    continue
                twist_message = bag.deserialize(message.raw, message.msgtype)
                twist = getattr(twist_message, "twist", twist_message)
                header = getattr(twist_message, "header", None)
                stream = commands[message.topic]
                stream[0].append(header.stamp.sec * 10**9 + header.stamp.nanosec if header is not None else 0)
                stream[1].append(message.timestamp_ns)
                stream[2].append([twist.linear.x, twist.linear.y, twist.linear.z,
                                  twist.angular.x, twist.angular.y, twist.angular.z])
            if chunk:
                submit(chunk, stamps)
            while pending:
                future, done_stamps = pending.popleft()
                collect(future.result(), done_stamps)
        finally:
            bar.close()
            if pool is not None:
                pool.shutdown(cancel_futures=True)
    arrays = {"frame_header_ns": np.asarray(header_ns, np.int64), "frame_receive_ns": np.asarray(receive_ns, np.int64)}
    for number, (topic, (headers, receives, twists)) in enumerate(commands.items()):
        arrays[f"command{number}_header_ns"] = np.asarray(headers, np.int64)
        arrays[f"command{number}_receive_ns"] = np.asarray(receives, np.int64)
        arrays[f"command{number}_twist"] = np.asarray(twists, np.float32).reshape(-1, 6)
    np.savez(folder / "arrays.npz", **arrays)
    meta = {"path": str(bag.path), "camera_topic": camera, "camera_type": camera_type, "shape": list(shape),
            "frames": len(header_ns), "camera_messages": bag.topics[camera].count, "undecodable": undecodable,
            "commands": [[topic, bag.topics[topic].msgtype] for topic in commands]}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))


def _load(folder: Path, bag_path: Path, from_cache: bool) -> Recording:
    meta = json.loads((folder / "meta.json").read_text())
    shape = (meta["frames"], *meta["shape"])
    # Copy-on-write: writable for torch.from_numpy, pages read from disk as needed, the file never changed.
    frames = (np.memmap(folder / "frames.u8", np.uint8, mode="c", shape=shape) if meta["frames"]
              else np.zeros(shape, np.uint8))
    with np.load(folder / "arrays.npz") as arrays:
        commands = {topic: CommandStream(msgtype, arrays[f"command{n}_header_ns"], arrays[f"command{n}_receive_ns"],
                                         arrays[f"command{n}_twist"])
                    for n, (topic, msgtype) in enumerate(meta["commands"])}
        return Recording(str(bag_path), meta["camera_topic"], meta["camera_type"], frames, arrays["frame_header_ns"],
                         arrays["frame_receive_ns"], commands, meta["camera_messages"], meta["undecodable"], from_cache)
