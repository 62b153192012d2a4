"""Tasks on Dask, results in a SQLite database: sweeps that spread over a cluster and resume.

A *run* is one set of tasks with shared settings (for ``hwtrain sweep``: the base
configuration, target and tools; one task per variant). Its id is a digest of
its kind and settings, so running the same sweep again into the same run folder
finds the run and executes only the tasks that have no result yet: an
interrupted sweep resumes, and a sweep given more variants adds them.

Results database: ``<run folder>/runs.sqlite`` (stdlib ``sqlite3``), written by
the process that submits the tasks, one transaction per result as it lands, so
workers never touch it and a remote cluster needs no shared database. Tables:

    runs     id, kind, title, settings (JSON), created, updated (Unix seconds)
    results  run, key, params (JSON), status (pending|done|failed), result (JSON),
             error, worker, attempts, seconds, finished

``done`` holds whatever the task returned (a variant that does not fit is a
result too); ``failed`` is a task that raised or whose worker was lost more
often than the scheduler allows; it runs again on resume.

Executors: ``workers=0`` runs the tasks one after another in this process
(no Dask needed); otherwise an embedded ``LocalCluster`` (``workers`` processes,
one thread each; default as many as cores), or the running scheduler at
``scheduler`` (``tcp://host:8786``). A task function must be importable on the
workers (or pickled by value) and take its parameters as keyword arguments of
JSON values; it returns a JSON-able dict.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from ..errors import HwtrainError

DB_NAME = "runs.sqlite"
SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, title TEXT, settings TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    run TEXT NOT NULL REFERENCES runs(id), key TEXT NOT NULL, params TEXT NOT NULL,
    status TEXT NOT NULL, result TEXT, error TEXT, worker TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    seconds REAL, finished REAL, position INTEGER NOT NULL,
    PRIMARY KEY (run, key));
"""


def db_path(where) -> Path:
    """The database of a run folder (or the file itself, when ``where`` names one)."""
    where = Path(where)
    return where if where.suffix in (".sqlite", ".db") or where.is_file() else where / DB_NAME


def run_id(kind: str, settings: dict) -> str:
    text = json.dumps({"kind": kind, "settings": settings}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


class ResultsDB:
    """The results database of one run folder."""

    def __init__(self, where, *, create: bool = False):
        self.path = db_path(where)
        if not create and not self.path.exists():
            raise HwtrainError(f"no results database at {self.path} (run a sweep with --out "
                               f"{self.path.parent} first)")
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = sqlite3.connect(self.path, timeout=30)
            self.con.row_factory = sqlite3.Row
            if create:
                with self.con:
                    self.con.executescript(_SCHEMA)
                    self.con.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
            row = self.con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        except sqlite3.Error as e:
            raise HwtrainError(f"{self.path} is not a readable hwtrain results database ({e})") from None
        except OSError as e:
            raise HwtrainError(f"cannot create {self.path}: {e.strerror}") from None
        if row is None or row[0] != SCHEMA_VERSION:
            raise HwtrainError(f"{self.path} is a results database of another version "
                               f"(schema {row[0] if row else 'unknown'}, expected {SCHEMA_VERSION})")

    def close(self) -> None:
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _query(self, sql: str, args=()) -> list[sqlite3.Row]:
        try:
            return self.con.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise HwtrainError(f"cannot read {self.path} ({e})") from None

    def begin(self, kind: str, settings: dict, tasks: dict[str, dict], title: str = "") -> tuple[str, list[str]]:
        """Register a run and its tasks (kept when already there); returns the run id and the
        keys of the tasks that have no result yet, in the order given."""
        rid = run_id(kind, settings)
        now = time.time()
        with self.con:
            self.con.execute("INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                             (rid, kind, title, json.dumps(settings, sort_keys=True), now, now))
            base = self.con.execute("SELECT COALESCE(MAX(position) + 1, 0) FROM results WHERE run = ?",
                                    (rid,)).fetchone()[0]
            for i, (key, params) in enumerate(tasks.items()):
                self.con.execute("INSERT OR IGNORE INTO results (run, key, params, status, position) "
                                 "VALUES (?, ?, ?, 'pending', ?)", (rid, key, json.dumps(params), base + i))
        done = {r["key"] for r in self._query("SELECT key FROM results WHERE run = ? AND status = 'done'",
                                              (rid,))}
        return rid, [k for k in tasks if k not in done]

    def record(self, rid: str, key: str, *, result: dict | None = None, error: str | None = None,
               worker: str | None = None, seconds: float | None = None) -> None:
        """One task's outcome, committed at once."""
        now = time.time()
        with self.con:
            self.con.execute(
                "UPDATE results SET status = ?, result = ?, error = ?, worker = ?, seconds = ?, finished = ?, "
                "attempts = attempts + 1 WHERE run = ? AND key = ?",
                ("failed" if error is not None else "done", None if result is None else json.dumps(result),
                 error, worker, seconds, now, rid, key))
            self.con.execute("UPDATE runs SET updated = ? WHERE id = ?", (now, rid))

    def runs(self) -> list[dict]:
        """Every run, newest first, with its task counts."""
        rows = self._query(
            "SELECT r.id, r.kind, r.title, r.settings, r.created, r.updated, COUNT(t.key) AS tasks, "
            "SUM(t.status = 'done') AS done, SUM(t.status = 'failed') AS failed "
            "FROM runs r LEFT JOIN results t ON t.run = r.id GROUP BY r.id ORDER BY r.updated DESC")
        return [{**dict(r), "settings": json.loads(r["settings"]), "done": r["done"] or 0,
                 "failed": r["failed"] or 0} for r in rows]

    def find(self, which: str | None) -> dict:
        """The run whose id starts with ``which`` (None: the latest)."""
        runs = self.runs()
        if not runs:
            raise HwtrainError(f"{self.path} holds no runs")
        if which is None:
            return runs[0]
        hits = [r for r in runs if r["id"].startswith(which)]
        if len(hits) != 1:
            known = ", ".join(r["id"] for r in runs)
            raise HwtrainError(f"{'no' if not hits else 'more than one'} run {which!r} in {self.path}; "
                               f"runs there: {known}")
        return hits[0]

    def results(self, rid: str) -> list[dict]:
        """The tasks of run ``rid`` in the order they were given: key, params, status, result, ..."""
        out = []
        for r in self._query("SELECT * FROM results WHERE run = ? ORDER BY position", (rid,)):
            d = dict(r)
            d["params"] = json.loads(d["params"])
            d["result"] = None if d["result"] is None else json.loads(d["result"])
            out.append(d)
        return out


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def call(fn: Callable, params: dict) -> tuple[dict, str, float]:
    """Run one task on a worker: its result, the worker (host:pid) and the seconds it took."""
    t = time.monotonic()
    result = fn(**params)
    return result, _worker_name(), round(time.monotonic() - t, 3)


def _connect(Client, scheduler: str, timeout: float, attempts: int = 3):
    """``Client(scheduler)``, tried again when the handshake itself trips: distributed asserts
    that the scheduler's first reply is one message, and a scheduler still sending another
    client's cancellations can break that (seen once in CI, 2026-12)."""
    for attempt in range(attempts):
        try:
            return Client(scheduler, timeout=timeout)
        except AssertionError as e:
            if attempt == attempts - 1:
                raise OSError(f"the scheduler's handshake failed {attempts} times ({e or 'assertion'})") from None
            time.sleep(0.2 * (attempt + 1))


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None, *, timeout: float = 10.0):
    """A ``distributed.Client``: of the scheduler at ``scheduler``, else of an embedded LocalCluster."""
    try:
        import logging
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise HwtrainError("sweeps on Dask need dask and distributed: pip install 'hwtrain[dask]' "
                           "(or --workers 0 to run the tasks one after another in this process)") from None
    if scheduler:
        try:
            client = _connect(Client, scheduler, timeout)
        except (ValueError, TypeError) as e:
            raise HwtrainError(f"cannot reach the Dask scheduler at {scheduler!r}: not an address "
                               f"({str(e).splitlines()[0] if str(e) else type(e).__name__}); expected "
                               f"tcp://HOST:PORT") from None
        except (OSError, TimeoutError) as e:
            raise HwtrainError(f"cannot reach the Dask scheduler at {scheduler!r} within {timeout:g} s "
                               f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or os.cpu_count() or 1
    # One thread per worker process: each task runs its own tools (yosys, nextpnr, a simulator).
    # No memory limit: the nanny must not kill a worker for the memory place-and-route needs.
    # The scheduler's HTTP server (dashboard) on any free port, not on 8787 that another may hold.
    try:
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, memory_limit=0,
                               dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
    except Exception as e:              # noqa: BLE001  (any failure to start is reported, not traced)
        raise HwtrainError(f"cannot start a local Dask cluster of {n} workers ({type(e).__name__}: {e})") from None
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def run_tasks(fn: Callable, tasks: dict[str, dict], db: ResultsDB, *, kind: str, settings: dict,
              title: str = "", scheduler: str | None = None, workers: int | None = None,
              timeout: float = 10.0, client=None, log=print,
              on_result: Callable[[str, dict | None, str | None], None] | None = None) -> str:
    """Run ``fn(**params)`` for every task that has no result in ``db`` yet and record each
    outcome as it lands; returns the run id. ``on_result(key, result, error)`` runs after each
    record. ``client``: an existing ``distributed.Client`` to use instead of starting one."""
    rid, todo = db.begin(kind, settings, tasks, title)
    skipped = len(tasks) - len(todo)
    log(f"run {rid} in {db.path}: {len(todo)} task(s) to do"
        + (f", {skipped} done before (resumed)" if skipped else ""))
    if not todo:
        return rid

    def landed(key, result=None, error=None, worker=None, seconds=None):
        db.record(rid, key, result=result, error=error, worker=worker, seconds=seconds)
        landed.count += 1
        log(f"[{skipped + landed.count}/{len(tasks)}] {key}: "
            + (f"failed: {error}" if error else f"done in {seconds} s on {worker}"))
        if on_result:
            on_result(key, result, error)
    landed.count = 0

    if workers == 0 and scheduler is None and client is None:
        for key in todo:
            try:
                result, worker, seconds = call(fn, tasks[key])
            except HwtrainError as e:
                landed(key, error=str(e))
                continue
            landed(key, result, worker=worker, seconds=seconds)
        return rid

    @contextmanager
    def given(c):
        yield c

    if workers is None and scheduler is None:           # as many as cores, but no idle ones
        workers = min(os.cpu_count() or 1, len(todo))
    with (given(client) if client is not None else dask_client(scheduler, workers, timeout=timeout)) as c:
        from dask.distributed import as_completed
        if not c.scheduler_info().get("workers"):
            log("the scheduler has no workers yet: the tasks wait for the first one to join")
        futures = {c.submit(call, fn, tasks[key], pure=False, key=f"hwtrain-{rid}-{i}-{key}-{time.time_ns()}"): key
                   for i, key in enumerate(todo)}
        try:
            for fut in as_completed(futures):
                key = futures[fut]
                try:
                    result, worker, seconds = fut.result()
                except HwtrainError as e:   # what the task says went wrong
                    landed(key, error=str(e))
                    continue
                except Exception as e:      # noqa: BLE001  (any other error of the task, or KilledWorker)
                    text = str(e).splitlines()[0] if str(e) else ""
                    landed(key, error=f"{type(e).__name__}: {text}".rstrip(": "))
                    continue
                landed(key, result, worker=worker, seconds=seconds)
        finally:
            for fut in futures:
                if not fut.done():
                    fut.cancel()
    return rid


ACCURACY_KIND = "train-accuracy"


def accuracy_points(db: ResultsDB) -> list[dict]:
    """One point per (training run set, semantics) of every accuracy study in ``db``: the size of
    the network (binary weights), mean and std of the test accuracy over its seeds and folds."""
    import statistics
    points = []
    for run in db.runs():
        if run["kind"] != ACCURACY_KIND:
            continue
        by_sem: dict[str, list[dict]] = {}
        for t in db.results(run["id"]):
            if t["status"] == "done":
                by_sem.setdefault("online" if t["result"].get("online") else "minibatch", []).append(t["result"])
        for sem, results in sorted(by_sem.items()):
            c = results[0]["config"]
            sizes = [c["inputs"], *c["hidden"], c["classes"]]
            accs = [r["test_acc"] for r in results]
            points.append({"run": run["id"], "title": run["title"], "semantics": sem, "hidden": c["hidden"],
                           "weights": sum(a * b for a, b in zip(sizes, sizes[1:])), "runs": len(accs),
                           "mean": statistics.fmean(accs), "std": statistics.pstdev(accs)})
    return points


def plot_accuracy(points: list[dict], path: Path, title: str) -> None:
    """Test accuracy (mean +- std over seeds) against network size, one series per semantics."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, sem in enumerate(sorted({p["semantics"] for p in points})):
        pts = sorted((p for p in points if p["semantics"] == sem), key=lambda p: p["weights"])
        ax.errorbar([p["weights"] for p in pts], [p["mean"] for p in pts], yerr=[p["std"] for p in pts],
                    marker="o", capsize=3, color=f"C{i}", label=sem)
        for p in pts:
            ax.annotate(",".join(map(str, p["hidden"])), (p["weights"], p["mean"]), textcoords="offset points",
                        xytext=(5, -12), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("binary weights (hidden layers and classifier)")
    ax.set_ylabel("test accuracy (%), mean +- std over seeds")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
