"""LTC kernels: the fused semi-implicit solver with synapses in compressed rows by target neuron, per
agent and SIMD over agents. ``pack_ltc`` lays a cell's weights out as they take them.
"""

from __future__ import annotations

import numpy as np

from .numerics import _BLOCK, _ZERO, _inline, _jit, _sigmoid, _vsigmoid

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
    sparse = dict(zip(("s_sigma", "s_mu", "s_w", "s_w_erev", "r_sigma", "r_mu", "r_w", "r_w_erev"),
                      s_values + r_values))
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



def csr_by_target(mask: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Compressed rows of the nonzero (source, target) entries of ``mask``, grouped by target.

    Returns (ptr, sources, [value[source, target] for each value array]) with float64 values.
    """
    targets, sources = np.nonzero(np.asarray(mask).T)  # row-major over the transpose: grouped by target
    ptr = np.zeros(mask.shape[1] + 1, dtype=np.int64)
    np.add.at(ptr, targets + 1, 1)
    ptr = np.cumsum(ptr)
    picked = [np.ascontiguousarray(np.asarray(v)[sources, targets], dtype=np.float64) for v in values]
    return ptr, sources.astype(np.int64), picked
