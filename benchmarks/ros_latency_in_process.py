"""The floor under ros_latency.py's pipeline: its work timed in one process, without ROS.

perception's work (decode, preprocess, encode and decode the 32FC3 message body) per camera size, and
the policy step: torch with its default threads and with 1 thread, ONNX Runtime with 1 thread.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from ros_latency_figures import latency_stats


def in_process_figures(model: Path, sizes, steps: int = 300) -> dict:
    """What the pipeline costs with no ROS at all, in this process."""
    import onnxruntime
    import torch

    from liquid_control.data.images import (
        PreprocessSpec,
        decode_float_image,
        decode_image,
        float_image_fields,
    )
    from liquid_control.nets import load_model, read_card

    spec = PreprocessSpec.from_card(read_card(model))
    figures = {"steps": steps}
    for height, width in sizes:
        data = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8).tobytes()
        times = []
        for _ in range(steps):
            started = time.perf_counter()
            fields = float_image_fields(spec.apply(decode_image("rgb8", height, width, width * 3, data), "rgb8"))
            decode_float_image(fields["encoding"], fields["height"], fields["width"], fields["step"], fields["data"])
            times.append(time.perf_counter() - started)
        figures[f"preprocess_{height}x{width}"] = latency_stats(times[20:])
    policy, _ = load_model(model, device="cpu")
    policy.eval()
    image = torch.from_numpy(np.random.default_rng(1).normal(size=policy.image_shape).astype(np.float32))

    def torch_steps():
        state, times = None, []
        with torch.inference_mode():
            for _ in range(steps):
                started = time.perf_counter()
                _, state = policy.step(image, 1 / 30, state)
                times.append(time.perf_counter() - started)
        return latency_stats(times[30:])

    default_threads = torch.get_num_threads()
    figures[f"policy_step_torch_{default_threads}_threads"] = torch_steps()
    torch.set_num_threads(1)
    figures["policy_step_torch_1_thread"] = torch_steps()
    torch.set_num_threads(default_threads)
    onnx_path = model / "policy.onnx"
    if onnx_path.exists():
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        state_input = next(i for i in session.get_inputs() if i.name == "state_0")
        feeds = {"image": image.numpy()[None], "dt": np.array([1 / 30], np.float32),
                 "state_0": np.zeros((1, state_input.shape[1]), np.float32)}
        times = []
        for _ in range(steps):
            started = time.perf_counter()
            results = session.run(None, feeds)
            feeds["state_0"] = results[1]
            times.append(time.perf_counter() - started)
        figures["policy_step_onnxruntime_1_thread"] = latency_stats(times[30:])
        figures["onnxruntime_version"] = onnxruntime.__version__
    return figures
