"""Packaging for liquid_control: a ROS 2 ament_python package that pip can also install.

colcon (on a ROS host) and pip (in a plain virtual environment) both read this file, so it
keeps to what both understand: setuptools, data_files relative to the install prefix, and
console scripts from entry points.
"""
import glob
import os

from setuptools import find_packages, setup

PACKAGE_NAME = 'liquid_control'

# Folders shipped to share/<package>/ as they are, sub-folders kept. Any of them may be empty
# or missing (a fresh checkout, or before launch files and models exist): glob then finds
# nothing and the package still builds.
SHARED_DIRS = ('launch', 'config', 'models')


def shared_data_files():
    """Return (install_dir, [files]) pairs mirroring SHARED_DIRS under share/<package>/."""
    by_dir = {}
    for top in SHARED_DIRS:
        for path in sorted(glob.glob(os.path.join(top, '**', '*'), recursive=True)):
            if os.path.isfile(path):
                target = os.path.join('share', PACKAGE_NAME, os.path.dirname(path))
                by_dir.setdefault(target, []).append(path)
    return sorted(by_dir.items())


setup(
    name=PACKAGE_NAME,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    data_files=[
        # The ament index marker and package.xml are what make `ros2 run`, `ros2 launch` and
        # ament_index_python.get_package_share_directory() find the package.
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE_NAME]),
        ('share/' + PACKAGE_NAME, ['package.xml']),
        *shared_data_files(),
    ],
    python_requires='>=3.10',
    install_requires=[
        'numpy',
        # Deliberately unpinned: a robot with a system torch must not be made to reinstall it.
        # Development and CI pin the version through requirements/constraints.txt instead.
        'torch>=2.1',
        'safetensors',
        'pyyaml',
        'matplotlib',
        # The lane-keeping simulator: physics and headless rendering, image ops, track geometry,
        # and video/PNG output.
        'mujoco>=3.2',
        'opencv-python-headless',
        'scipy',
        'imageio',
        'imageio-ffmpeg',
        # Training progress bars; PNG strips of demo frames.
        'tqdm',
        'Pillow',
        # rosbag2 bags without ROS (liquid_control.data.bags): rosbags reads and writes them
        # (pinned: data/bags/writer.py flushes through its writer's storage objects); mcap's non-seeking reader
        # salvages the MCAP files of killed recordings.
        'rosbags==0.11.9',
        'mcap',
        # ONNX export of policies, and ONNX Runtime to check (and run) the exported graph.
        'onnx',
        'onnxruntime',
        # The runtime's native backend: liquid-cell steps compiled to machine code
        # (liquid_control/runtime/kernels/).
        'numba>=0.60',
        # The live view without ROS (--live, --mcap): a Foxglove WebSocket server and MCAP writer
        # with Foxglove's well-known schemas, so no protocol is written by hand here.
        'foxglove-sdk>=0.30',
    ],
    extras_require={
        # ROS 2 (Kilted) from PyPI wheels, for machines without a system ROS install. rclpy
        # cannot be imported without an RMW implementation, hence ros-rmw-fastrtps-cpp.
        'ros': [
            'ros-rclpy',
            'ros-rmw-fastrtps-cpp',
            'ros-sensor-msgs',
            'ros-geometry-msgs',
            'ros-std-msgs',
            'ros-std-srvs',
            'ros-diagnostic-msgs',
            'ros-nav-msgs',
            'ros-lifecycle-msgs',
            'ros-rosgraph-msgs',
            'ros-rcl-interfaces',
        ],
        # ROS 2 Jazzy from PyPI wheels instead (the Jazzy test lane, `make test-jazzy`): rclpy 7.1.6
        # with Fast DDS. Never together with `ros` in one environment: both provide rclpy.
        'jazzy': [
            'ros-jazzy-rclpy[fastrtps]',
            'ros-jazzy-sensor-msgs',
            'ros-jazzy-geometry-msgs',
            'ros-jazzy-std-msgs',
            'ros-jazzy-std-srvs',
            'ros-jazzy-diagnostic-msgs',
            'ros-jazzy-nav-msgs',
            'ros-jazzy-lifecycle-msgs',
            'ros-jazzy-rosgraph-msgs',
            'ros-jazzy-rcl-interfaces',
            'ros-jazzy-builtin-interfaces',
            'ros-jazzy-ament-index-python',
        ],
        # The architecture study's attention measures (liquid_control.train.attention): SSIM of
        # saliency maps, clean against noisy.
        'study': [
            'scikit-image',
        ],
        'test': [
            'pytest',
            'pytest-timeout',
            # `make test` runs the suite on two workers (Makefile: PYTEST_WORKERS).
            'pytest-xdist',
            # The reference implementation our cells are checked against (parity tests).
            'ncps==1.0.1',
            # Writes MCAP files the way other tools do, for the bag reader's tests.
            'mcap-ros2-support',
            # The Python 3.10 check (Humble's Python): the newest language and library features used.
            'vermin',
            # Property-based tests of the control loop's safety invariants.
            'hypothesis',
            # The attention measures' tests (as in the 'study' extra).
            'scikit-image',
            # The lint check (test/test_code_shape.py; configured in ruff.toml).
            'ruff',
            # A headless Foxglove WebSocket client for the live view's tests.
            'websockets',
            # `study --ray` against a real local Ray head and equal tuning (test/train/test_study_ray.py,
            # test/train/test_study_design.py), as in the 'ray' extra.
            'ray[tune]',
            'optuna',
        ],
        # `study CONFIG --ray ADDRESS`: the study's trainings and episodes on a Ray cluster
        # (liquid_control.train.study.ray_runner), and its equal tuning (Ray Tune with an Optuna
        # searcher, liquid_control.train.study.tuning). The driver and every node need the same Ray and Python.
        'ray': [
            'ray[tune]',
            'optuna',
        ],
    },
    zip_safe=False,
    maintainer='liquid_control developers',
    maintainer_email='dev@liquid-control.invalid',
    description='Liquid neural network (LTC, CfC, NCP) control for ROS 2 robots.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'liquid_control = liquid_control.cli:main',
            'lane_sim_node = liquid_control.nodes.lane_sim_node:main',
            'drone_sim_node = liquid_control.nodes.drone_sim_node:main',
            'perception_node = liquid_control.nodes.perception_node:main',
            'controller_node = liquid_control.nodes.controller.main:main',
            'bag_recorder = liquid_control.nodes.bag_recorder:main',
            'px4_bridge = liquid_control.nodes.autopilots.px4_bridge:main',
            'twist_bridge = liquid_control.nodes.autopilots.twist_bridge:main',
        ],
    },
)
