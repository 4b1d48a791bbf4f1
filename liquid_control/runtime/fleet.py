"""A fleet of control loops stepped together: one batched engine call per tick for many agents.

Used by evaluation to drive many cars, each in its own world, through one engine.
"""

from __future__ import annotations

import time

import numpy as np

from .loop import ControlLoop, PendingStep, TickResult, engine_step


class FleetLoop:
    """Many ``ControlLoop``s (one per agent: a car in its own world) sharing one engine.

    ``tick(now)`` runs every loop's checks, then one batched engine call for all agents that step
    (their states stacked), then each loop's output checks and shaping: each agent gets exactly
    what its own ``ControlLoop.tick`` would give it. (The conv heads run per frame as frames
    arrive, in ``ControlLoop.on_frame``; the batched call is the liquid core.)
    """

    def __init__(self, loops: list[ControlLoop]):
        if not loops:
            raise ValueError("a fleet needs at least one control loop")
        engine = loops[0].engine
        if any(loop.engine is not engine for loop in loops):
            raise ValueError("the loops of a fleet must share one engine (pass engine= to ControlLoop)")
        self.loops = loops
        self.engine = engine
        engine.warm_up(len(loops))  # the batched kernels for this many agents, compiled before the first tick

    def tick(self, now: float | list[float], active: list[bool] | None = None) -> list[TickResult | None]:
        """Tick every loop (``active``: only those marked; the others get None) at its time ``now``."""
        times = list(now) if isinstance(now, (list, tuple, np.ndarray)) else [now] * len(self.loops)
        active = active if active is not None else [True] * len(self.loops)
        begun = [loop.begin_tick(t) if on else None for loop, t, on in zip(self.loops, times, active)]
        stepping = [i for i, item in enumerate(begun) if isinstance(item, PendingStep)]
        results: list[TickResult | None] = [item if isinstance(item, TickResult) else None for item in begun]
        if stepping:
            engine = self.engine
            inputs = np.concatenate([begun[i].inputs for i in stepping])
            dts = np.asarray([begun[i].dt for i in stepping], dtype=np.float32)
            states = [self.loops[i].state or engine.initial_state(1) for i in stepping]
            started = time.perf_counter()
            try:
                outputs, state = engine_step(engine, inputs, dts, engine.stack(states))
            except Exception as error:
                for i in stepping:
                    results[i] = self.loops[i].fail_tick(begun[i], error)
                return results
            seconds = time.perf_counter() - started
            for row, (i, agent_state) in enumerate(zip(stepping, engine.unstack(state))):
                results[i] = self.loops[i].end_tick(begun[i], outputs[row], agent_state, seconds)
        return results

