"""Verilog emission time and size of LogicNetwork against gate count; print JSON.

    nice -n 10 .venv/bin/python benchmarks/logic_emit_scale.py --gates 25000,100000,250000 \
        --out benchmarks/results/logic_emit_scale.json

Random layered netlists (784 inputs, 4 layers of equal width, 10 classes),
register after every layer. Linear growth shows as a constant CPU seconds per gate
(CPU time, because wall time depends on what else shares the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

from amaranth.back import verilog

from hwtrain.hdl.logic import LogicNetwork
from hwtrain.logic.netlist import random_netlist


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--gates", default="25000,100000,250000")
    ap.add_argument("--register-every", type=int, default=1)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    rows = []
    for n in (int(g) for g in a.gates.split(",")):
        w = n // 4 // 10 * 10
        nl = random_netlist(784, [w] * 4, 10, seed=1)
        t, c = time.monotonic(), time.process_time()
        text = verilog.convert(LogicNetwork(nl, register_every=a.register_every), name="top", emit_src=False)
        s, cpu = time.monotonic() - t, time.process_time() - c
        rows.append({"gates": nl.gates, "seconds": round(s, 2), "cpu_seconds": round(cpu, 2),
                     "cpu_us_per_gate": round(1e6 * cpu / nl.gates, 1),
                     "verilog_bytes": len(text),
                     "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024})
        print(json.dumps(rows[-1]), flush=True)
    out = {"benchmark": "logic_emit_scale", "register_every": a.register_every, "rows": rows}
    if a.out:
        os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(out, f, indent=1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
