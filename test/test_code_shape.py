"""The code's shape: ruff passes (ruff.toml), and no package file grows past ~400 lines unannounced.

A package file may be longer when its first lines say why ("longer than 400 lines because ...").
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINE_LIMIT = 400
REASON = "longer than 400 lines because"


def _ruff() -> list[str]:
    beside_python = Path(sys.executable).with_name("ruff")
    if beside_python.exists():
        return [str(beside_python)]
    if shutil.which("ruff"):
        return ["ruff"]
    pytest.fail("ruff is not installed: `pip install -e .[test]` installs it (the 'test' extra)")


def test_ruff_passes_on_the_repository():
    done = subprocess.run([*_ruff(), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"ruff check found problems (fix them, or `ruff check --fix .`):\n{done.stdout}"


def test_no_package_file_is_over_the_line_limit_without_a_reason_at_its_top():
    too_long = []
    for path in sorted((ROOT / "liquid_control").rglob("*.py")):
        lines = path.read_text().splitlines()
        if len(lines) > LINE_LIMIT and REASON not in " ".join(lines[:15]).lower():
            too_long.append(f"{path.relative_to(ROOT)}: {len(lines)} lines")
    assert not too_long, (f"split these files (one idea per file), or say at their top why they are "
                          f"{REASON!r} ...: {too_long}")
