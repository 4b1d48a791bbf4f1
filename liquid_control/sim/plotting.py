"""The part of the worlds' top-down plots (``lane.plot``, ``drone.plot``) that is the same: axes in
metres, legend, title and the PNG."""

from __future__ import annotations

import os


def finish_top_down(fig, ax, path: str | os.PathLike, title: str) -> None:
    import matplotlib.pyplot as plt

    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
