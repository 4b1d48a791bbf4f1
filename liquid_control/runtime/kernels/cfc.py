"""CfC kernels: a stack of CfC layers (wired, or dense without backbone), per agent and SIMD over agents,
and a dense CfC with a backbone MLP. ``pack_cfc_layers`` lays a stack's weights out as they take them.
"""

from __future__ import annotations

import math

import numpy as np

from .numerics import _BLOCK, _ONE, MODE_CODES, _activation, _jit, _sigmoid, _vexp, _vsigmoid, _vtanh


@_jit
def cfc_layers_step(x, h, ts, wf, wi, out):
    """A stack of CfC layers without backbone (a wired CfC, or a dense one with backbone_layers=0).

    x (B, inputs), h (B, state), ts (B,), out (B, state). All weights are in the flat float64
    array ``wf`` and the layout in the int64 array ``wi`` (see ``pack_cfc_layers``): two arguments
    instead of a dozen, because unboxing each array costs the call more than the arithmetic.
    Layer l's weight is a (rows, inputs + neurons) block (rows = 4 * neurons: ff1, ff2, time_a,
    time_b; = neurons in pure mode). A layer's input is the previous layer's new state.
    """
    batch = x.shape[0]
    layers = wi[0]
    mode = wi[1]
    tau0 = wi[2]
    amp0 = wi[3]
    max_rows = wi[4]
    max_width = 0
    for layer in range(layers):
        width = wi[5 + 4 * layer] + wi[6 + 4 * layer]
        if width > max_width:
            max_width = width
    z = np.empty(max_rows)
    inp = np.empty(max_width)  # a layer's [input, own state], contiguous for the dot products
    for b in range(batch):
        t = ts[b]
        state_offset = 0
        for layer in range(layers):
            n_in = wi[5 + 4 * layer]
            n = wi[6 + 4 * layer]
            w0 = wi[7 + 4 * layer]
            b0 = wi[8 + 4 * layer]
            rows = n if mode == 2 else 4 * n
            width = n_in + n
            if layer == 0:
                for i in range(n_in):
                    inp[i] = x[b, i]
            else:
                for i in range(n_in):
                    inp[i] = out[b, state_offset - n_in + i]
            for m in range(n):
                inp[n_in + m] = h[b, state_offset + m]
            for r in range(rows):
                acc = 0.0
                base = w0 + r * width
                for i in range(width):
                    acc += wf[base + i] * inp[i]
                z[r] = acc + wf[b0 + r]
            for j in range(n):
                if mode == 2:
                    zj = z[j]
                    a = wf[amp0 + state_offset + j]
                    out[b, state_offset + j] = -a * math.exp(-t * (abs(wf[tau0 + state_offset + j]) + abs(zj))) * zj + a
                else:
                    f1 = math.tanh(z[j])
                    f2 = math.tanh(z[n + j])
                    gate = _sigmoid(z[2 * n + j] * t + z[3 * n + j])
                    if mode == 1:
                        out[b, state_offset + j] = f1 + gate * f2
                    else:
                        out[b, state_offset + j] = f1 * (1.0 - gate) + gate * f2
            state_offset += n


@_jit
def cfc_layers_step_batch(x, h, ts, wf, wi, out):
    """``cfc_layers_step`` for many agents: blocks of agents side by side, the agent index innermost
    so every loop is SIMD over agents. Computes in float32 (``wf`` float32: ``pack_cfc_layers``'s
    array cast), like the torch model; states are read and written as the caller holds them."""
    batch = x.shape[0]
    layers = wi[0]
    mode = wi[1]
    tau0 = wi[2]
    amp0 = wi[3]
    max_rows = wi[4]
    state_size = h.shape[1]
    max_width = 0
    for layer in range(layers):
        width = wi[5 + 4 * layer] + wi[6 + 4 * layer]
        if width > max_width:
            max_width = width
    inp = np.empty((max_width, _BLOCK), dtype=np.float32)
    z = np.empty((max_rows, _BLOCK), dtype=np.float32)
    new = np.empty((state_size, _BLOCK), dtype=np.float32)
    tt = np.empty(_BLOCK, dtype=np.float32)
    for start in range(0, batch, _BLOCK):
        count = min(_BLOCK, batch - start)
        for c in range(count):
            tt[c] = ts[start + c]
        state_offset = 0
        for layer in range(layers):
            n_in = wi[5 + 4 * layer]
            n = wi[6 + 4 * layer]
            w0 = wi[7 + 4 * layer]
            b0 = wi[8 + 4 * layer]
            rows = n if mode == 2 else 4 * n
            width = n_in + n
            if layer == 0:
                for i in range(n_in):
                    for c in range(count):
                        inp[i, c] = x[start + c, i]
            else:
                for i in range(n_in):
                    for c in range(count):
                        inp[i, c] = new[state_offset - n_in + i, c]
            for m in range(n):
                for c in range(count):
                    inp[n_in + m, c] = h[start + c, state_offset + m]
            for r in range(rows):
                bias = wf[b0 + r]
                for c in range(count):
                    z[r, c] = bias
                base = w0 + r * width
                for i in range(width):
                    w = wf[base + i]
                    for c in range(count):
                        z[r, c] += w * inp[i, c]
            for j in range(n):
                k = state_offset + j
                if mode == 2:
                    a = wf[amp0 + k]
                    tau = abs(wf[tau0 + k])
                    for c in range(count):
                        zj = z[j, c]
                        new[k, c] = -a * _vexp(-tt[c] * (tau + abs(zj))) * zj + a
                else:
                    for c in range(count):
                        f1 = _vtanh(z[j, c])
                        f2 = _vtanh(z[n + j, c])
                        gate = _vsigmoid(z[2 * n + j, c] * tt[c] + z[3 * n + j, c])
                        if mode == 1:
                            new[k, c] = f1 + gate * f2
                        else:
                            new[k, c] = f1 * (_ONE - gate) + gate * f2
            state_offset += n
        for k in range(state_size):
            for c in range(count):
                out[start + c, k] = new[k, c]


def pack_cfc_layers(layers: list[tuple[np.ndarray, np.ndarray]], mode: int, taus: np.ndarray, amps: np.ndarray):
    """(wf, wi) for ``cfc_layers_step`` from each layer's (weight (rows, inputs + neurons), bias)."""
    floats, header, at = [], [], 0
    for weight, bias in layers:
        rows, width = weight.shape
        neurons = rows if mode == MODE_CODES["pure"] else rows // 4
        header += [width - neurons, neurons, at, at + weight.size]
        floats += [weight.reshape(-1), bias.reshape(-1)]
        at += weight.size + bias.size
    tau0, amp0 = at, at + taus.size
    floats += [taus.reshape(-1), amps.reshape(-1)]
    max_rows = max(weight.shape[0] for weight, _ in layers)
    wi = np.asarray([len(layers), mode, tau0, amp0, max_rows, *header], dtype=np.int64)
    return np.ascontiguousarray(np.concatenate(floats), dtype=np.float64), wi


@_jit
def cfc_backbone_step(x, h, ts, first_w, first_b, hidden_w, hidden_b, heads_w, heads_b, activation, pure_w_tau,
                      pure_a, mode, out):
    """A dense CfC with a backbone MLP: [x, h] -> Linear+act (x layers) -> heads -> new state.

    first_w (units, inputs + hidden); hidden_w (layers - 1, units, units); heads_w (rows, units).
    """
    batch = x.shape[0]
    n_in = x.shape[1]
    n = h.shape[1]
    units = first_w.shape[0]
    rows = heads_w.shape[0]
    u = np.empty(units)
    v = np.empty(units)
    z = np.empty(rows)
    for b in range(batch):
        t = ts[b]
        for k in range(units):
            acc = first_b[k]
            for i in range(n_in):
                acc += first_w[k, i] * x[b, i]
            for m in range(n):
                acc += first_w[k, n_in + m] * h[b, m]
            u[k] = _activation(acc, activation)
        for layer in range(hidden_w.shape[0]):
            for k in range(units):
                acc = hidden_b[layer, k]
                for i in range(units):
                    acc += hidden_w[layer, k, i] * u[i]
                v[k] = _activation(acc, activation)
            for k in range(units):
                u[k] = v[k]
        for r in range(rows):
            acc = heads_b[r]
            for k in range(units):
                acc += heads_w[r, k] * u[k]
            z[r] = acc
        for j in range(n):
            if mode == 2:
                out[b, j] = -pure_a[j] * math.exp(-t * (abs(pure_w_tau[j]) + abs(z[j]))) * z[j] + pure_a[j]
            else:
                f1 = math.tanh(z[j])
                f2 = math.tanh(z[n + j])
                gate = _sigmoid(z[2 * n + j] * t + z[3 * n + j])
                if mode == 1:
                    out[b, j] = f1 + gate * f2
                else:
                    out[b, j] = f1 * (1.0 - gate) + gate * f2


