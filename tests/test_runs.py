"""Sweeps on Dask with a results database (hwtrain.flows.runs, `hwtrain runs`).

A local cluster of two worker processes runs a small sweep whose task is cheap (an injected
function standing in for synthesis): one worker is killed while it holds a task and the sweep
still completes with every result in the database; an interrupted sweep resumes and runs only
what is missing; `hwtrain runs list|show|plot` read the database back, and a bad scheduler
address, a missing or corrupt database and an unknown run are one-line errors.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from hwtrain.cli import main                                   # noqa: E402
from hwtrain.flows import sweep                                # noqa: E402
from hwtrain.flows.designs import config_for                   # noqa: E402
from hwtrain.flows.runs import ResultsDB                       # noqa: E402

BASE = config_for("inference", {"sizes": (16, 8), "classes": 4})
VARIANTS = [("parallel:1",), ("parallel:2",), ("serial:1",), ("serial:2",), ("folded:4x8",), ("folded:8x4",)]


def _fake_synthesis(seconds: float):
    """A task with measure()'s parameters and row, taking ``seconds``: pickled by value (a local
    function), so the workers need nothing but hwtrain."""
    def task(config, impl, target, router, harness, work_dir, accuracy, tool_timeout):
        import os
        import time
        time.sleep(seconds)
        pe = sum(map(ord, impl[0])) % 7 + 1
        return {"impl": impl, "lut4": 100 * pe, "carry": pe, "lut4_equivalent": 102 * pe, "ff": 10, "ebr": 0,
                "dsp": 0, "fmax_mhz": 100.0, "cycles_per_sample": 8 // pe + 1, "latency_cycles": 3,
                "latency_ns": 30.0, "samples_per_s": 10**8 // (8 // pe + 1), "accuracy": None,
                "pid": os.getpid()}
    return task


@pytest.fixture(scope="module")
def client():
    import logging
    from dask.distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit=0,
                           dashboard_address="127.0.0.1:0", silence_logs=logging.CRITICAL)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_sweep_survives_a_killed_worker(client, tmp_path):
    killed = {}

    def kill_one(rows):
        if killed:
            return
        for addr, keys in client.processing().items():
            if keys:
                pid = client.run(os.getpid, workers=[addr])[addr]
                held = [",".join(v) for v in VARIANTS if any(f"-{','.join(v)}-" in str(k) for k in keys)]
                killed.update(pid=pid, held=held)
                os.kill(pid, signal.SIGKILL)          # a worker process this test's cluster started
                return

    log = []
    rid, rows = sweep.run(BASE, VARIANTS, tmp_path, task=_fake_synthesis(1.0), client=client,
                          on_row=kill_one, log=log.append)
    assert killed, "no worker held a task after the first result"
    assert [r["impl"] for r in rows] == [list(v) for v in VARIANTS]
    assert all("error" not in r for r in rows), rows
    with ResultsDB(tmp_path) as db:
        results = db.results(rid)
    assert [t["status"] for t in results] == ["done"] * len(VARIANTS)
    # the task the killed worker held ran again on another worker process
    assert killed["held"], killed
    for t in results:
        if t["key"] in killed["held"]:
            assert t["result"]["pid"] != killed["pid"], (t, killed)
    assert len({t["result"]["pid"] for t in results}) >= 2
    # the database reads back through the command line
    assert main(["runs", "list", "--db", str(tmp_path)]) == 0
    assert main(["runs", "show", rid[:4], "--db", str(tmp_path), "--json", str(tmp_path / "run.json")]) == 0
    assert len(json.loads((tmp_path / "run.json").read_text())["tasks"]) == len(VARIANTS)
    assert main(["runs", "plot", "--db", str(tmp_path / "runs.sqlite"), "-o", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_interrupted_sweep_resumes(client, tmp_path):
    landed = []

    def interrupt(rows):
        landed.append(len(rows))
        if len(rows) == 2:
            raise KeyboardInterrupt                 # what Ctrl-C does to `hwtrain sweep`

    with pytest.raises(KeyboardInterrupt):
        sweep.run(BASE, VARIANTS, tmp_path, task=_fake_synthesis(0.3), client=client, on_row=interrupt,
                  log=lambda text: None)
    with ResultsDB(tmp_path) as db:
        (run,) = db.runs()
        first = {t["key"]: t for t in db.results(run["id"]) if t["status"] == "done"}
    assert len(first) == 2

    log = []                                        # resumed through the scheduler's address (--scheduler)
    rid, rows = sweep.run(BASE, VARIANTS, tmp_path, task=_fake_synthesis(0.3),
                          scheduler=client.scheduler.address, log=log.append)
    assert rid == run["id"] and f"{len(VARIANTS) - 2} task(s) to do, 2 done before (resumed)" in log[0]
    assert len(rows) == len(VARIANTS) and all("error" not in r for r in rows)
    with ResultsDB(tmp_path) as db:
        results = {t["key"]: t for t in db.results(rid)}
    assert all(t["status"] == "done" and t["attempts"] == 1 for t in results.values())
    for key, t in first.items():                    # measured once, kept as it was
        assert results[key]["finished"] == t["finished"]

    # more variants on the same settings extend the run; nothing is measured twice
    log = []
    rid2, rows = sweep.run(BASE, VARIANTS + [("serial:4",)], tmp_path, task=_fake_synthesis(0.0), workers=0,
                           log=log.append)
    assert rid2 == rid and "1 task(s) to do" in log[0] and len(rows) == len(VARIANTS) + 1


def test_failed_task_is_recorded_and_retried_on_resume(tmp_path):
    from hwtrain.errors import HwtrainError
    calls = []

    def flaky(config, impl, **_):
        calls.append(impl[0])
        if impl[0] == "serial:1" and calls.count("serial:1") == 1:
            raise HwtrainError("yosys crashed")
        return {"impl": impl, "lut4": 1}

    rid, rows = sweep.run(BASE, VARIANTS[:3], tmp_path, task=flaky, workers=0, log=lambda text: None)
    assert rows[2] == {"impl": ["serial:1"], "error": "task failed: yosys crashed"}
    rid, rows = sweep.run(BASE, VARIANTS[:3], tmp_path, task=flaky, workers=0, log=lambda text: None)
    assert calls == ["parallel:1", "parallel:2", "serial:1", "serial:1"] and "error" not in rows[2]


@pytest.mark.parametrize("argv, message", [
    (["runs", "list", "--db", "{tmp}/none"], "no results database at"),
    (["runs", "show", "--db", "{tmp}/corrupt"], "is not a readable hwtrain results database"),
    (["runs", "show", "nosuchrun", "--db", "{tmp}/good"], "no run 'nosuchrun' in"),
    (["sweep", "--sizes", "16,8", "--classes", "4", "--variant", "serial:1", "--scheduler", "tcp://127.0.0.1:9",
      "--connect-timeout", "0.5", "--out", "{tmp}/s"], "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'"),
    (["sweep", "--sizes", "16,8", "--classes", "4", "--scheduler", "not an address", "--connect-timeout", "0.5",
      "--out", "{tmp}/s"], "cannot reach the Dask scheduler at 'not an address'"),
])
def test_clear_errors(tmp_path, capsys, argv, message):
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "runs.sqlite").write_bytes(b"this is not a database" * 100)
    sweep.run(BASE, VARIANTS[:1], tmp_path / "good", task=_fake_synthesis(0.0), workers=0, log=lambda text: None)
    t = time.monotonic()
    code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert time.monotonic() - t < 20


def test_accuracy_studies_plot_against_size(tmp_path, capsys):
    from hwtrain.flows.runs import ACCURACY_KIND, run_tasks

    def train(hidden, seed, online):
        return {"seed": seed, "online": online, "test_acc": 80.0 + hidden / 32 + seed,
                "config": {"inputs": 64, "hidden": [hidden], "classes": 10}}

    with ResultsDB(tmp_path, create=True) as db:
        for hidden in (32, 128):
            run_tasks(train, {f"online/seed{s}": {"hidden": hidden, "seed": s, "online": True} for s in (1, 2, 3)},
                      db, kind=ACCURACY_KIND, settings={"hidden": hidden}, title=f"h{hidden}", workers=0,
                      log=lambda text: None)
    assert main(["runs", "plot", "--db", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "hidden 32: 2,368 weights, 83.00 +- 0.82 % over 3 run(s)" in out
    assert "hidden 128: 9,472 weights, 86.00 +- 0.82 % over 3 run(s)" in out
    assert (tmp_path / "accuracy.png").stat().st_size > 1000


def test_cli_sweep_writes_database_and_reports(tmp_path, capsys, monkeypatch):
    """`hwtrain sweep` end to end through the command line (the task stands in for synthesis;
    --workers 0 runs it in this process, where the stand-in is patched in)."""
    fake = _fake_synthesis(0.0)
    monkeypatch.setattr(sweep, "measure", lambda **params: fake(**params))
    argv = ["sweep", "--sizes", "16,8", "--classes", "4", "--variant", "parallel:1", "--variant", "serial:1",
            "--workers", "0", "--out", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 task(s) to do" in out and "| serial:1 |" in out and "hwtrain runs show" in out
    assert {p.name for p in tmp_path.iterdir()} >= {"runs.sqlite", "sweep.json", "sweep.md", "sweep.png"}
    assert len(json.loads((tmp_path / "sweep.json").read_text())["rows"]) == 2
    assert main(argv) == 0 and "0 task(s) to do, 2 done before (resumed)" in capsys.readouterr().out


def test_scheduler_handshake_is_retried(monkeypatch):
    """distributed asserts on the scheduler's first reply; one trip is retried, repeated ones are
    reported as an unreachable scheduler, not as an AssertionError."""
    import dask.distributed
    from hwtrain.errors import HwtrainError
    from hwtrain.flows import runs
    tries = []

    class Flaky:
        def __init__(self, address, timeout):
            tries.append(address)
            if len(tries) < fails_until:
                raise AssertionError

        def close(self):
            pass

    monkeypatch.setattr(dask.distributed, "Client", Flaky)
    monkeypatch.setattr(runs.time, "sleep", lambda s: None)
    fails_until = 2
    with runs.dask_client("tcp://127.0.0.1:8786") as c:
        assert isinstance(c, Flaky) and len(tries) == 2
    tries.clear()
    fails_until = 99
    with pytest.raises(HwtrainError, match="cannot reach the Dask scheduler .* handshake failed 3 times"):
        with runs.dask_client("tcp://127.0.0.1:8786"):
            pass
    assert len(tries) == 3


def test_nextpnr_options_reach_the_tasks_and_name_a_new_run():
    plain, todo = sweep.tasks(BASE, VARIANTS[:1])
    tuned, tuned_todo = sweep.tasks(BASE, VARIANTS[:1], pnr_args="--placer-heap-timingweight 40")
    assert "pnr_args" not in plain and "pnr_args" not in todo["parallel:1"]
    assert tuned["pnr_args"] == tuned_todo["parallel:1"]["pnr_args"] == "--placer-heap-timingweight 40"
