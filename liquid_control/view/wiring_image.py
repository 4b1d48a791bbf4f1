"""The wiring graph drawn with the current activity: an RGB image cheap enough for a few Hz.

``nets.plot.plot_wiring`` draws a wiring with matplotlib (a figure for a report). This renderer
lays the nodes out once (the sensory inputs summarised as one box on the left, then each layer as
a column) and draws the synapses and each neuron's rim in its role's colour once into a
background; per frame it only fills the pixels inside the rims with the neurons' values (blue
negative, white zero, red positive; the scale is the largest |value| seen so far). A core without
a wiring (dense, LSTM) is drawn as a grid.
"""

from __future__ import annotations

import cv2
import numpy as np

from .neurons import NeuronLayout, neuron_layout, wiring_of

ROLE_RGB = {"sensory": (154, 154, 58), "inter": (31, 119, 180), "command": (44, 160, 44),
            "motor": (255, 127, 14), "hidden": (127, 127, 127)}
POLARITY_RGB = {1: (59, 156, 59), -1: (214, 39, 40)}
BACKGROUND = (250, 250, 250)
TEXT = (40, 40, 40)


def activity_colours(values: np.ndarray, scale: float) -> np.ndarray:
    """(N, 3) RGB uint8: blue for -scale, white for 0, red for +scale."""
    t = np.clip(np.asarray(values, dtype=np.float32) / max(scale, 1e-6), -1.0, 1.0)[:, None]
    white = np.array([255.0, 255.0, 255.0])
    red, blue = np.array([200.0, 30.0, 30.0]), np.array([30.0, 70.0, 200.0])
    colours = np.where(t >= 0, white + (red - white) * t, white + (blue - white) * (-t))
    return colours.astype(np.uint8)


class WiringRenderer:
    """Renders ``model``'s neurons (in ``neuron_layout`` order) with their values as (height, width, 3) uint8."""

    def __init__(self, model, width: int = 640, height: int = 360, layout: NeuronLayout | None = None):
        self.layout = layout or neuron_layout(model)
        self.width, self.height = int(width), int(height)
        self.scale = 1e-3
        wiring = wiring_of(model)
        if wiring is not None:
            self.centres, self.radius = self._place_wired(wiring)
        else:
            self.centres, self.radius = self._place_grid(len(self.layout))
        self.background = self._draw_background(wiring)
        self._inside, self._owner = self._discs()

    # ----------------------------------------------------------------- layout, once
    def _place_wired(self, wiring) -> tuple[np.ndarray, int]:
        id_of = [int(name.rsplit(" ", 1)[1]) for name in self.layout.names]
        columns = [[n for n in layer if n in set(id_of)] for layer in wiring.layers]
        tallest = max((len(c) for c in columns), default=1)
        margin_top, margin_bottom = 28, 12
        usable = self.height - margin_top - margin_bottom
        radius = int(max(3, min(14, usable / (2.4 * max(tallest, 1)))))
        xs = np.linspace(self.width * 0.3, self.width * 0.9, len(columns)) if len(columns) > 1 else [self.width * 0.6]
        where = {}
        for x, column in zip(xs, columns):
            ys = (np.linspace(margin_top + radius, self.height - margin_bottom - radius, len(column))
                  if len(column) > 1 else [margin_top + usable / 2])
            for neuron, y in zip(column, ys):
                where[neuron] = (int(round(x)), int(round(y)))
        self._neuron_ids = id_of
        self._where = where
        return np.asarray([where[n] for n in id_of], dtype=np.int32).reshape(-1, 2), radius

    def _place_grid(self, count: int) -> tuple[np.ndarray, int]:
        self._neuron_ids, self._where = [], {}
        if count == 0:
            return np.zeros((0, 2), dtype=np.int32), 0
        columns = int(np.ceil(np.sqrt(count * self.width / self.height)))
        rows = int(np.ceil(count / columns))
        cell = min((self.width - 20) / columns, (self.height - 40) / rows)
        centres = [(int(10 + cell * (i % columns + 0.5)), int(30 + cell * (i // columns + 0.5))) for i in range(count)]
        return np.asarray(centres, dtype=np.int32), int(max(2, cell * 0.4))

    def _draw_background(self, wiring) -> np.ndarray:
        image = np.full((self.height, self.width, 3), BACKGROUND, dtype=np.uint8)
        if wiring is not None and self._where:
            box = (int(self.width * 0.03), 28, int(self.width * 0.13), self.height - 12)
            box_edge = (box[2], (box[1] + box[3]) // 2)
            sensory = wiring.sensory_adjacency_matrix
            for neuron, centre in self._where.items():
                polarity = int(np.sign(sensory[:, neuron].sum())) if sensory is not None else 0
                if sensory is not None and np.any(sensory[:, neuron]):
                    cv2.line(image, box_edge, centre, POLARITY_RGB.get(polarity or 1), 1, cv2.LINE_AA)
            for src, dest in np.argwhere(wiring.adjacency_matrix != 0):
                if src in self._where and dest in self._where and src != dest:
                    colour = POLARITY_RGB[int(np.sign(wiring.adjacency_matrix[src, dest]))]
                    cv2.line(image, self._where[src], self._where[dest], colour, 1, cv2.LINE_AA)
            cv2.rectangle(image, box[:2], box[2:], ROLE_RGB["sensory"], -1)
            cv2.putText(image, f"{self.layout.inputs} inputs", (box[0], box[1] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                        TEXT, 1, cv2.LINE_AA)
        counts: dict[str, int] = {}
        for role in self.layout.roles:
            counts[role] = counts.get(role, 0) + 1
        legend = "   ".join(f"{role} {count}" for role, count in counts.items())
        cv2.putText(image, legend, (int(self.width * 0.3), 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, TEXT, 1, cv2.LINE_AA)
        return image

    def _discs(self) -> tuple[np.ndarray, np.ndarray]:
        """Each neuron's rim drawn into the background once, and the pixels inside it (flat indices,
        and whose they are), so a frame only fills those pixels."""
        labels = np.zeros((self.height, self.width), dtype=np.int32)
        rim = max(1, self.radius // 5)
        for index, ((x, y), role) in enumerate(zip(self.centres, self.layout.roles)):
            cv2.circle(self.background, (int(x), int(y)), self.radius, ROLE_RGB.get(role, ROLE_RGB["hidden"]), -1,
                       cv2.LINE_AA)
            cv2.circle(labels, (int(x), int(y)), max(1, self.radius - rim), index + 1, -1, cv2.LINE_8)
            if self._neuron_ids:  # the wiring's neuron id beside its disc
                cv2.putText(self.background, str(self._neuron_ids[index]), (int(x) + self.radius + 2, int(y) + 4),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.32, TEXT, 1, cv2.LINE_AA)
        inside = np.flatnonzero(labels)
        return inside, labels.reshape(-1)[inside] - 1

    # ----------------------------------------------------------------- per frame
    def render(self, values: np.ndarray) -> np.ndarray:
        """The graph with neuron i filled by ``values[i]`` (the ``neuron_layout`` order)."""
        values = np.asarray(values, dtype=np.float32).reshape(-1)
        if values.size != len(self.layout):
            raise ValueError(f"{values.size} values for {len(self.layout)} neurons")
        finite = values[np.isfinite(values)]
        if finite.size:
            self.scale = max(self.scale, float(np.abs(finite).max()))
        image = self.background.copy()
        image.reshape(-1, 3)[self._inside] = activity_colours(np.nan_to_num(values), self.scale)[self._owner]
        cv2.putText(image, f"|value| scale {self.scale:.2g}", (self.width - 150, self.height - 4),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35, TEXT, 1, cv2.LINE_AA)
        return image
