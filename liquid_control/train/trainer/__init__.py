"""Training a camera policy on driving sequences: truncated back-propagation through time.

``train(episodes, out_dir, TrainConfig(...))`` is the whole run (``loop``); ``config`` holds the
settings, ``batches`` the validation split and loaders, ``loss`` the weighted loss, and
``diagnostics`` what tells a network that did not learn (output spread, LTC saturation).
"""

from liquid_control.train.trainer.batches import on_device, split_episodes, window_loader
from liquid_control.train.trainer.config import DEFAULT_PREPROCESSING, TrainConfig, cpu_has_bf16, resolve_head_precision
from liquid_control.train.trainer.diagnostics import (
                                                      FLAT_OUTPUT_SPREAD,
                                                      SATURATED,
                                                      loss_and_spread,
                                                      ltc_sensory_saturation,
                                                      output_spread,
)
from liquid_control.train.trainer.loop import output_section, plot_history, train
from liquid_control.train.trainer.loss import default_loss_scale, output_weights, weighted_mse

__all__ = [
    "DEFAULT_PREPROCESSING", "FLAT_OUTPUT_SPREAD", "SATURATED", "TrainConfig", "cpu_has_bf16", "default_loss_scale",
    "loss_and_spread", "ltc_sensory_saturation", "on_device", "output_section", "output_spread", "output_weights",
    "plot_history", "resolve_head_precision", "split_episodes", "train", "weighted_mse", "window_loader",
]
