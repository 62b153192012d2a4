#!/usr/bin/env python
"""BEP-TT on chip: the engine's hardware-exact test accuracy on a UCR set (3-fold CV), beside golden and paper.

    nice -n 10 .venv/bin/python benchmarks/trainer_rnn_accuracy.py -d italy_power \
        --seeds 1,2,3 --epochs 50 \
        --out benchmarks/results/trainer_rnn_accuracy_italy_power.json

The engine ``hwtrain.hdl.trainer_rnn.RnnTrainer`` (design ``trainer_bep_tt``) equals its golden twin
``RnnGolden`` bit for bit: every prediction, clock count, hidden weight and counter
(tests/test_trainer_rnn.py in the Amaranth simulator, sim/test_trainer_rnn_rtl.py and
benchmarks/trainer_rnn_rtl.py through the Verilog). So training ``RnnGolden`` the way the engine and
its host driver (``hwtrain.trainer_rnn_host.RnnTrainerHost``) train gives the engine's weights after
every epoch, and their test accuracy is the hardware's ("hardware-exact"), at NumPy speed.

Protocol: the golden table's (benchmarks/train_accuracy.py, the commands in
benchmarks/results/beptt_*.json): the official train and test splits merged and cut into 3 folds by
``hwtrain.data.presets.binarized`` (PRNG stream 9 of the seed, so the folds depend on the seed),
the last ``--window`` values per sequence, 10-bit thermometer code per channel, 50 epochs, gamma
patience 3, 3 seeds; the configuration and the data come from train_accuracy.py's own ``parse`` and
``build`` (``hwtrain train``'s options), so they are the golden runs' to the bit. Each run's test
accuracy is taken after its last epoch, as in train_accuracy.py; mean +- std (population) over
folds x seeds.

What the engine and its host can do, against the golden table's runs:

* **Online** (batch 1, a reinforcement sweep every ``--batch`` = N/10 steps, REG_EVERY): exactly
  the golden online row's configuration, at 255,255 (K0 = 255 after the expansion layer, SIMD 32,
  B = 16; 190 DP16KD on an LFE5U-85F). Nothing differs: this twin and ``RNNTrainer`` online are
  the same computation (tests/test_trainer_rnn.py::test_golden_twin_is_rnn_trainer_online), so for
  seed 1 the numbers must be, and are checked to be, the golden online JSON's (``golden_agrees``).
* **Mini-batch** (bs = N/10 = 73 or 43, one reinforcement sweep per batch): the engine keeps an
  accumulator word beside every weight word, and at 255,255 that needs ~354 DP16KD of the 208
  (``plan()`` refuses it). The twin runs at the largest K_s = K_y = K0 that ``plan()`` accepts
  with the group size gamma = 15 dividing it (``--mb-hidden``, default found by search: 165,165,
  178 / 177 DP16KD), everything else as the golden mini-batch row (which is 255,255). The two
  differ in network size only (and so in the gamma schedule's divisors: 15, 33, 55, 165 against
  15, 17, 51, 85, 255).
* **Gamma patience**: the host's ``end_epoch`` (``RnnTrainerHost.end_epoch``) runs the golden
  trainer's own ``end_epoch`` on its schedule state and writes REG_GAMMA+0/1 (and the rescaled
  reinforcement thresholds REG_REINFORCE+0..2) between epochs; the training error it feeds it is
  the engine's error counter over the epoch (predictions with the pre-update weights, as
  ``RNNTrainer.train_epoch`` counts them). So the schedule is the golden one.
* **Expansion layer** (10 or 120 thermometer bits to K0 = K_s, the fixed +-1 matrix E of PRNG
  stream EXPAND): on the host (``RnnGolden.expand``); the engine takes a_t. Same values.
* **Classifier**: the BEF prototypes P of the configuration's seed, a ROM in the engine. Same.
* **PRNG**: the reinforcement lanes are the golden ``MATRIX + m`` xorshift32 streams (one lane
  per column, one draw per visit); the sample order is the host's ``order()`` (stream SHUFFLE).
* **Test accuracy**: the engine has no inference-only command; the host reads H_xs, H_ss, H_sy
  (READ_ROW, after FLUSH in mini-batches) and evaluates them with the golden forward pass and P,
  which is what is done here on the twin's (equal) weights.

The JSON records the command line, the configuration and ``plan()`` of each semantics, every
run's test accuracy (and its per-epoch curve, train accuracy, final gamma, engine clocks from
``cycles_per_sample`` / ``flush_cycles``), mean +- std, the golden table's rows and the paper's
number, and wall time. It is written after every run; the same command started again with the same
``--out`` keeps the finished runs and does the rest. Runs single-threaded, one run after another.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import train_accuracy  # noqa: E402  (the golden table's parse/build: same folds, same configuration)

from hwtrain.errors import HwtrainError, require  # noqa: E402
from hwtrain.golden.train.config import TrainConfig  # noqa: E402
from hwtrain.golden.trainer_rnn import (RnnGolden, RnnTrainConfig, cycles_per_sample,  # noqa: E402
                                        flush_cycles, plan, top_name)

# the golden table's commands (benchmarks/results/beptt_<name>.json): window, bs = N/10
DATASETS = {"italy_power": {"window": 24, "batch": 73}, "japanese_vowels": {"window": 15, "batch": 43}}


def golden_rest(dataset: str, data_path, hidden, epochs: int, cv: int, gamma_patience: int,
                window: int | None = None, batch: int | None = None, extra=()) -> list[str]:
    """`hwtrain train` options of the golden table's BEP-TT rows (train_accuracy.py's ``rest``)."""
    d = DATASETS[dataset]
    rest = ["-a", "bep_tt", "-d", dataset, "--hidden", ",".join(map(str, hidden)),
            "--window", str(window or d["window"]), "--batch", str(batch or d["batch"]), "--cv", str(cv),
            "--epochs", str(epochs), "--gamma-patience", str(gamma_patience)]
    if data_path:
        rest += ["--data-path", os.fspath(data_path)]
    return rest + list(extra)


def engine_config(cfg: TrainConfig, simd: int | None = 32) -> RnnTrainConfig:
    """The golden run's TrainConfig as the engine's configuration (+ SIMD, the memory word width)."""
    kw = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(TrainConfig) if f.init}
    ks = cfg.hidden[0]
    return RnnTrainConfig(**kw, simd=min(simd, max(cfg.inputs, ks)) if simd else None)


def build(rest, seed: int, fold: int, online: bool, simd: int | None = 32):
    """(engine configuration, data) of one run, through train_accuracy.py's parse and build."""
    args = train_accuracy.parse(rest)
    args.seed, args.online, args.fold = seed, online, fold
    cfg, data = train_accuracy.build(args)
    return engine_config(cfg, simd), data, args.epochs


def train_twin(cfg: RnnTrainConfig, data, epochs: int) -> dict:
    """Train the engine's golden twin as the engine and its host do (one TRAIN per sequence in the
    host's order, FLUSH at the epoch's end in mini-batches, ``end_epoch`` with the engine's error
    count); the test accuracy after every epoch from the (bit-equal) weights."""
    p = plan(cfg)                                     # what the engine cannot build is refused here
    g = RnnGolden(cfg)
    t = g.t
    xtr, ytr = t.check(data.x_train, data.y_train)
    xte, yte = t.check(data.x_test, data.y_test, "test set")
    ate = t.prepare(xte)                              # the host's expansion layer, once
    n = len(ytr)
    curve, gammas, clocks = [], [], 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        before = g.errors
        for i in g.order(n):
            g.train_sample(xtr[i], int(ytr[i]))
            clocks += cycles_per_sample(cfg, **g.last)
        if cfg.batch > 1:
            g.flush()                                 # the host's FLUSH: the epoch's short last batch
            clocks += flush_cycles(cfg, **g.last_flush)
        e = (g.errors - before) / n                   # REG_ERRORS over the epoch
        curve.append(100 * float((t.predict(ate) == yte).mean()))
        g.end_epoch(e)                                # host schedules -> REG_REINFORCE, REG_GAMMA
        gammas.append(list(g.registers()["gamma"]))
    wall = time.perf_counter() - t0
    return {"test_acc": curve[-1], "train_acc": 100 * float((t.predict(xtr) == ytr).mean()),
            "test_acc_per_epoch": [round(a, 2) for a in curve], "gamma_per_epoch": gammas,
            "counters": g.counters(), "steps": t.steps_done, "weights_sha1": weights_digest(g.H),
            "engine_clocks": int(clocks),
            "engine_clocks_per_sequence": clocks / (n * epochs), "n_train": int(n), "n_test": int(len(yte)),
            "ebr": p["ebr"], "wall_s": wall, "sequences_per_s": n * epochs / wall}


def weights_digest(H) -> str:
    """SHA-1 of the hidden weights H_xs, H_ss, H_sy (int32, row-major): equal digests, equal weights."""
    import hashlib
    h = hashlib.sha1()
    for m in H:
        h.update(np.ascontiguousarray(m, dtype=np.int32).tobytes())
    return h.hexdigest()


def run_one(rest, seed: int, fold: int, online: bool, simd: int | None = 32) -> dict:
    cfg, data, epochs = build(rest, seed, fold, online, simd)
    r = train_twin(cfg, data, epochs)
    return {"seed": seed, "fold": fold, **r}


def largest_minibatch_hidden(cfg: RnnTrainConfig, simd: int | None = 32) -> int:
    """The largest K (K_s = K_y = K0 = K) that ``plan()`` accepts for ``cfg``'s mini-batches,
    with its group sizes dividing K."""
    step = int(np.lcm.reduce([int(g) for g in cfg.gamma])) if cfg.gamma else 1
    for k in range(cfg.hidden[0] - cfg.hidden[0] % step, 0, -step):
        try:
            plan(dataclasses.replace(cfg, inputs=k, hidden=(k, k), simd=min(simd or 32, k)))
            return k
        except HwtrainError:
            continue
    raise HwtrainError("no network of this protocol fits the engine in mini-batches")


def golden_rows(dataset: str) -> dict:
    """The golden table's rows (benchmarks/results/beptt_<dataset>[_online].json), if present."""
    out = {}
    for sem, suffix in (("minibatch", ""), ("online", "_online")):
        path = HERE / "results" / f"beptt_{dataset}{suffix}.json"
        if path.exists():
            d = json.loads(path.read_text())
            r = d["runs"][sem]
            out[sem] = {"file": os.path.relpath(path, HERE.parent), "command": d["command"],
                        "test_acc_mean": r["test_acc_mean"], "test_acc_std": r["test_acc_std"],
                        "test_acc": r["test_acc"], "seeds": r["seeds"], "hidden": r["config"]["hidden"],
                        "batch": r["config"]["batch"], "reinforce_every": r["config"]["reinforce_every"],
                        "test_acc_per_epoch": r.get("test_acc_per_epoch")}
    return out


def summarize(block: dict, golden: dict | None) -> None:
    runs = block["runs"]
    accs = [r["test_acc"] for r in runs]
    block.update(test_acc_mean=float(np.mean(accs)) if accs else None,
                 test_acc_std=float(np.std(accs)) if accs else None, test_acc=accs)
    if golden and golden["hidden"] == block["config"]["hidden"] and golden["batch"] == block["config"]["batch"]:
        # same configuration as the golden row: its runs (seed by seed, fold by fold) must be ours
        agree = []
        for i, s in enumerate(golden["seeds"]):
            for f in range(block["cv_folds"]):
                mine = next((r for r in runs if r["seed"] == s and r["fold"] == f), None)
                if mine is not None:
                    theirs = golden["test_acc"][i * block["cv_folds"] + f]
                    agree.append({"seed": s, "fold": f, "golden": theirs, "twin": mine["test_acc"],
                                  "equal": abs(theirs - mine["test_acc"]) < 1e-9
                                  and (golden["test_acc_per_epoch"] is None or
                                       golden["test_acc_per_epoch"][i * block["cv_folds"] + f]
                                       == mine["test_acc_per_epoch"])})
        block["golden_agrees"] = agree


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", "-d", required=True, choices=tuple(DATASETS))
    ap.add_argument("--data-path", default=None, help="directory / file / aeon wheel holding the dataset")
    ap.add_argument("--semantics", choices=("online", "minibatch", "both"), default="both")
    ap.add_argument("--hidden", type=lambda s: tuple(int(v) for v in s.split(",")), default=(255, 255),
                    help="K_s,K_y online (the golden table's 255,255)")
    ap.add_argument("--mb-hidden", type=lambda s: tuple(int(v) for v in s.split(",")), default=None,
                    help="K_s,K_y in mini-batches (default: the largest K,K plan() accepts)")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--cv", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--gamma-patience", type=int, default=3)
    ap.add_argument("--simd", type=int, default=32)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    require(args.cv >= 2, f"--cv must be >= 2 (the golden table's protocol is 3-fold CV), got {args.cv}")
    seeds = [int(s) for s in args.seeds.split(",")]
    command = "nice -n 10 .venv/bin/python " + " ".join(
        [os.path.relpath(__file__)] + (list(argv) if argv is not None else sys.argv[1:]))
    sems = ["online", "minibatch"] if args.semantics == "both" else [args.semantics]
    golden = golden_rows(args.dataset)
    paper = train_accuracy.PAPER.get(("bep_tt", args.dataset, "*"))
    t_start = time.perf_counter()
    res = {"benchmark": "trainer_rnn_accuracy", "command": command, "dataset": args.dataset,
           "machine": platform.processor() or platform.machine(),
           "paper": {"mean": paper[0], "std": paper[1], "source": paper[2]} if paper else None,
           "golden": golden, "semantics": {}}
    old = {}
    if args.out and args.out.exists():
        old = json.loads(args.out.read_text()).get("semantics", {})

    def save():
        res["wall_seconds"] = time.perf_counter() - t_start          # this invocation
        res["run_seconds_total"] = sum(r["wall_s"] for b in res["semantics"].values() for r in b["runs"])
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(res, indent=1))

    for sem in sems:
        online = sem == "online"
        if online:
            hidden = args.hidden
        else:
            big = golden_rest(args.dataset, args.data_path, args.hidden, args.epochs, args.cv, args.gamma_patience)
            hidden = args.mb_hidden or (largest_minibatch_hidden(build(big, 1, 0, False, args.simd)[0], args.simd),) * 2
        rest = golden_rest(args.dataset, args.data_path, hidden, args.epochs, args.cv, args.gamma_patience)
        cfg, _, _ = build(rest, seeds[0], 0, online, args.simd)
        p = plan(cfg)
        block = {"hidden": list(hidden), "design": top_name(cfg), "ebr": p["ebr"], "seeds": seeds,
                 "cv_folds": args.cv, "epochs": args.epochs, "train_options": rest + (["--online"] if online else []),
                 "config": cfg.to_dict(), "runs": []}
        prev = old.get(sem, {})
        keep = prev.get("train_options") == block["train_options"] and prev.get("config", {}).get("simd") == cfg.simd
        done = {(r["seed"], r["fold"]): r for r in prev.get("runs", [])} if keep else {}
        res["semantics"][sem] = block
        for seed in seeds:
            for fold in range(args.cv):
                r = done.get((seed, fold))
                if r is None:
                    r = run_one(rest, seed, fold, online, args.simd)
                    print(f"{sem:9s} {hidden[0]},{hidden[1]} seed {seed} fold {fold}: test {r['test_acc']:.2f}%  "
                          f"train {r['train_acc']:.2f}%  gamma {r['gamma_per_epoch'][-1]}  "
                          f"{r['sequences_per_s']:.0f} sequences/s ({r['wall_s']:.0f} s)", flush=True)
                block["runs"].append(r)
                summarize(block, golden.get(sem))
                save()
        g = golden.get(sem)
        ref = (f"   golden {g['hidden'][0]},{g['hidden'][1]}: {g['test_acc_mean']:.2f} +- {g['test_acc_std']:.2f}"
               if g else "")
        print(f"{sem}: hardware-exact {hidden[0]},{hidden[1]}: {block['test_acc_mean']:.2f} +- "
              f"{block['test_acc_std']:.2f}{ref}" + (f"   paper {paper[0]:.2f} +- {paper[1]:.2f}" if paper else ""),
              flush=True)
        if block.get("golden_agrees"):
            print(f"  same configuration as the golden row: {sum(a['equal'] for a in block['golden_agrees'])} of "
                  f"{len(block['golden_agrees'])} runs equal to it", flush=True)
    save()
    bad = [a for b in res["semantics"].values() for a in b.get("golden_agrees", []) if not a["equal"]]
    return 1 if bad else 0


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "trainer_rnn_accuracy.py"))
