"""The mixed-memory LSTM step that runs beside a CfC or LTC core built with ``mixed_memory``."""

from __future__ import annotations

import math

import numpy as np

from .numerics import _jit, _sigmoid


@_jit
def lstm_step(x, h, c, input_w, input_b, recurrent_w, out_h, out_c):
    """The mixed-memory LSTM step (liquid_control.nets.lstm.LSTMCell): gates (candidate, input, forget+1, output)."""
    batch = x.shape[0]
    n_in = x.shape[1]
    n = h.shape[1]
    z = np.empty(4 * n)
    for b in range(batch):
        for r in range(4 * n):
            acc = input_b[r]
            for i in range(n_in):
                acc += input_w[r, i] * x[b, i]
            for m in range(n):
                acc += recurrent_w[r, m] * h[b, m]
            z[r] = acc
        for j in range(n):
            cell = c[b, j] * _sigmoid(z[2 * n + j] + 1.0) + math.tanh(z[j]) * _sigmoid(z[n + j])
            out_c[b, j] = cell
            out_h[b, j] = math.tanh(cell) * _sigmoid(z[3 * n + j])
