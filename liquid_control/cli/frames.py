"""Saving what a drive or flight shows: camera frames as PNGs and a video, and the files a report names."""

from __future__ import annotations

from pathlib import Path


def print_files(report: dict, keys: tuple[str, ...]) -> None:
    for key in keys:
        if key in report:
            print(f"  {key.replace('_', ' ')}: {report[key]}")


class FrameSink:
    """Saves camera frames as PNGs (every Nth) and/or an MP4 video while driving."""

    def __init__(self, folder: str | None, every: int, video: str | None, fps: float):
        self.folder = Path(folder) if folder else None
        self.every = max(1, every)
        self.video_path = video
        self.count = 0
        self.saved = 0
        self._video = None
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)
        if video:
            import imageio.v2 as imageio

            self._video = imageio.get_writer(video, fps=fps, macro_block_size=1)

    @property
    def active(self) -> bool:
        return bool(self.folder or self._video)

    def add(self, observation, command) -> None:
        if observation.frame is None:
            return
        if self._video is not None:
            self._video.append_data(observation.frame)
        if self.folder and self.count % self.every == 0:
            import imageio.v2 as imageio

            imageio.imwrite(self.folder / f"frame_{self.count:06d}.png", observation.frame)
            self.saved += 1
        self.count += 1

    def close(self) -> None:
        if self._video is not None:
            self._video.close()

    def outputs(self) -> dict:
        result = {}
        if self.folder:
            result["frames_saved"] = self.saved
            result["frames_folder"] = str(self.folder)
        if self.video_path:
            result["video"] = self.video_path
        return result


def run_outputs(frames: FrameSink, view, driver) -> dict:
    """What a drive or flight adds to its report: the files it wrote, its live view, and, when a model
    drives, the network's backend and step times."""
    outputs = frames.outputs()
    if view:
        outputs["view"] = view.outputs()
    loop = getattr(driver, "loop", None)
    if loop is not None:
        outputs["backend"] = loop.engine.backend
        step = driver.loop_step_stats()
        if step:
            outputs["network_step_ms"] = step
    return outputs
