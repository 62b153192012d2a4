"""LUT levels in front of every flip-flop of synthesized ECP5 designs, without place and route.

    .venv/bin/python benchmarks/lut_levels.py hwtrain-runs/synth/<design>-ecp5 [...] [--top 30] [--out F.json]

Reads each run folder's mapped netlist (``top.json``, written by yosys before nextpnr) and prints
a histogram of flip-flop inputs by the LUT levels of their deepest path and the deepest
endpoints (hwtrain.flows.timing_paths.lut_levels). Place-and-route results of one netlist vary
from seed to seed; this view of the logic does not, and it exists for runs that did not route.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from hwtrain.errors import require
from hwtrain.flows.timing_paths import levels_summary, lut_levels


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run folders (holding top.json) or mapped netlist files")
    ap.add_argument("--top", type=int, default=30, help="deepest endpoints listed per run")
    ap.add_argument("--out", default=None, help="JSON with every run's histogram")
    a = ap.parse_args(argv)
    out = {"benchmark": "lut_levels", "command": "python benchmarks/lut_levels.py " + " ".join(argv or sys.argv[1:]),
           "runs": {}}
    for run in a.runs:
        path = Path(run) / "top.json" if Path(run).is_dir() else Path(run)
        require(path.is_file(), f"{run}: no mapped netlist (expected a run folder with top.json, or the file)")
        try:
            rows = lut_levels(json.loads(path.read_text()))
        except (ValueError, KeyError) as e:
            raise SystemExit(f"lut_levels.py: {path}: not a flattened ECP5 yosys netlist ({e})")
        print(f"== {run}\n{levels_summary(rows, a.top)}\n", flush=True)
        out["runs"][str(run)] = {"histogram": dict(sorted(Counter(r[0] for r in rows).items())),
                                 "deepest": [list(r) for r in list(dict.fromkeys(rows))[:a.top]]}
    if a.out:
        Path(a.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "lut_levels.py"))
