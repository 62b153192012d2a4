"""``hwtrain runs list|show|plot``: what the results database of a run folder holds.

    hwtrain sweep --model m.npz --variant parallel:2 --variant serial:1 --out runs/digits
    hwtrain runs list --db runs/digits                    every run: id, kind, tasks done
    hwtrain runs show [RUN] --db runs/digits              a run's table (RUN: id or its prefix; default latest)
    hwtrain runs plot [RUN] --db runs/digits -o pareto.png  Pareto front of LUT4 against samples/s
    hwtrain runs plot --db runs/acc                       accuracy studies: test accuracy against size

``--db`` is a run folder (its ``runs.sqlite``) or the database file itself
(default ``hwtrain-runs/sweep``). See docs/sweeps.md.
"""

from __future__ import annotations

import datetime
import json

from .. import args as checked
from ..errors import HwtrainError


def add_parser(subparsers):
    p = subparsers.add_parser("runs", help="list, show and plot the runs of a results database (sweeps)")
    sub = p.add_subparsers(dest="runs_cmd", required=True, metavar="list|show|plot")

    def db_option(q):
        q.add_argument("--db", default=None, metavar="FOLDER|FILE",
                       help="run folder holding runs.sqlite, or the database file (default hwtrain-runs/sweep)")

    q = sub.add_parser("list", help="every run in the database: id, kind, tasks done, last update")
    db_option(q)
    q = sub.add_parser("show", help="a run's settings and results table")
    q.add_argument("run", nargs="?", default=None, metavar="RUN", help="run id or a prefix of it (default: latest)")
    db_option(q)
    q.add_argument("--json", type=checked.output_file, default=None,
                   help="write the run (settings and every task) here as JSON")
    q = sub.add_parser("plot", help="a sweep: Pareto front of area against samples/s; an accuracy study "
                                    "(benchmarks/train_accuracy.py): accuracy against size of every study there")
    q.add_argument("run", nargs="?", default=None, metavar="RUN", help="run id or a prefix of it (default: latest)")
    db_option(q)
    q.add_argument("-o", "--output", type=checked.output_file, default=None, metavar="FILE.png",
                   help="image to write (default <run folder>/pareto-<run>.png, or accuracy.png)")
    q.add_argument("--area", choices=("lut4", "lut4_equivalent"), default="lut4",
                   help="area axis: LUT4 (default) or LUT4 + 2 x CCU2C")
    return p


def _db(args):
    from ..flows.runs import ResultsDB
    from ..flows.toolchain import runs_dir
    return ResultsDB(args.db or runs_dir() / "sweep")


def _when(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _columns(rows: list[list[str]]) -> str:
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip() for r in rows)


def _cell(v) -> str:
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:.4g}"
    return str(v)


def _generic_table(results: list[dict]) -> str:
    """One line per task with a result: its key, then every scalar field of the results."""
    done = [r for r in results if r["status"] == "done" and isinstance(r["result"], dict)]
    keys = []
    for r in done:
        keys += [k for k, v in r["result"].items() if k not in keys and not isinstance(v, (dict, list))]
    rows = [["task"] + keys] + [[r["key"]] + [_cell(r["result"].get(k, "")) for k in keys] for r in done]
    return _columns(rows)


def run(args) -> int:
    with _db(args) as db:
        if args.runs_cmd == "list":
            runs = db.runs()
            if not runs:
                print(f"{db.path}: no runs")
                return 0
            rows = [["run", "kind", "done", "failed", "updated", "title"]]
            rows += [[r["id"], r["kind"], f"{r['done']}/{r['tasks']}", str(r["failed"]), _when(r["updated"]),
                      r["title"] or ""] for r in runs]
            print(_columns(rows))
            return 0
        r = db.find(args.run)
        results = db.results(r["id"])
        from ..flows import sweep
        from ..flows.runs import ACCURACY_KIND, accuracy_points, plot_accuracy
        if args.runs_cmd == "plot" and r["kind"] == ACCURACY_KIND:
            out = args.output or db.path.parent / "accuracy.png"
            points = accuracy_points(db)
            plot_accuracy(points, out, f"accuracy studies in {db.path.parent.name}")
            print(f"test accuracy against size, every accuracy study in {db.path}:")
            for p in sorted(points, key=lambda p: (p["semantics"], p["weights"])):
                print(f"  {p['semantics']:9s} hidden {','.join(map(str, p['hidden']))}: {p['weights']:,} weights, "
                      f"{p['mean']:.2f} +- {p['std']:.2f} % over {p['runs']} run(s)  [{p['title']}]")
            print(f"wrote {out}")
            return 0
        if args.runs_cmd == "plot" and r["kind"] != sweep.KIND:
            raise HwtrainError(f"run {r['id']} is a {r['kind']} run; runs plot draws sweeps "
                               f"({sweep.KIND}) and accuracy studies ({ACCURACY_KIND})")
        if args.runs_cmd == "plot":
            out = args.output or db.path.parent / f"pareto-{r['id']}.png"
            rows = sweep.rows_of(db, r["id"])
            front = sweep.plot_pareto(rows, out, r["title"] or f"run {r['id']}", area=args.area)
            measured = [x for x in rows if "error" not in x and x.get("samples_per_s")]
            print(f"{len(measured)} measured variant(s), {len(front)} on the Pareto front of "
                  f"{args.area} against samples/s:")
            for x in front:
                print(f"  {','.join(x['impl'])}: {x[args.area]:,} {args.area}, {x['samples_per_s']:,} samples/s")
            print(f"wrote {out}")
            return 0
        counts = {s: sum(t["status"] == s for t in results) for s in ("done", "failed", "pending")}
        print(f"run {r['id']} ({r['kind']}) in {db.path}: {r['title'] or ''}")
        print(f"  created {_when(r['created'])}, updated {_when(r['updated'])}; "
              f"{counts['done']} done, {counts['failed']} failed, {counts['pending']} pending of {len(results)}")
        print("  settings: " + json.dumps(r["settings"], sort_keys=True))
        print(sweep.table(sweep.rows_of(db, r["id"])) if r["kind"] == sweep.KIND else _generic_table(results))
        for t in results:
            if t["status"] != "done":
                print(f"  {t['key']}: {t['status']}" + (f" ({t['error']})" if t["error"] else ""))
        if args.json:
            checked.prepare_output(args.json).write_text(json.dumps({**r, "tasks": results}, indent=1))
            print(f"wrote {args.json}")
    return 0
