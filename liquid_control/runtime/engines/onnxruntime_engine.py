"""The ``onnxruntime`` backend: the step exported to ONNX (``nets.onnx_export``) and run by ONNX Runtime.

CPU only; the one graph a robot without torch can run too. ``ort_session`` and ``export_bytes`` also
serve the native backend, whose policy conv head runs here.
"""

from __future__ import annotations

import io

from .base import BackendUnavailable, Engine


def ort_session(model_bytes: bytes, threads: int):
    try:
        import onnxruntime
    except ImportError as error:  # the module may be absent, or blocked (tests)
        raise BackendUnavailable(f"onnxruntime is not installed ({error}); pip install onnxruntime") from error
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def export_bytes(module, **kwargs) -> bytes:
    from liquid_control.nets.onnx_export import export_onnx

    buffer = io.BytesIO()
    export_onnx(module, buffer, **kwargs)
    return buffer.getvalue()


class OnnxRuntimeEngine(Engine):
    """The whole step as one ONNX graph run by ONNX Runtime (CPU)."""

    backend = "onnxruntime"

    def __init__(self, module, device: str = "cpu", threads: int = 1):
        if str(device) != "cpu":
            raise BackendUnavailable("the onnxruntime backend runs on the CPU here "
                                     "(no CUDA execution provider installed)")
        super().__init__(module, "cpu", threads)
        self.session = ort_session(export_bytes(self.module), self.threads)
        self._accepted = {graph_input.name for graph_input in self.session.get_inputs()}
        self._input_name = "image" if self.kind == "policy" else "x"

    def _step(self, inputs, dt, arrays):
        return self._run(self.session, self._accepted, self._input_name, inputs, dt, arrays)

    @staticmethod
    def _run(session, accepted, input_name, inputs, dt, arrays):
        feeds = {input_name: inputs}
        if "dt" in accepted:
            feeds["dt"] = dt
        for index, array in enumerate(arrays):
            feeds[f"state_{index}"] = array
        results = session.run(None, feeds)
        return results[0], tuple(results[1:])

    def _halves(self):
        """The head and the core as two graphs, exported on first use of the split interface."""
        halves = getattr(self, "_halves_built", None)
        if halves is None:
            core = ort_session(export_bytes(self.module.core), self.threads)
            halves = (ort_session(export_bytes(self.module.head, head_only=True), self.threads), core,
                      {graph_input.name for graph_input in core.get_inputs()})
            self._halves_built = halves  # one assignment: a second thread sees all of it or none
        return halves

    def _features(self, images):
        return self._halves()[0].run(None, {"image": images})[0]

    def _step_features(self, features, dt, arrays):
        _, core, accepted = self._halves()
        return self._run(core, accepted, "x", features, dt, arrays)

