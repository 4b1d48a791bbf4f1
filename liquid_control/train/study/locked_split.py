"""The study's locked test split (docs/study_protocol.md): lane tracks and drone scenes from 2000 on,
and the drone's night domain, are evaluated once, by the final run of a config marked
``locked: true``. Development runs, ``--quick`` runs and benchmarks are refused them, so that no
decision (a fix, a threshold, a setting) is made having seen them."""

from __future__ import annotations

LOCKED_FROM = 2000  # lane tracks and drone scenes from here on
LOCKED_DOMAINS = ("night",)  # drone domains no network flies in before the final run


def refuse_locked(seeds=(), domains=(), what: str = "this run") -> None:
    """Raise ValueError naming what of ``seeds`` (tracks or scenes) and ``domains`` is locked."""
    seeds = sorted(int(s) for s in seeds if int(s) >= LOCKED_FROM)
    domains = sorted(d for d in domains if d in LOCKED_DOMAINS)
    if seeds or domains:
        found = ", ".join(filter(None, [f"tracks/scenes {seeds[0]}-{seeds[-1]}" if seeds else "",
                                        f"domain(s) {', '.join(domains)}" if domains else ""]))
        raise ValueError(f"{what}: {found} belong to the study's locked test split (tracks and scenes from "
                         f"{LOCKED_FROM}, the {', '.join(LOCKED_DOMAINS)} domain), which only the final run of a "
                         "config marked `locked: true` evaluates (docs/study_protocol.md); use development tracks "
                         "and scenes (1000-1999) and the other domains")
