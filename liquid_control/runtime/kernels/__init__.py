"""Compiled single-step kernels for liquid cells (Numba): inference only, any batch size.

A step of a small liquid cell is a few thousand multiply-adds; in torch what costs is the dispatch of
its many small tensor operations. These kernels do the whole step in one compiled call, following the
torch cells in ``liquid_control.nets`` formula for formula (``cfc``, ``ltc``, ``lstm``; the shared
compile settings and math in ``numerics``). Numba compiles them on first use and caches the machine
code beside these files (or in ``NUMBA_CACHE_DIR``). ``runtime.engines.packing`` lays a trained
module's weights out as they take them; the tests compare them against the training model.
"""

from .cfc import cfc_backbone_step, cfc_layers_step, cfc_layers_step_batch, pack_cfc_layers
from .lstm import lstm_step
from .ltc import csr_by_target, ltc_step, ltc_step_batch, pack_ltc
from .numerics import ACTIVATION_CODES, MODE_CODES

__all__ = ["ACTIVATION_CODES", "MODE_CODES", "cfc_backbone_step", "cfc_layers_step", "cfc_layers_step_batch",
           "csr_by_target", "lstm_step", "ltc_step", "ltc_step_batch", "pack_cfc_layers", "pack_ltc"]
