"""The sim nodes' ``perturbations.*`` parameters: one per ``PerturbationConfig`` field, and the
config they make, checked by the simulator (``liquid_control.sim.perturbations``) with its refusal
naming the parameter. Shared by lane_sim_node and drone_sim_node through ``sim_node``.
"""

from __future__ import annotations

from liquid_control.nodes.settings import ParameterError, Setting
from liquid_control.sim.perturbations import PerturbationConfig

PERTURBATION_PREFIX = 'perturbations.'

# The ranges are those the simulator accepts; where it has no upper bound the range takes a generous one.
PERTURBATION_SETTINGS = (
    Setting('perturbations.noise_std', 0.0, 'Gaussian pixel noise, standard deviation in 0..255 pixel units.',
            0.0, 255.0),
    Setting('perturbations.brightness', 0.0, 'Brightness offset, fraction of full scale (0.2 adds 51).', -1.0, 1.0),
    Setting('perturbations.contrast', 1.0, 'Contrast: multiplies the distance from mid-grey (1 = unchanged).',
            0.0, 10.0),
    Setting('perturbations.blur_sigma', 0.0, 'Gaussian blur sigma, pixels (0 = off).', 0.0, 50.0),
    Setting('perturbations.occlusion_blobs', 0, 'Opaque dark blobs drawn anew on every frame.', 0, 100),
    Setting('perturbations.occlusion_radius', 0.15, 'Largest blob half-axis, fraction of the image height '
            '(must be > 0).', 0.0, 1.0),
    Setting('perturbations.drop_probability', 0.0, 'Chance that a frame is never delivered (must be < 1).',
            0.0, 1.0),
    Setting('perturbations.latency_s', 0.0, 'Seconds of sim time from capture to delivery; the image keeps '
            'its capture stamp.', 0.0, 10.0),
    Setting('perturbations.light_intensity', 1.0, 'Scene lighting scale (1 = normal).', 0.0, 3.0),
    Setting('perturbations.texture_seed', -1, 'Ground texture variant; -1 = the scene\'s own.', -1, 2**31 - 1),
    Setting('perturbations.blackout_rate_hz', 0.0, 'Camera blackouts (black frames: a covered lens) per second of '
            'sim time, at random times (0 = off).', 0.0, 10.0),
    Setting('perturbations.blackout_min_s', 0.3, 'Shortest blackout, seconds (must be > 0).', 0.0, 60.0),
    Setting('perturbations.blackout_max_s', 1.5, 'Longest blackout, seconds (>= blackout_min_s).', 0.0, 60.0),
    Setting('perturbations.frame_interval_jitter', 1.0, 'Each camera period is the nominal one times a random '
            'factor in [1/j, j] (1 = off; lockstep mode only).', 1.0, 10.0),
)


def perturbation_config(values: dict) -> PerturbationConfig:
    """The camera perturbations from the ``perturbations.*`` parameters, checked by the simulator.

    Frame-interval jitter changes how much sim time each step lasts, which only the lockstep mode
    (the simulator is the clock) can show: in realtime mode a wall-clock timer sets the periods.
    """
    perturbations = {name[len(PERTURBATION_PREFIX):]: value for name, value in values.items()
                     if name.startswith(PERTURBATION_PREFIX)}
    if perturbations['texture_seed'] < 0:
        perturbations['texture_seed'] = None
    if perturbations['frame_interval_jitter'] != 1.0 and values.get('mode') != 'lockstep':
        raise ParameterError(f"parameter '{PERTURBATION_PREFIX}frame_interval_jitter' needs mode lockstep (in "
                             f"{values.get('mode')} mode a wall-clock timer sets the camera periods)")
    try:
        return PerturbationConfig.from_dict(perturbations)
    except ValueError as error:
        # The simulator's message names the field (PerturbationConfig.<field>); name the parameter.
        named = [field for field in perturbations if f'PerturbationConfig.{field} ' in str(error)]
        parameter = PERTURBATION_PREFIX + (named[0] if named else '*')
        raise ParameterError(f"parameter '{parameter}' rejected: {error}") from None
