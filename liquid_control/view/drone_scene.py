"""The drone world as Foxglove scene primitives: the drone, the trees and other obstacles, the
target (and any distractors), the path flown so far."""

from __future__ import annotations

from foxglove.messages import CubePrimitive, CylinderPrimitive, SceneEntity, SceneUpdate, SpherePrimitive, Vector3

from .scene_primitives import WORLD_FRAME, PathSoFar, colour, pose, timestamp

DRONE_RGB, TARGET_RGB, PATH_RGB = (0.1, 0.1, 0.1), (0.9, 0.1, 0.1), (0.1, 0.45, 0.95)
KIND_RGB = {"tree": (0.2, 0.5, 0.15), "bush": (0.15, 0.4, 0.12), "rock": (0.5, 0.5, 0.48),
            "building": (0.6, 0.6, 0.62), "hedge": (0.15, 0.4, 0.12), "block": (0.6, 0.55, 0.5),
            "distractor": (0.2, 0.3, 0.9)}
DRONE_SIZE_M = (0.35, 0.35, 0.1)


class DroneScene:
    """The drone world's ``SceneUpdate`` (``update``), its path (``observe``) and its command as a Twist."""

    def __init__(self, world):
        self.path = PathSoFar(0.1)
        self.reset(world)

    def reset(self, world) -> None:
        """A new episode (a new scene): redraw the obstacles and the target, forget the path."""
        scene = world.scene
        cylinders, spheres = [], []
        for obstacle in scene.obstacles:
            x, y, _ = obstacle.position
            rgb = KIND_RGB.get(obstacle.kind, (0.5, 0.5, 0.5))
            if obstacle.kind == "distractor":
                radius = float(obstacle.size[0])
                spheres.append(SpherePrimitive(pose=pose(*obstacle.position), color=colour(rgb),
                                               size=Vector3(x=2 * radius, y=2 * radius, z=2 * radius)))
                continue
            diameter = 2 * float(obstacle.radius)
            cylinders.append(CylinderPrimitive(pose=pose(x, y, obstacle.top / 2), bottom_scale=1.0, top_scale=1.0,
                                               size=Vector3(x=diameter, y=diameter, z=float(obstacle.top)),
                                               color=colour(rgb, 0.85)))
        r = float(scene.target_radius)
        spheres.append(SpherePrimitive(pose=pose(*scene.target), size=Vector3(x=2 * r, y=2 * r, z=2 * r),
                                       color=colour(TARGET_RGB)))
        self.obstacles, self.targets = cylinders, spheres
        self.path.clear()

    def observe(self, observation) -> None:
        """Every step: the path so far grows (the scene itself is built at its own rate)."""
        s = observation.state
        self.path.add(s.x, s.y, s.z)

    def command_twist(self, command) -> tuple[float, float, float, float, float, float]:
        """The autopilot's velocity command as a Twist's six fields."""
        linear_x, linear_y, linear_z, angular_z = command.to_twist()
        return linear_x, linear_y, linear_z, 0.0, 0.0, angular_z

    def update(self, observation) -> SceneUpdate:
        s = observation.state
        stamp = timestamp(observation.time)
        length, width, height = DRONE_SIZE_M
        entities = [
            SceneEntity(timestamp=stamp, frame_id=WORLD_FRAME, id="obstacles", cylinders=self.obstacles),
            SceneEntity(timestamp=stamp, frame_id=WORLD_FRAME, id="target", spheres=self.targets),
            SceneEntity(timestamp=stamp, frame_id=WORLD_FRAME, id="drone",
                        cubes=[CubePrimitive(pose=pose(s.x, s.y, s.z, s.yaw), size=Vector3(x=length, y=width, z=height),
                                             color=colour(DRONE_RGB))]),
            SceneEntity(timestamp=stamp, frame_id=WORLD_FRAME, id="path",
                        lines=[self.path.line(PATH_RGB, 0.03)]),
        ]
        return SceneUpdate(entities=entities)
