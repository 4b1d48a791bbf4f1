"""Runtime speed, ours vs ncps 1.0.1 vs ONNX Runtime: the same run as ``python -m liquid_control bench``.

    .venv/bin/python benchmarks/runtime_bench.py [--quick] [--threads 1] [--sections cell,policy,batch,train]
        [--out docs/bench_cpu.json] [--plot docs/images/bench_cpu.png]

Prints one JSON object (the implementation lives in liquid_control/bench so the CLI can run it too).
"""

from __future__ import annotations

import sys

from liquid_control.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "--json", *sys.argv[1:]]))
