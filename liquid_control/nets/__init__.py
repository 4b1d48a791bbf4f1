"""Liquid neural networks in pure torch (no ROS): wirings, LTC and CfC cells, sequence modules,
single-step stepping, ncps import and the model file format."""

from .cfc import CfCCell, WiredCfCCell
from .lstm import LSTMCell
from .ltc import LTCCell
from .model_file import LoadedModel, ModelFileError, load_model, read_card, register_architecture, save_model
from .ncps_import import from_ncps, from_ncps_state_dict
from .ncps_wiring import wiring_from_ncps
from .sequence import LTC, CfC, LiquidSequence
from .stateful import Stepper
from .weights import WeightsMismatchError
from .wirings import NCP, AutoNCP, FullyConnected, Random, Wiring, make_wiring

__all__ = [
    "AutoNCP", "CfC", "CfCCell", "FullyConnected", "LSTMCell", "LTC", "LTCCell", "LiquidSequence", "LoadedModel",
    "ModelFileError", "NCP", "Random", "Stepper", "WeightsMismatchError", "WiredCfCCell", "Wiring", "from_ncps",
    "from_ncps_state_dict", "load_model", "make_wiring", "read_card", "register_architecture", "save_model",
    "wiring_from_ncps",
]
