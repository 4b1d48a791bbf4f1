"""ROS 2 nodes: thin rclpy shells over the layers above (sim, runtime, data).

A node holds ROS plumbing only (parameters, topics, services, clocks); the behaviour it exposes
lives in the library it wraps. This is the only package of liquid_control that imports rclpy.
"""
