"""Sweep the implementation choices of an inference core through synthesis.

For each variant: resources and Fmax from yosys + nextpnr, latency in ns
(``cfg.latency`` cycles at the measured Fmax), throughput in samples/s
(``Fmax / cfg.cycles_per_sample``). Accuracy is the golden model's on the test
split, which every variant reproduces bit for bit (``hwtrain verify``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from ..core.report import percent
from ..errors import HwtrainError
from ..inference.config import InferenceConfig
from .designs import design
from .synth import synthesize


def sweep(base: InferenceConfig, variants: list[tuple[str, ...]], *, target: str = "ecp5",
          accuracy: float | None = None, router: str | None = None, harness: str | None = None,
          log=print, on_row=None, work_dir: Path | None = None) -> list[dict]:
    """Synthesize every variant (tool logs in ``work_dir/<top>-<target>``, default the synthesis
    flow's own run folder); ``on_row(rows)`` runs after each one (the CLI writes the files then,
    so a long sweep keeps what it has measured)."""
    d = design("inference")
    rows = []
    for i, impl in enumerate(variants, 1):
        cfg = dataclasses.replace(base, impl=impl)
        name = d.top_name(cfg)
        log(f"[{i}/{len(variants)}] {','.join(cfg.impl)} ({cfg.cycles_per_sample} cycles/sample) ...")
        t = time.monotonic()
        row = {"impl": list(cfg.impl), "store": base.store, "cycles_per_sample": cfg.cycles_per_sample,
               "latency_cycles": cfg.latency, "accuracy": accuracy}
        try:
            r = synthesize(d.make(cfg), name, target=target, router=router, harness=harness,
                           work_dir=None if work_dir is None else Path(work_dir) / f"{name}-{target}")
        except HwtrainError as e:
            row.update(error=str(e))
            log(f"    {e}")
            rows.append(row)
            if on_row:
                on_row(rows)
            continue
        row.update(lut4=r.lut4, carry=r.carry, lut4_equivalent=r.lut4_equivalent, ff=r.ff,
                   ebr=r.ebr, dsp=r.dsp, fmax_mhz=r.fmax_mhz, device=r.device,
                   seconds=round(time.monotonic() - t, 1))
        if r.fmax_mhz:
            row["latency_ns"] = round(cfg.latency * 1000.0 / r.fmax_mhz, 1)
            row["samples_per_s"] = round(r.fmax_mhz * 1e6 / cfg.cycles_per_sample)
        rows.append(row)
        if on_row:
            on_row(rows)
    return rows


def table(rows: list[dict]) -> str:
    head = "| implementation | LUT4 | CCU2C | FF | EBR | Fmax (MHz) | cycles/sample | latency (ns) | samples/s | accuracy |"
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        acc = "" if r.get("accuracy") is None else percent(r["accuracy"])
        if "error" in r:
            lines.append(f"| {','.join(r['impl'])} | does not fit: {r['error']} |||||||||")
            continue
        lines.append(f"| {','.join(r['impl'])} | {r['lut4']} | {r['carry']} | {r['ff']} | {r['ebr']} | "
                     f"{r['fmax_mhz']} | {r['cycles_per_sample']} | {r.get('latency_ns')} | "
                     f"{r.get('samples_per_s', 0):,} | {acc} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path, title: str) -> None:
    """Area against throughput, one point per variant, labelled."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ok = [r for r in rows if "error" not in r and r.get("samples_per_s")]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in ok:
        ax.scatter(r["lut4_equivalent"], r["samples_per_s"], s=40)
        ax.annotate(f"{','.join(r['impl'])}\n{r['latency_ns']} ns", (r["lut4_equivalent"], r["samples_per_s"]),
                    textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("LUT4 equivalents (LUT4 + 2 x CCU2C)")
    ax.set_ylabel("throughput (samples/s at Fmax)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(rows: list[dict], base: InferenceConfig, out: Path, title: str) -> list[Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    js, md, png = out.with_suffix(".json"), out.with_suffix(".md"), out.with_suffix(".png")
    js.write_text(json.dumps({"config": base.to_dict(), "rows": rows}, indent=2))
    md.write_text(table(rows) + "\n")
    plot(rows, png, title)
    return [js, md, png]
