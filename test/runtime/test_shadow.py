"""Shadow mode's agreement measure, without ROS: pairing by time and the per-field figures."""

import numpy as np
import pytest

from liquid_control.runtime.shadow import ShadowAgreement


def test_each_policy_command_pairs_with_the_driving_command_in_force():
    agreement = ShadowAgreement(("linear.x", "angular.z"), tolerance=0.1, max_age_s=0.5)
    assert not agreement.shadow(1.0, [1.0, 0.0])  # nobody has driven yet
    agreement.driving(1.0, [1.0, 0.5])
    assert agreement.shadow(1.2, [1.05, 0.3])
    assert not agreement.shadow(0.9, [1.0, 0.5])  # before the driving command: not in force yet
    assert not agreement.shadow(1.6, [1.0, 0.5])  # 0.6 s old: too old
    agreement.driving(1.7, [1.0, -0.5])
    assert agreement.shadow(1.8, [1.0, 0.4])
    assert (agreement.pairs, agreement.unpaired, agreement.driving_commands) == (2, 3, 2)
    summary = agreement.summary()
    assert summary["linear.x"]["error_p50"] == pytest.approx(0.025)
    assert summary["angular.z"]["error_p95"] == pytest.approx(np.percentile([0.2, 0.9], 95))
    assert summary["angular.z"]["within_tolerance"] == 0.0 and summary["linear.x"]["within_tolerance"] == 1.0
    assert summary["angular.z"]["sign_agreement"] == 0.5  # agreed turning left, not turning right
    assert summary["linear.x"]["sign_agreement"] == 1.0


def test_sign_agreement_needs_a_driving_command_beyond_the_tolerance():
    agreement = ShadowAgreement(("angular.z",), tolerance=0.1)
    agreement.driving(0.0, [0.05])
    agreement.shadow(0.1, [-0.02])
    assert agreement.summary()["angular.z"]["sign_agreement"] is None


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="shadow fields"):
        ShadowAgreement(("angular.x",))
    with pytest.raises(ValueError, match="tolerance"):
        ShadowAgreement(("angular.z",), tolerance=0.0)
