"""The flight-controller adapters as nodes: px4_bridge (PX4 offboard over px4_msgs) and twist_bridge
(MAVROS, ArduPilot). The decisions are in ``liquid_control.autopilots``; these only move messages."""
