"""The runtime benchmark's saved results stay readable: `bench --from-json` retabulates the run
docs/runtime.md quotes, also when it was saved before a later key existed."""

from pathlib import Path

from liquid_control.cli import main

SAVED_RUN = Path(__file__).resolve().parents[2] / "docs" / "bench_cpu.json"


def test_the_saved_cpu_run_is_retabulated(capsys):
    assert main(["bench", "--from-json", str(SAVED_RUN)]) == 0
    table = capsys.readouterr().out
    assert "| agents | case | fastest ours |" in table
    assert "training (batch 16 x 24 frames): full step" in table and "core alone" in table
