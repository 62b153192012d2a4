"""Calibration of `hwtrain fold`'s LUT4/FF estimate from place-and-route runs of real cores.

    nice -n 10 .venv/bin/python benchmarks/inference_plan_calibration.py
    .venv/bin/python benchmarks/inference_plan_calibration.py --fit-only     # refit, no synthesis

Synthesizes a few small cores (``CONFIGS``, random weights) with yosys only
(``hwtrain.flows.synth.synthesize(..., pnr=False)``, as the sweeps map them), reads every ECP5
(LFE5U-85F) row of the inference sweep JSONs in benchmarks/results (``hwtrain sweep --json``:
the core's configuration and each variant's measured LUT4 and FF, after place and route), fits the linear model of :mod:`hwtrain.flows.inference_plan` (non-negative least squares on
relative error), prints each run's in-sample and leave-one-out error, writes them with the
coefficients to ``--out`` (benchmarks/results/inference_plan_calibration.json) and rewrites the
``MODEL`` block of hwtrain/flows/inference_plan.py (``--no-write-model`` leaves it alone).
A row measured twice (the same core at several commits) counts once, its latest LUT4/FF.
Re-run it after a sweep adds rows or hwtrain/hdl/inference.py changes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hwtrain.flows import inference_plan as ip
from hwtrain.inference.config import InferenceConfig

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

# Small cores that move the model's features apart: store, PE x SIMD, depth, copies, parallel layers.
CONFIGS = {
    "rom": dict(sizes=(64, 32, 16), impl=("folded:8x16", "folded:4x8"), store="rom"),
    "rom_deep": dict(sizes=(128, 32, 16), impl=("folded:4x8", "folded:2x8"), store="rom"),
    "rom_copies": dict(sizes=(256, 64, 32), impl=("folded:32x64:p3:c8", "folded:8x16"), store="rom"),
    "bram": dict(sizes=(256, 64, 32), impl=("folded:16x32", "folded:8x16"), store="bram"),
    "registers": dict(sizes=(64, 32, 16), impl=("folded:8x8", "folded:4x8"), store="registers"),
    "serial": dict(sizes=(64, 32, 16), impl=("serial:4", "serial:2"), store="registers"),
    "parallel": dict(sizes=(64, 32, 16), impl=("parallel:2", "parallel:2"), store="rom"),
    "mixed": dict(sizes=(196, 64, 32), impl=("folded:16x49:p2", "parallel:2"), store="rom"),
}


def synthesized(old: dict) -> list[tuple[InferenceConfig, dict]]:
    """CONFIGS through yosys (records of an earlier run in ``old`` reused when ``--fit-only``)."""
    from hwtrain.flows.designs import design
    from hwtrain.flows.synth import synthesize
    out = []
    for name, c in CONFIGS.items():
        cfg = InferenceConfig(c["sizes"], 10, impl=c["impl"], store=c["store"], classifier_pipeline=3,
                              argmax_pipeline="round")
        key = f"yosys {name}"
        if key in old:
            rec = old[key]
        else:
            print(f"synthesizing {name} ({','.join(cfg.impl)}, {cfg.store}) with yosys ...", flush=True)
            r = synthesize(design("inference").make(cfg), f"fold_cal_{name}", target="ecp5", pnr=False,
                           work_dir=ROOT / "hwtrain-runs" / "fold_cal" / name)
            rec = {"lut4": r.lut4, "ff": r.ff, "name": key, "file": "yosys"}
        out.append((cfg, rec))
    return out


def points() -> list[tuple[InferenceConfig, dict]]:
    seen: dict[str, tuple[InferenceConfig, dict]] = {}
    for path in sorted(RESULTS.glob("inference*.json")):
        d = json.loads(path.read_text())
        if not isinstance(d, dict) or "rows" not in d or "config" not in d:
            continue
        c = d["config"]
        for row in d["rows"]:
            if not row.get("lut4") or not str(row.get("device", "")).startswith("LFE5U-85F"):
                continue
            cfg = InferenceConfig(tuple(c["sizes"]), c["classes"], impl=tuple(row["impl"]),
                                  store=c.get("store", "auto"), popcount=c.get("popcount", "compressor"),
                                  classifier_pipeline=c.get("classifier_pipeline", 1),
                                  argmax_pipeline=c.get("argmax_pipeline", "none"),
                                  register_slices=c.get("register_slices", True))
            name = f"{'-'.join(map(str, cfg.sizes))} {','.join(cfg.impl)} {cfg.store}"
            seen[name] = (cfg, {"lut4": row["lut4"], "ff": row["ff"], "name": name, "file": path.name})
    return list(seen.values())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(RESULTS / "inference_plan_calibration.json"))
    ap.add_argument("--no-write-model", action="store_true")
    ap.add_argument("--fit-only", action="store_true", help="reuse the yosys records in --out")
    args = ap.parse_args(argv)
    old = {}
    if args.fit_only and Path(args.out).is_file():
        old = {r["name"]: r for r in json.loads(Path(args.out).read_text())["points"]}
    pts = synthesized(old) + points()
    model, report = ip.fit(pts)
    print(f"{len(pts)} runs ({len(CONFIGS)} yosys-only); coefficients:")
    for key, coef in model.items():
        if key != "error":
            print(f"  {key}: " + ", ".join(f"{k} {v}" for k, v in coef.items()))
    print(f"{'run':<90} {'LUT4 in/loo':>14} {'FF in/loo':>14}")
    for name in report["in_sample"]:
        i, o = report["in_sample"][name], report["leave_one_out"][name]
        print(f"{name:<90} {i['lut4']:+6.0%}/{o['lut4']:+6.0%} {i['ff']:+6.0%}/{o['ff']:+6.0%}")
    print(f"worst: in-sample {report['in_sample_max']}, leave-one-out {report['leave_one_out_max']}")
    Path(args.out).write_text(json.dumps({
        "command": "python benchmarks/inference_plan_calibration.py" + (" --fit-only" if args.fit_only else ""),
        "points": [{"name": r["name"], "file": r["file"], "lut4": r["lut4"], "ff": r["ff"],
                    "features": ip.features(c)} for c, r in pts],
        "model": model, "report": report}, indent=1))
    print(f"wrote {args.out}")
    if not args.no_write_model:
        from hwtrain.flows.trainer_plan import write_model
        write_model(model, Path(ip.__file__), script="inference_plan_calibration.py")
        print(f"rewrote the MODEL of {ip.__file__}")
    return 0


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "inference_plan_calibration.py"))
