"""Compiled single-step kernels for liquid cells (Numba): inference only, any batch size.

A liquid cell on the NCP lane keeper is a few thousand multiply-adds; what costs in torch is the
dispatch of the many small tensor operations of a step. These kernels do the whole
step in one compiled call: plain loops over the (already masked) weights, computed in float64,
one batch row after another, with no allocation besides two scratch vectors. Numba compiles them
on first use and caches the machine code beside this file (or in
``NUMBA_CACHE_DIR``) for the next process.

Written by hand because no library runs a liquid cell step: ONNX Runtime runs the exported graph,
but still op by op. The kernels follow the torch cells in ``liquid_control.nets`` (the training
model) formula for formula; ``liquid_control.runtime.engines.packing`` packs a trained module's weights
into the flat arrays they take, and the tests compare them against the training model.

The fast-math flags allow reordering sums and fused multiply-adds but keep NaN and Inf semantics,
so a diverging network is still seen (the controller commands a stop on a non-finite output).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_FLAGS = {"reassoc", "contract", "arcp", "nsz"}  # no 'nnan'/'ninf': NaN must stay visible
# error_model="numpy": x / 0 gives inf or NaN as in torch, instead of a Python ZeroDivisionError
# check whose branch also keeps loops from being vectorised.
_jit = numba.njit(cache=True, fastmath=_FLAGS, nogil=True, error_model="numpy")
_inline = numba.njit(inline="always", fastmath=_FLAGS, error_model="numpy")

# Activation codes for CfC backbones (liquid_control.nets.cfc.ACTIVATIONS).
ACTIVATION_CODES = {"lecun_tanh": 0, "silu": 1, "relu": 2, "tanh": 3, "gelu": 4}
# CfC modes.
MODE_CODES = {"default": 0, "no_gate": 1, "pure": 2}


@_jit
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


# ----------------------------------------------------------------- vectorisable exp for the batch kernels
# libm's exp is a call the compiler cannot vectorise; across a batch of agents that call is most of
# the time. The batch kernels compute in float32, as the torch model does, with this exp: range
# reduction by ln 2, a degree-6 polynomial, 2**n built in the exponent bits: straight-line
# arithmetic, so a loop over agents becomes 8-wide SIMD code (AVX2). Measured against libm's
# float64 sigmoid over [-20, 20]: largest difference 8.6e-8, 5x faster than the float64 version of
# the same trick. Inputs are clamped to [-87, 87] (no float32 sigmoid or tanh changes); NaN passes.
@intrinsic
def _bits_as_float32(typingctx, bits):
    signature = types.float32(types.int32)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.FloatType())

    return signature, codegen


_F = np.float32
_ZERO, _HALF, _ONE, _TWO = _F(0.0), _F(0.5), _F(1.0), _F(2.0)
_EXP_LOW, _EXP_HIGH, _LOG2_E = _F(-87.0), _F(87.0), _F(1.4426950408889634)
_LN2_HIGH, _LN2_LOW = _F(0.693359375), _F(-2.12194440e-4)  # ln 2 split in two for an exact reduction
_C2, _C3, _C4, _C5, _C6 = _F(1 / 2), _F(1 / 6), _F(1 / 24), _F(1 / 120), _F(1 / 720)


@_inline
def _vexp(x):
    y = min(max(x, _EXP_LOW), _EXP_HIGH)
    n = np.floor(y * _LOG2_E + _HALF)
    r = (y - n * _LN2_HIGH) - n * _LN2_LOW
    p = _ONE + r * (_ONE + r * (_C2 + r * (_C3 + r * (_C4 + r * (_C5 + r * _C6)))))
    result = p * _bits_as_float32((np.int32(n) + np.int32(127)) << np.int32(23))
    return result if x == x else x


@_inline
def _vsigmoid(x):
    return _ONE / (_ONE + _vexp(-x))


@_inline
def _vtanh(x):
    return _ONE - _TWO / (_vexp(_TWO * x) + _ONE)


# Agents per block in the batch kernels: the block's working set stays in L1.
_BLOCK = 64


@_jit
def _activation(x, code):
    if code == 0:
        return 1.7159 * math.tanh(0.666 * x)
    if code == 1:
        return x / (1.0 + math.exp(-x))
    if code == 2:
        return 0.0 if x <= 0.0 else x  # NaN stays NaN
    if code == 3:
        return math.tanh(x)
    return 0.5 * x * (1.0 + math.erf(x * 0.7071067811865476))


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


# Slots of ltc_step's integer header: offsets into wf of each parameter vector, then sizes.
_LTC_FIELDS = ("input_w", "input_b", "s_sigma", "s_mu", "s_w", "s_w_erev", "r_sigma", "r_mu", "r_w", "r_w_erev",
               "cm", "gleak", "gleak_vleak")


@_inline
def _ltc_layout(wf, wi, units):
    """Unpack ``pack_ltc``'s integer header: the offsets into ``wf`` of each parameter vector
    (_LTC_FIELDS order), the unfold count, where the sensory and recurrent compressed rows
    (pointers, sources) start in ``wi``, and epsilon."""
    s_ptr = 16
    r_ptr = wi[14]
    return (wi[0], wi[1], wi[2], wi[3], wi[4], wi[5], wi[6], wi[7], wi[8], wi[9], wi[10], wi[11], wi[12], wi[13],
            s_ptr, s_ptr + units + 1, r_ptr, r_ptr + units + 1, wf[wi[15]])


@_jit
def ltc_step(x, v0, elapsed, wf, wi, out):
    """An LTC step (the fused semi-implicit solver), synapses in compressed rows by target neuron.

    ``wf``/``wi`` come from ``pack_ltc``: target neuron j's sensory synapses are entries
    s_ptr[j]:s_ptr[j+1] of the s_* vectors (s_src: the input index), its recurrent ones
    r_ptr[j]:r_ptr[j+1] of the r_* vectors (r_src: the source neuron); masked-out synapses are
    absent. ``out`` (B, units) receives the new potentials.
    """
    batch = x.shape[0]
    n_in = x.shape[1]
    units = v0.shape[1]
    (o_iw, o_ib, o_ssig, o_smu, o_sw, o_swe, o_rsig, o_rmu, o_rw, o_rwe, o_cm, o_gl, o_glv, unfolds,
     s_ptr, s_src, r_ptr, r_src, epsilon) = _ltc_layout(wf, wi, units)
    xm = np.empty(n_in)
    sens_num = np.empty(units)
    sens_den = np.empty(units)
    v = np.empty(units)
    nxt = np.empty(units)
    for b in range(batch):
        # An input no synapse reads still turns the outputs NaN when it is NaN or Inf, as in torch
        # (where it meets a zero weight): the controller must see it and stop.
        poison = 0.0
        for i in range(n_in):
            xm[i] = x[b, i] * wf[o_iw + i] + wf[o_ib + i]
            poison += xm[i] * 0.0
        for j in range(units):
            num = 0.0
            den = 0.0
            for e in range(wi[s_ptr + j], wi[s_ptr + j + 1]):
                act = _sigmoid(wf[o_ssig + e] * (xm[wi[s_src + e]] - wf[o_smu + e]))
                num += act * wf[o_swe + e]
                den += act * wf[o_sw + e]
            sens_num[j] = num + wf[o_glv + j]
            sens_den[j] = den + wf[o_gl + j] + epsilon
            v[j] = v0[b, j]
        step = elapsed[b] / unfolds
        for _ in range(unfolds):
            for j in range(units):
                cm_t = wf[o_cm + j] / step
                num = cm_t * v[j] + sens_num[j]
                den = cm_t + sens_den[j]
                for e in range(wi[r_ptr + j], wi[r_ptr + j + 1]):
                    act = _sigmoid(wf[o_rsig + e] * (v[wi[r_src + e]] - wf[o_rmu + e]))
                    num += act * wf[o_rwe + e]
                    den += act * wf[o_rw + e]
                nxt[j] = num / den
            for j in range(units):
                v[j] = nxt[j]
        for j in range(units):
            out[b, j] = v[j] + poison  # poison: 0, or NaN when an input was NaN/Inf


@_inline
def _accumulate_synapse(pre, sigma, mu, w_erev, w, num, den, count):
    """num += act * w_erev, den += act * w with act = sigmoid(sigma * (pre - mu)), over agents."""
    for c in range(count):
        act = _vsigmoid(sigma * (pre[c] - mu))
        num[c] += act * w_erev
        den[c] += act * w


@_jit
def ltc_step_batch(x, v0, elapsed, wf, wi, out):
    """``ltc_step`` for many agents: blocks of agents side by side, SIMD over agents, in float32
    (``wf`` float32) like the torch model."""
    batch = x.shape[0]
    n_in = x.shape[1]
    units = v0.shape[1]
    (o_iw, o_ib, o_ssig, o_smu, o_sw, o_swe, o_rsig, o_rmu, o_rw, o_rwe, o_cm, o_gl, o_glv, unfolds,
     s_ptr, s_src, r_ptr, r_src, epsilon) = _ltc_layout(wf, wi, units)
    unfolds_f = np.float32(unfolds)
    xm = np.empty((n_in, _BLOCK), dtype=np.float32)
    sens_num = np.empty((units, _BLOCK), dtype=np.float32)
    sens_den = np.empty((units, _BLOCK), dtype=np.float32)
    v = np.empty((units, _BLOCK), dtype=np.float32)
    nxt = np.empty((units, _BLOCK), dtype=np.float32)
    num = np.empty(_BLOCK, dtype=np.float32)
    den = np.empty(_BLOCK, dtype=np.float32)
    step = np.empty(_BLOCK, dtype=np.float32)
    poison = np.empty(_BLOCK, dtype=np.float32)
    for start in range(0, batch, _BLOCK):
        count = min(_BLOCK, batch - start)
        for c in range(count):
            poison[c] = _ZERO  # NaN/Inf in an input no synapse reads must still reach the outputs
        for i in range(n_in):
            w = wf[o_iw + i]
            b = wf[o_ib + i]
            for c in range(count):
                xm[i, c] = x[start + c, i] * w + b
                poison[c] += xm[i, c] * _ZERO
        for c in range(count):
            step[c] = elapsed[start + c] / unfolds_f
        for j in range(units):
            for c in range(count):
                num[c] = _ZERO
                den[c] = _ZERO
            for e in range(wi[s_ptr + j], wi[s_ptr + j + 1]):
                src = wi[s_src + e]
                sigma = wf[o_ssig + e]
                mu = wf[o_smu + e]
                w_erev = wf[o_swe + e]
                w = wf[o_sw + e]
                _accumulate_synapse(xm[src], sigma, mu, w_erev, w, num, den, count)
            glv = wf[o_glv + j]
            gl = wf[o_gl + j] + epsilon
            for c in range(count):
                sens_num[j, c] = num[c] + glv
                sens_den[j, c] = den[c] + gl
                v[j, c] = v0[start + c, j]
        for _ in range(unfolds):
            for j in range(units):
                cm = wf[o_cm + j]
                for c in range(count):
                    cm_t = cm / step[c]
                    num[c] = cm_t * v[j, c] + sens_num[j, c]
                    den[c] = cm_t + sens_den[j, c]
                for e in range(wi[r_ptr + j], wi[r_ptr + j + 1]):
                    src = wi[r_src + e]
                    sigma = wf[o_rsig + e]
                    mu = wf[o_rmu + e]
                    w_erev = wf[o_rwe + e]
                    w = wf[o_rw + e]
                    _accumulate_synapse(v[src], sigma, mu, w_erev, w, num, den, count)
                for c in range(count):
                    nxt[j, c] = num[c] / den[c]
            for j in range(units):
                for c in range(count):
                    v[j, c] = nxt[j, c]
        for j in range(units):
            for c in range(count):
                out[start + c, j] = v[j, c] + poison[c]


def pack_ltc(sensory_mask: np.ndarray, mask: np.ndarray, unfolds: int, epsilon: float, **vectors: np.ndarray):
    """(wf, wi) for ``ltc_step``: ``vectors`` holds input_w, input_b, cm, gleak, gleak_vleak and
    the full (source, target) matrices s_sigma, s_mu, s_w, s_w_erev, r_sigma, r_mu, r_w, r_w_erev."""
    s_ptr, s_src, s_values = csr_by_target(sensory_mask, *(vectors[f"s_{n}"] for n in ("sigma", "mu", "w", "w_erev")))
    r_ptr, r_src, r_values = csr_by_target(mask, *(vectors[f"r_{n}"] for n in ("sigma", "mu", "w", "w_erev")))
    sparse = dict(zip(("s_sigma", "s_mu", "s_w", "s_w_erev", "r_sigma", "r_mu", "r_w", "r_w_erev"), s_values + r_values))
    floats, offsets, at = [], [], 0
    for name in _LTC_FIELDS:
        values = np.asarray(sparse[name] if name in sparse else vectors[name], dtype=np.float64).reshape(-1)
        offsets.append(at)
        floats.append(values)
        at += values.size
    floats.append(np.asarray([epsilon], dtype=np.float64))
    r_ptr_at = 16 + s_ptr.size + s_src.size
    header = [*offsets, int(unfolds), r_ptr_at, at]
    wi = np.concatenate([np.asarray(header, dtype=np.int64), s_ptr, s_src, r_ptr, r_src]).astype(np.int64)
    return np.ascontiguousarray(np.concatenate(floats)), wi


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


def csr_by_target(mask: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Compressed rows of the nonzero (source, target) entries of ``mask``, grouped by target.

    Returns (ptr, sources, [value[source, target] for each value array]) with float64 values.
    """
    targets, sources = np.nonzero(np.asarray(mask).T)  # row-major over the transpose: grouped by target
    ptr = np.zeros(mask.shape[1] + 1, dtype=np.int64)
    np.add.at(ptr, targets + 1, 1)
    ptr = np.cumsum(ptr)
    return ptr, sources.astype(np.int64), [np.ascontiguousarray(np.asarray(v)[sources, targets], dtype=np.float64) for v in values]
