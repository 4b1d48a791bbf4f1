"""liquid_control: drive robots with liquid neural networks (LTC, CfC, Neural Circuit Policies) from ROS 2.

Layers: ``nets`` (pure torch networks and the model format); later ``runtime``, ``sim``, ``data``,
``train`` and the rclpy ``nodes``. Only ``nodes`` imports rclpy.
"""

__version__ = "0.1.0"
