"""liquid_control.distro: the distribution from ROS_DISTRO or rclpy's version, and local discovery for it."""
import pytest

from liquid_control import distro


@pytest.mark.parametrize('version, expected', [('3.3.15', 'humble'), ('4.1.5', 'iron'), ('7.1.6', 'jazzy'),
                                               ('9.1.2', 'kilted'), ('42.0.0', None)])
def test_rclpy_version_names_the_distribution(monkeypatch, version, expected):
    monkeypatch.delenv('ROS_DISTRO', raising=False)
    monkeypatch.setattr(distro, 'rclpy_version', lambda: version)
    assert distro.ros_distribution() == expected


def test_ros_distro_of_a_ros_host_wins(monkeypatch):
    monkeypatch.setenv('ROS_DISTRO', 'humble')
    monkeypatch.setattr(distro, 'rclpy_version', lambda: '9.1.2')
    assert distro.ros_distribution() == 'humble'


def test_package_xml_in_the_ament_prefix_is_read_when_no_wheel_is_installed(monkeypatch, tmp_path):
    (tmp_path / 'share' / 'rclpy').mkdir(parents=True)
    (tmp_path / 'share' / 'rclpy' / 'package.xml').write_text('<package format="3"><name>rclpy</name>'
                                                              '<version>3.3.15</version></package>')
    monkeypatch.setattr(distro.metadata, 'version', lambda name: (_ for _ in ()).throw(
        distro.metadata.PackageNotFoundError(name)))
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(tmp_path))
    assert distro.rclpy_version() == '3.3.15'


def test_humble_also_gets_ros_localhost_only():
    assert distro.local_discovery_environment('humble') == {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
                                                             'ROS_LOCALHOST_ONLY': '1'}
    for newer in ('iron', 'jazzy', 'kilted', 'rolling'):
        assert distro.local_discovery_environment(newer) == {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}
