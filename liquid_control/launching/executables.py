"""Finding a node's executable as ``ros2 run`` does, and the command line that starts it.

liquid_control's executables are its console_scripts entry points (setup.py), read from the installed
distribution's metadata and started as ``module:function`` with this Python: no activated venv or
scripts on PATH needed. Another package's executable is ``<prefix>/lib/<package>/<executable>``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from importlib.metadata import EntryPoint, PackageNotFoundError, distribution
from pathlib import Path

from .package_share import PACKAGE, find_package_share

ENTRY_POINT_GROUP = 'console_scripts'


def package_entry_points(package: str = PACKAGE) -> dict[str, EntryPoint]:
    """The console_scripts entry points of an installed Python distribution, by executable name."""
    try:
        entry_points = distribution(package).entry_points
    except PackageNotFoundError:
        raise LookupError(f"package '{package}' is not installed (pip install -e .), so its executables "
                          "are unknown") from None
    return {entry_point.name: entry_point for entry_point in entry_points if entry_point.group == ENTRY_POINT_GROUP}


def entry_point_command(entry_point: EntryPoint) -> list[str]:
    """Start ``module:function`` with this Python as its console script would (argv[0] the executable's name)."""
    imported = entry_point.attr.partition('.')[0]
    code = (f'import sys; from {entry_point.module} import {imported}; sys.argv[0] = "{entry_point.name}"; '
            f'sys.exit({entry_point.attr}())')
    return [sys.executable, '-c', code]


def _module_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def executable_command(package: str, executable: str) -> list[str]:
    """The command that starts a package's executable; LookupError says why there is none."""
    if package == PACKAGE:
        known = package_entry_points(package)
        entry_point = known.get(executable)
        if entry_point is None:
            raise LookupError(f"package '{package}' has no executable '{executable}' (its {ENTRY_POINT_GROUP} "
                              f"entry points: {', '.join(sorted(known)) or 'none'})")
        if not _module_exists(entry_point.module):
            where = Path(distribution(package).locate_file('')).resolve()
            raise LookupError(f"executable '{executable}' is the entry point {entry_point.value}, but there is no "
                              f"module {entry_point.module}: {package}'s metadata found first (in {where}) is out "
                              "of date; reinstall with pip install -e .")
        return entry_point_command(entry_point)
    share = find_package_share(package)
    # Where `ros2 run` looks: <prefix>/lib/<package>/<executable>, share being <prefix>/share/<package>.
    path = share.parent.parent / 'lib' / package / executable
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise LookupError(f"package '{package}' has no executable '{executable}' (looked for {path})")
    return [str(path)]
