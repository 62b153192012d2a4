"""Bitstreams for both boards: build time, resources and Fmax of the board top level
(UART + protocol engine + inference core), written to benchmarks/results/board_builds.json.

    nice -n 10 .venv/bin/python benchmarks/board_builds.py [--digits] [--only icebreaker]

Designs: boards/designs/tiny.json (16-8, 4 classes, serial, logits) and, with
--digits, a CP+R digits model 64-64-10 trained here (serial:1, class only); with
--trainer, the on-chip CP+R trainer 64-16 (boards/designs/trainer_cpr_64_16.json); with
--folded CONFIG (a FoldedTrainConfig as a JSON file or inline) the folded trainer behind the
WORDS link, at --clock-mhz from the ULX3S's PLL:

    nice -n 10 .venv/bin/python benchmarks/board_builds.py --only ulx3s --designs folded \
        --folded '{"algorithm":"cpr","inputs":64,"hidden":[32],"classes":10,"batch":1,"pe":[8],"simd":[16]}' \
        --clock-mhz 100

--record REPORT (a report_hwtrain.json of an `hwtrain build` run) --label NAME records a build
made outside this script. Folded rows carry the host link's bound (``folded_link_bound``).
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
from hwtrain.boards.design import folded_link_bound  # noqa: E402
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
    ap.add_argument("--folded", help="a folded trainer configuration (JSON file or inline JSON): label 'folded'")
    ap.add_argument("--clock-mhz", type=float, help="PLL clock of the ULX3S builds (default: the board clock)")
    ap.add_argument("--record", type=Path, help="record this report_hwtrain.json instead of building")
    ap.add_argument("--label", help="the design label of --record")
    ap.add_argument("--note", help="a note stored with the --record row (e.g. which engine version)")
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
    if args.record:
        rep = json.loads(args.record.read_text())
        from hwtrain.args import read_config_text
        row = {"board": rep["board"], "design": args.label or rep["design"], "top": rep["design"],
               "config": rep.get("config") or (read_config_text(args.folded) if args.folded else None), "ok": bool(rep["bitstream"]), "fmax_mhz": rep["fmax_mhz"],
               "clock_mhz": rep["clock_mhz"], "pll": rep.get("pll", ""), "baud": rep["baud"],
               "utilization": {c: u for c, u in rep["utilization"].items() if u["used"]},
               "bitstream": rep["bitstream"], "seconds": rep["seconds"], "recorded_from": str(args.record)}
        if args.note:
            row["note"] = args.note
        if not row["ok"] and row["fmax_mhz"] and row["fmax_mhz"] < row["clock_mhz"]:
            row["refusal"] = f"Fmax {row['fmax_mhz']} MHz < {row['clock_mhz']:g} MHz (PLL clock)"
        if rep["spec"].get("engine") == 3 and row["config"]:
            from hwtrain.golden.trainer_folded import FoldedTrainConfig
            fcfg = FoldedTrainConfig.from_dict(row["config"])
            row["link_bound"] = link_bounds(fcfg)
            row["engine"] = engine_rate(fcfg, row["clock_mhz"])
        print(json.dumps(row, indent=1))
        rows = [x for x in rows if (x["board"], x["design"]) != (row["board"], row["design"])] + [row]
        args.out.write_text(json.dumps(rows, indent=2))
        return 0
    if args.folded:
        from hwtrain.args import read_config_text
        from hwtrain.flows.designs import config_for
        values = read_config_text(args.folded)
        designs["folded"] = config_for(f"trainer_{values.get('algorithm', 'cpr')}_folded", values)
    for board in [args.only] if args.only else ["icebreaker", "ulx3s"]:
        for label, design in designs.items():
            cfg = design if label == "folded" else config_from_design(design)
            wall, cpu = time.monotonic(), cpu_seconds()
            row = {"board": board, "design": label, "config": cfg.to_dict(),
                   "load_average": os.getloadavg()[0]}
            if label == "folded":
                row["link_bound"] = link_bounds(cfg)
                row["engine"] = engine_rate(cfg, args.clock_mhz or 25.0)
            try:
                r = build_board(board, cfg, clock_mhz=args.clock_mhz if board == "ulx3s" else None)
                row.update(ok=True, fmax_mhz=r.fmax_mhz, clock_mhz=r.clock_mhz, pll=r.pll,
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


def engine_rate(cfg, clock_mhz: float) -> dict:
    """The engine's own training rate at the clock (the golden cycle formula): no row updated,
    and one winner row updated in every layer (docs/trainer_folded.md)."""
    from hwtrain.golden.trainer_folded import cycles_per_sample
    quiet = cycles_per_sample(cfg)
    one = cycles_per_sample(cfg, [1] * cfg.layers, True)
    return {"clock_mhz": clock_mhz, "cycles_no_update": quiet, "cycles_one_row_per_layer": one,
            "samples_per_s": [round(clock_mhz * 1e6 / one), round(clock_mhz * 1e6 / quiet)]}


def link_bounds(cfg) -> list:
    """The host link's bound at 115,200 Bd and 3 MBd (the ULX3S's FT231X), one TRAIN per frame."""
    return [folded_link_bound(cfg, baud) for baud in (115200, 3_000_000)]


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "board_builds.py"))
