"""The lane world: seeded tracks painted on the ground, a 1:5 Ackermann car, its camera, the expert."""
