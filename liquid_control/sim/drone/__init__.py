"""The drone world: a quadrotor with a velocity autopilot and an onboard camera, flying to a target
in seeded procedural scenes (forest, town; summer training domain, held-out looks).

Modules: ``quadrotor`` (spec, MJCF body, rotor allocation), ``autopilot`` (VelocityCommand, limits,
the control cascade), ``scene`` (make_scene, domains), ``world`` (DroneWorld, its config and
observations), ``expert`` (DroneExpert), ``metrics`` (FlightMetrics), ``fly`` (the episode
runner), ``plot`` (top-down flight plot). Import from the modules; this package imports nothing
heavy on its own.
"""
