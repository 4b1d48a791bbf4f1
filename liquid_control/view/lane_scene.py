"""The lane world as Foxglove scene primitives: the road's edges and centre line, the car, its path."""

from __future__ import annotations

from foxglove.messages import CubePrimitive, SceneEntity, SceneUpdate, Vector3

from .scene_primitives import WORLD_FRAME, PathSoFar, colour, line_strip, pose, timestamp

EDGE_RGB, CENTRE_RGB, CAR_RGB, PATH_RGB = (0.15, 0.15, 0.15), (0.95, 0.85, 0.2), (0.85, 0.1, 0.1), (0.1, 0.45, 0.95)
CAR_SIZE_M = (0.45, 0.25, 0.15)
TRACK_SPACING_M = 0.5  # the drawn lines keep a point every this many metres


class LaneScene:
    """Builds the lane world's ``SceneUpdate`` at each call of ``update(observation)``."""

    def __init__(self, world):
        self.path = PathSoFar(0.2)
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
        self.path.clear()

    def update(self, observation) -> SceneUpdate:
        car = observation.car
        self.path.add(car.x, car.y)
        stamp = timestamp(observation.time)
        length, width, height = CAR_SIZE_M
        entities = [
            SceneEntity(timestamp=stamp, frame_id=WORLD_FRAME, id="track", lines=self.track_lines),
            SceneEntity(timestamp=stamp, frame_id=WORLD_FRAME, id="car",
                        cubes=[CubePrimitive(pose=pose(car.x, car.y, height / 2, car.yaw),
                                             size=Vector3(x=length, y=width, z=height), color=colour(CAR_RGB))]),
            SceneEntity(timestamp=stamp, frame_id=WORLD_FRAME, id="path",
                        lines=[line_strip(self.path.array(), PATH_RGB, 0.04, 0.02)]),
        ]
        return SceneUpdate(entities=entities)
