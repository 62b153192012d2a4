"""Area, Fmax and synthesis time of XNOR/popcount layers on ECP5: compressor vs plain tree.

Every number comes from yosys ``synth_ecp5`` (cell counts, wall time) and
nextpnr-ecp5 out-of-context (Fmax), through ``hwtrain.flows.synth``. The plain
adder tree is measured in the same run as the baseline.

Variants (``--variants``):

  tree             popcount="tree", default ``synth_ecp5`` (the baseline of issue 10)
  tree-nowidelut   the same tree with ``synth_ecp5 -nowidelut`` (isolates the
                   effect of the mapping option from that of the structure)
  compressor       popcount="compressor" with ``-nowidelut``
  split            popcount="split" with ``-nowidelut`` (constant weights only:
                   each neuron compresses the smaller of its +1/-1 input sets
                   beside one popcount of the input shared by the layer)

Each layer is an ``XnorPopcountArray`` with ``popcount_out=False`` (inference:
only the fire bits leave the layer, so the compressor merges the threshold
compare into its final adder) and the same pipeline depth for every variant.

    python benchmarks/popcount_area.py                      # full table (long)
    python benchmarks/popcount_area.py --sizes 64x32 --no-pnr
    python benchmarks/popcount_area.py --variants tree,compressor --pnr-variants compressor

Writes ``<out>.json`` (all reports) and ``<out>.md`` (the table).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hwtrain.config import DatapathConfig  # noqa: E402
from hwtrain.errors import HwtrainError  # noqa: E402
from hwtrain.flows.synth import synthesize  # noqa: E402
from hwtrain.hdl.datapath import XnorPopcountArray  # noqa: E402

VARIANTS = {
    "tree": ("tree", ""),
    "tree-nowidelut": ("tree", "-nowidelut"),
    "compressor": ("compressor", "-nowidelut"),
    "split": ("split", "-nowidelut"),
}


def _size(text: str) -> tuple[int, int]:
    k, n = text.lower().split("x")
    return int(k), int(n)


def measure(k, n, weights, variant, *, pipeline, pnr, timeout, work_root) -> dict:
    structure, synth_args = VARIANTS[variant]
    cfg = DatapathConfig(k, n, pipeline=pipeline, weights=weights, popcount=structure,
                         popcount_out=False)
    name = f"pc_{k}x{n}_{weights}_{variant}_p{pipeline}"
    row = {"K": k, "N": n, "weights": weights, "variant": variant, "structure": structure,
           "synth_args": synth_args, "pipeline": pipeline, "synapses": k * n}
    start = time.monotonic()
    try:
        rep = synthesize(XnorPopcountArray(cfg), name, work_dir=work_root / name, pnr=pnr,
                         timeout=timeout, synth_args=synth_args)
    except HwtrainError as e:
        row.update(error=str(e).splitlines()[0], total_seconds=round(time.monotonic() - start, 1))
        return row
    eq = rep.lut4 + 2 * rep.carry
    row.update(lut4=rep.lut4, ccu2c=rep.carry, ff=rep.ff, lut4_eq=eq,
               lut4_eq_per_synapse=round(eq / (k * n), 3), fmax_mhz=rep.fmax_mhz,
               synth_seconds=round(rep.yosys_seconds, 1), merged_modules=rep.merged_modules,
               pnr_seconds=round(rep.nextpnr_seconds, 1) if pnr else None,
               total_seconds=round(time.monotonic() - start, 1))
    return row


def table(rows) -> str:
    head = ("| K x N | weights | variant | LUT4 | CCU2C | FF | LUT4-eq/synapse | Fmax (MHz) "
            "| synth (s) | modules merged |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for r in rows:
        size = f"{r['K']} x {r['N']}"
        if "error" in r:
            lines.append(f"| {size} | {r['weights']} | {r['variant']} | - | - | - | - | - "
                         f"| failed after {r['total_seconds']} s: {r['error'][:80]} | - |")
            continue
        fmax = "-" if r["fmax_mhz"] is None else f"{r['fmax_mhz']:.1f}"
        lines.append(f"| {size} | {r['weights']} | {r['variant']} | {r['lut4']} | {r['ccu2c']} "
                     f"| {r['ff']} | {r['lut4_eq_per_synapse']:.3f} | {fmax} "
                     f"| {r['synth_seconds']} | {r.get('merged_modules', 0)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="64x32,256x64,784x33", help="KxN list")
    ap.add_argument("--weights", default="const,port", help="weight modes")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="variants (see module doc)")
    ap.add_argument("--pipeline", type=int, default=2, help="register stages (same for all)")
    ap.add_argument("--no-pnr", action="store_true", help="skip nextpnr (no Fmax)")
    ap.add_argument("--pnr-variants", default=None,
                    help="place and route only these variants (default: all); the plain "
                         "tree's routing takes tens of minutes from 256 x 64 up")
    ap.add_argument("--timeout", type=float, default=3600, help="per tool run, seconds")
    ap.add_argument("--out", default="benchmarks/results/popcount_area",
                    help="output path without extension")
    ap.add_argument("--work", default="build/bench_popcount", help="synthesis work folder")
    ap.add_argument("--merge", action="store_true",
                    help="keep the rows already in <out>.json, replacing those measured again "
                         "(a long sweep can be run in parts)")
    args = ap.parse_args(argv)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    old = []
    if args.merge and out.with_suffix(".json").exists():
        old = json.loads(out.with_suffix(".json").read_text()).get("rows", [])
    key = lambda r: (r["K"], r["N"], r["weights"], r["variant"])    # noqa: E731
    rows = []
    for size in args.sizes.split(","):
        k, n = _size(size)
        for weights in args.weights.split(","):
            for variant in args.variants.split(","):
                if variant == "split" and weights != "const":
                    continue                    # needs weights known at build time
                pnr = not args.no_pnr and (args.pnr_variants is None
                                           or variant in args.pnr_variants.split(","))
                row = measure(k, n, weights, variant, pipeline=args.pipeline,
                              pnr=pnr, timeout=args.timeout,
                              work_root=Path(args.work).resolve())
                rows.append(row)
                print(json.dumps(row), flush=True)
                # Rewrite after every run so a long sweep leaves partial results.
                new = {key(r) for r in rows}
                every = sorted([r for r in old if key(r) not in new] + rows,
                               key=lambda r: (r["K"] * r["N"], r["weights"], r["variant"]))
                meta = {"command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
                        "host": platform.node(), "python": platform.python_version(),
                        "rows": every}
                out.with_suffix(".json").write_text(json.dumps(meta, indent=1))
                out.with_suffix(".md").write_text(table(every) + "\n")
    print(table(every))
    return 0


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "popcount_area.py"))
