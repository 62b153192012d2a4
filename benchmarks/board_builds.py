"""Bitstreams for both boards: build time, resources and Fmax of the board top level
(UART + protocol engine + inference core), written to benchmarks/results/board_builds.json.

    nice -n 10 .venv/bin/python benchmarks/board_builds.py [--digits] [--only icebreaker]

Designs: boards/designs/tiny.json (16-8, 4 classes, serial, logits) and, with
--digits, a CP+R digits model 64-64-10 trained here (serial:1, class only); with
--trainer, the on-chip CP+R trainer 64-16 (boards/designs/trainer_cpr_64_16.json).
"""

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hwtrain.boards.build import build_board  # noqa: E402
from hwtrain.boards.design import config_from_design  # noqa: E402
from hwtrain.errors import HwtrainError  # noqa: E402


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["icebreaker", "ulx3s"])
    ap.add_argument("--digits", action="store_true")
    ap.add_argument("--trainer", action="store_true", help="also the on-chip CP+R trainer 64-16")
    ap.add_argument("--designs", help="comma-separated subset of design labels")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "board_builds.json")
    args = ap.parse_args()
    designs = {"tiny": str(REPO / "boards" / "designs" / "tiny.json")}
    if args.digits:
        from hwtrain.cli import main as cli
        model = REPO / "build" / "boards" / "digits_cpr_64.npz"
        model.parent.mkdir(parents=True, exist_ok=True)
        if not model.exists():
            assert cli(["train", "-a", "cpr", "-d", "digits", "--hidden", "64", "-q", "-o", str(model)]) == 0
        designs["digits64"] = str(model)
    if args.trainer:
        designs["trainer_cpr_64_16"] = str(REPO / "boards" / "designs" / "trainer_cpr_64_16.json")
    if args.designs:
        designs = {k: v for k, v in designs.items() if k in args.designs.split(",")}
    rows = json.loads(args.out.read_text()) if args.out.exists() else []
    for board in [args.only] if args.only else ["icebreaker", "ulx3s"]:
        for label, design in designs.items():
            cfg = config_from_design(design)
            wall, cpu = time.monotonic(), cpu_seconds()
            row = {"board": board, "design": label, "config": cfg.to_dict(),
                   "load_average": os.getloadavg()[0]}
            try:
                r = build_board(board, cfg)
                row.update(ok=True, fmax_mhz=r.fmax_mhz, clock_mhz=r.clock_mhz,
                           utilization={c: u for c, u in r.utilization.items() if u["used"]},
                           bitstream=r.bitstream, seconds=r.seconds)
            except HwtrainError as e:
                row.update(ok=False, refusal=str(e))
            row.update(wall_seconds=round(time.monotonic() - wall, 1),
                       tool_cpu_seconds=round(cpu_seconds() - cpu, 1))
            print(json.dumps(row, indent=1))
            rows = [x for x in rows if (x["board"], x["design"]) != (board, label)] + [row]
            args.out.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
