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


def measure(config: dict, impl: list[str], *, target: str = "ecp5", router: str | None = None,
            harness: str | None = None, work_dir: str | None = None, accuracy: float | None = None,
            tool_timeout: float = 3600, pnr_args: str = "") -> dict:
    """One sweep task: synthesize the inference core ``config`` (a configuration dict) in
    implementation ``impl``; its row (resources, Fmax, latency, samples/s, or ``error`` when
    it does not fit; ``tool_timeout``: seconds for yosys and for nextpnr; ``pnr_args``: extra
    nextpnr options). JSON in, JSON out,
    so it runs on any Dask worker that has hwtrain and sees the same files (model, ``work_dir``)."""
    from .designs import config_for
    base = config_for("inference", config)
    d = design("inference")
    cfg = dataclasses.replace(base, impl=tuple(impl))
    name = d.top_name(cfg)
    t = time.monotonic()
    row = {"impl": list(cfg.impl), "store": base.store, "cycles_per_sample": cfg.cycles_per_sample,
           "latency_cycles": cfg.latency, "accuracy": accuracy}
    try:
        r = synthesize(d.make(cfg), name, target=target, router=router, harness=harness, timeout=tool_timeout,
                       pnr_args=pnr_args,
                       work_dir=None if work_dir is None else Path(work_dir) / f"{name}-{target}")
    except HwtrainError as e:
        return {**row, "error": str(e)}
    row.update(lut4=r.lut4, carry=r.carry, lut4_equivalent=r.lut4_equivalent, ff=r.ff,
               ebr=r.ebr, dsp=r.dsp, fmax_mhz=r.fmax_mhz, device=r.device,
               seconds=round(time.monotonic() - t, 1))
    if r.pnr_stopped:                   # nextpnr ran out of time: the resources stand, no Fmax
        row["pnr_stopped"] = r.pnr_stopped
    if r.fmax_mhz:
        row["latency_ns"] = round(cfg.latency * 1000.0 / r.fmax_mhz, 1)
        row["samples_per_s"] = round(r.fmax_mhz * 1e6 / cfg.cycles_per_sample)
    return row


KIND = "inference-sweep"


def tasks(base: InferenceConfig, variants: list[tuple[str, ...]], *, target: str = "ecp5",
          router: str | None = None, harness: str | None = None, work_dir: Path | None = None,
          accuracy: float | None = None, tool_timeout: float = 3600,
          pnr_args: str = "") -> tuple[dict, dict[str, dict]]:
    """The run settings and one task (parameters of :func:`measure`) per variant, keyed by its
    implementations (``folded:4x8,serial:1``)."""
    for impl in variants:
        dataclasses.replace(base, impl=tuple(impl))      # an impl that does not parse fails here
    settings = {"config": {k: v for k, v in base.to_dict().items() if k != "impl"},
                "target": target, "router": router, "harness": harness}
    if pnr_args:                                         # runs without them keep their ids
        settings["pnr_args"] = pnr_args
    if base.model:                                       # a retrained model at the same path is a new run
        import hashlib
        settings["model_sha256"] = hashlib.sha256(Path(base.model).read_bytes()).hexdigest()
    common = {"config": base.to_dict(), "target": target, "router": router, "harness": harness,
              "work_dir": None if work_dir is None else str(Path(work_dir).resolve()), "accuracy": accuracy,
              "tool_timeout": tool_timeout, **({"pnr_args": pnr_args} if pnr_args else {})}
    return settings, {",".join(impl): {**common, "impl": list(impl)} for impl in variants}


def sweep(base: InferenceConfig, variants: list[tuple[str, ...]], *, target: str = "ecp5",
          accuracy: float | None = None, router: str | None = None, harness: str | None = None,
          log=print, on_row=None, work_dir: Path | None = None) -> list[dict]:
    """Synthesize every variant in this process, one after another (tool logs in
    ``work_dir/<top>-<target>``, default the synthesis flow's own run folder); ``on_row(rows)``
    runs after each one. ``run`` does the same on Dask with a results database."""
    _, todo = tasks(base, variants, target=target, router=router, harness=harness, work_dir=work_dir,
                    accuracy=accuracy)
    rows = []
    for i, (key, params) in enumerate(todo.items(), 1):
        log(f"[{i}/{len(todo)}] {key} ...")
        row = measure(**params)
        if "error" in row:
            log(f"    {row['error']}")
        rows.append(row)
        if on_row:
            on_row(rows)
    return rows


def run(base: InferenceConfig, variants: list[tuple[str, ...]], out: Path, *, target: str = "ecp5",
        accuracy: float | None = None, router: str | None = None, harness: str | None = None,
        tool_timeout: float = 3600, title: str = "", scheduler: str | None = None, workers: int | None = None,
        timeout: float = 10.0, pnr_args: str = "",
        log=print, on_row=None, task=None, client=None) -> tuple[str, list[dict]]:
    """The sweep as tasks on Dask (embedded LocalCluster, or ``scheduler``; ``workers=0``: in this
    process), each result written to ``out/runs.sqlite`` as it lands; variants measured before
    in the same run are not measured again. Returns the run id and one row per variant, in the
    order given (a task that failed: ``error``). ``on_row(rows)`` runs after each result with
    the rows so far; ``task`` replaces :func:`measure` (tests)."""
    from .runs import ResultsDB, run_id, run_tasks
    # The golden accuracy is the same for every variant: filled into the rows, not part of the run.
    # The tool timeout is not a setting: a run stopped by it resumes with a longer one.
    settings, todo = tasks(base, variants, target=target, router=router, harness=harness, work_dir=out,
                           tool_timeout=tool_timeout, pnr_args=pnr_args)
    rid = run_id(KIND, settings)
    with ResultsDB(out, create=True) as db:
        run_tasks(task or measure, todo, db, kind=KIND, settings=settings, title=title, scheduler=scheduler,
                  workers=workers, timeout=timeout, log=log, client=client,
                  on_result=None if on_row is None else lambda *_: on_row(rows_of(db, rid, todo, accuracy)))
        return rid, rows_of(db, rid, todo, accuracy)


def rows_of(db, rid: str, only: dict | None = None, accuracy: float | None = None) -> list[dict]:
    """The rows of a sweep run that have results (those of ``only``'s keys, when given), in order;
    a task that failed becomes a row with its ``error``; ``accuracy`` fills rows that have none."""
    rows = []
    for r in db.results(rid):
        if only is not None and r["key"] not in only:
            continue
        if r["status"] == "done":
            row = dict(r["result"])
        elif r["status"] == "failed":
            row = {"impl": r["params"]["impl"], "error": f"task failed: {r['error']}"}
        else:
            continue
        if accuracy is not None and row.get("accuracy") is None:
            row["accuracy"] = accuracy
        rows.append(row)
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


def pareto(rows: list[dict], area: str = "lut4") -> list[dict]:
    """The rows no other row beats: none smaller in ``area`` with at least the samples/s, and none
    faster at no more area. Sorted by area."""
    ok = sorted((r for r in rows if "error" not in r and r.get("samples_per_s") and r.get(area) is not None),
                key=lambda r: (r[area], -r["samples_per_s"]))
    front, best = [], -1
    for r in ok:
        if r["samples_per_s"] > best:
            front.append(r)
            best = r["samples_per_s"]
    return front


def plot_pareto(rows: list[dict], path: Path, title: str, area: str = "lut4") -> list[dict]:
    """Every measured variant as a point of ``area`` against samples/s, the Pareto front as a
    line through its points (labelled); returns the front."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ok = [r for r in rows if "error" not in r and r.get("samples_per_s") and r.get(area) is not None]
    front = pareto(rows, area)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter([r[area] for r in ok], [r["samples_per_s"] for r in ok], s=30, color="0.6",
               label="measured variants")
    ax.step([r[area] for r in front], [r["samples_per_s"] for r in front], where="post", color="C0")
    ax.scatter([r[area] for r in front], [r["samples_per_s"] for r in front], s=45, color="C0",
               label="Pareto front", zorder=3)
    for r in front:
        ax.annotate(",".join(r["impl"]), (r[area], r["samples_per_s"]), textcoords="offset points",
                    xytext=(5, 5), fontsize=8)
    if ok:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel({"lut4": "LUT4", "lut4_equivalent": "LUT4 equivalents (LUT4 + 2 x CCU2C)"}.get(area, area))
    ax.set_ylabel("throughput (samples/s at Fmax)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return front
