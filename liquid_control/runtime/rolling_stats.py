"""Percentiles over a window of recent samples: the latencies and tick times a node reports on /diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class RollingStats:
    """Percentiles over the last ``size`` samples (for diagnostics)."""

    size: int = 500
    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)
        if len(self.values) > self.size:
            del self.values[: len(self.values) - self.size]

    def percentile(self, q: float) -> float | None:
        return float(np.percentile(self.values, q)) if self.values else None
