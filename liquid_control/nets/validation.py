"""Input checks shared by the cells and sequence modules: clear errors instead of silent garbage."""

from __future__ import annotations

import torch


def check_finite(tensor: torch.Tensor, what: str) -> None:
    """Raise if ``tensor`` holds NaN or Inf.

    One min/max reduction instead of an element-wise isfinite mask: NaN propagates into both and
    an infinity shows in one of them, and on a training batch of frames it is much cheaper.
    """
    if tensor.numel() == 0:
        return
    low, high = torch.aminmax(tensor.detach())
    if not bool(torch.isfinite(low) & torch.isfinite(high)):
        bad = int((~torch.isfinite(tensor)).sum())
        raise ValueError(f"{what} contains {bad} non-finite value(s) (NaN or Inf); clean the input or reset the source")


def elapsed_column(dt, batch: int, like: torch.Tensor, allow_zero: bool, check: bool = True):
    """Turn an elapsed time into something that broadcasts against a (batch, units) tensor.

    Accepts a Python number (returned unchanged, the fast path), a 0-d tensor, or a tensor with
    one value per sample of shape (batch,) or (batch, 1), which becomes (batch, 1). That last
    shape is what ncps 1.0.1 gets wrong (its issues #81-83): a (batch,) vector broadcast against
    (batch, units) either fails or, when batch == units, silently mixes samples up.
    """
    if isinstance(dt, (int, float)):
        if check:
            _check_elapsed_value(float(dt), allow_zero)
        return float(dt)
    if not isinstance(dt, torch.Tensor):
        raise TypeError(f"elapsed time must be a number or a tensor, got {type(dt).__name__}")
    if dt.dim() == 0:
        column = dt.reshape(1, 1).expand(batch, 1)
    elif dt.dim() == 1 and dt.shape[0] == batch:
        column = dt.reshape(batch, 1)
    elif dt.dim() == 2 and tuple(dt.shape) == (batch, 1):
        column = dt
    else:
        raise ValueError(
            f"elapsed time has shape {tuple(dt.shape)}; "
            f"expected a scalar, ({batch},) or ({batch}, 1) for a batch of {batch}"
        )
    if check:
        _check_elapsed_tensor(column, allow_zero)
    return column.to(device=like.device, dtype=like.dtype)


def sequence_timespans(timespans, batch: int, seq_len: int, batch_first: bool, like: torch.Tensor, allow_zero: bool):
    """Normalise the ``timespans`` argument of a sequence module to None, a float, or a (batch, seq_len) tensor."""
    if timespans is None:
        return None
    if isinstance(timespans, (int, float)):
        _check_elapsed_value(float(timespans), allow_zero)
        return float(timespans)
    if not isinstance(timespans, torch.Tensor):
        raise TypeError(f"timespans must be None, a number or a tensor, got {type(timespans).__name__}")
    ts = timespans
    if ts.dim() == 0:
        _check_elapsed_tensor(ts, allow_zero)
        return float(ts)
    if ts.dim() == 3 and ts.shape[-1] == 1:
        ts = ts[..., 0]
    if ts.dim() == 1 and batch == 1 and ts.shape[0] == seq_len:
        ts = ts.reshape(1, seq_len) if batch_first else ts.reshape(seq_len, 1)
    expected = (batch, seq_len) if batch_first else (seq_len, batch)
    if tuple(ts.shape) != expected:
        order = "(batch, time)" if batch_first else "(time, batch)"
        raise ValueError(
            f"timespans has shape {tuple(timespans.shape)}; expected {expected} {order}, optionally with a trailing 1"
        )
    if not batch_first:
        ts = ts.transpose(0, 1)
    _check_elapsed_tensor(ts, allow_zero)
    return ts.to(device=like.device, dtype=like.dtype)


def _check_elapsed_value(value: float, allow_zero: bool) -> None:
    if not (value == value and abs(value) != float("inf")) or value < 0 or (value == 0 and not allow_zero):
        rule = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"elapsed time must be finite and {rule} seconds, got {value}")


def _check_elapsed_tensor(ts: torch.Tensor, allow_zero: bool) -> None:
    finite = torch.isfinite(ts).all()
    positive = (ts >= 0).all() if allow_zero else (ts > 0).all()
    if not bool(finite & positive):
        rule = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"elapsed times must be finite and {rule} seconds; "
                         f"got min {float(ts.min())}, max {float(ts.max())}")
