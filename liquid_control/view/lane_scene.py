"""The lane world as Foxglove scene primitives: the road's edges and centre line, the car, its path."""

from __future__ import annotations

from foxglove.messages import CubePrimitive, SceneEntity, SceneUpdate, Vector3

from .scene_primitives import WORLD_FRAME, PathSoFar, colour, line_strip, pose, timestamp

EDGE_RGB, CENTRE_RGB, CAR_RGB, PATH_RGB = (0.15, 0.15, 0.15), (0.95, 0.85, 0.2), (0.85, 0.1, 0.1), (0.1, 0.45, 0.95)
CAR_SIZE_M = (0.45, 0.25, 0.15)
TRACK_SPACING_M = 0.5  # the drawn lines keep a point every this many metres


class LaneScene:
    """The lane world's ``SceneUpdate`` (``update``), its path (``observe``) and its command as a Twist."""

    def __init__(self, world):
        self.path = PathSoFar(0.2, z=0.02)
        self.reset(world)

    def reset(self, world) -> None:
        """A new episode (a new track): redraw the road, forget the path."""
        track = world.track
        every = max(1, int(round(TRACK_SPACING_M / track.ds)))
        points, normal = track.points[::every], track.normal[::every]
        half = track.road_half_width
        closed = bool(track.closed)
        self.track_lines = [line_strip(points + normal * half, EDGE_RGB, 0.05, 0.01, closed),
                            line_strip(points - normal * half, EDGE_RGB, 0.05, 0.01, closed),
                            line_strip(points, CENTRE_RGB, 0.04, 0.01, closed)]
        self.car_spec = world.config.car
        self.path.clear()

    def observe(self, observation) -> None:
        """Every step: the path so far grows (the scene itself is built at its own rate)."""
        self.path.add(observation.car.x, observation.car.y)

    def command_twist(self, command) -> tuple[float, float, float, float, float, float]:
        """The car's command (speed, steering angle) as a Twist's six fields (the bicycle relation)."""
        linear_x, angular_z = command.to_twist(self.car_spec)
        return linear_x, 0.0, 0.0, 0.0, 0.0, angular_z

    def update(self, observation) -> SceneUpdate:
        car = observation.car
        stamp = timestamp(observation.time)
        length, width, height = CAR_SIZE_M
        entities = [
            SceneEntity(timestamp=stamp, frame_id=WORLD_FRAME, id="track", lines=self.track_lines),
            SceneEntity(timestamp=stamp, frame_id=WORLD_FRAME, id="car",
                        cubes=[CubePrimitive(pose=pose(car.x, car.y, height / 2, car.yaw),
                                             size=Vector3(x=length, y=width, z=height), color=colour(CAR_RGB))]),
            SceneEntity(timestamp=stamp, frame_id=WORLD_FRAME, id="path",
                        lines=[self.path.line(PATH_RGB, 0.04)]),
        ]
        return SceneUpdate(entities=entities)
