"""cocotb bench: the emitted RnnTrainer (BEP-TT) Verilog trains beside its golden twin over whole epochs.

The engine is driven through its host driver (hwtrain.trainer_rnn_host) with
the folded trainer's cocotb word transport, which withholds ``cmd.valid`` and
``resp.ready`` at random (shared PRNG). Per epoch: every training sequence, in
the golden model's shuffled order, goes in (expanded on the host when the
configuration has an expansion layer) and its prediction is compared with the
golden one; the clocks from its last word to its response are compared with
``cycles_per_sample``; then every hidden weight of H_xs, H_ss and H_sy is read
back and compared, and the counters are compared. Between epochs the host runs
the golden schedules from the *engine's* error counter and writes the new
registers. In mini-batches (batch > 1) the host's epoch ends with FLUSH, which
closes a short last batch, and the golden twin's ``flush`` with it; FLUSH's clocks
are compared with ``flush_cycles`` (and counted in ``cycle_checks``).

Parameters: config (RnnTrainConfig dict), dataset ("italy_power",
"japanese_vowels" with optional data_path, or "random"), epochs, n_train
(0: the whole training split), seed, p_in_stall, p_out_stall, and optionally
golden_config (a deliberately different golden model: the negative control).
"""

from __future__ import annotations

import time

import cocotb
import numpy as np

from hwtrain.golden.trainer_rnn import RnnGolden, RnnTrainConfig, cycles_per_sample, flush_cycles, sequence_data
from hwtrain.trainer_rnn_host import RnnTrainerHost
from bench_trainer_folded import WordTransport
from streams import Stalls, bench_params, reset, write_summary


@cocotb.test()
async def trains_bit_exact(dut):
    p = bench_params()
    p.setdefault("dataset", "random")
    p.setdefault("epochs", 1)
    p.setdefault("n_train", 0)
    p.setdefault("seed", 1)
    p.setdefault("p_in_stall", 0.0)
    p.setdefault("p_out_stall", 0.0)
    cfg = RnnTrainConfig.from_dict(p["config"])
    golden = RnnGolden(RnnTrainConfig.from_dict(p.get("golden_config", p["config"])))
    xtr, ytr, xte, yte = sequence_data(cfg, p["dataset"], p.get("data_path"), p["seed"], p["n_train"])
    xe = golden.expand(xtr)
    io = WordTransport(dut, Stalls(p["p_in_stall"], p["seed"]), Stalls(p["p_out_stall"], p["seed"] + 1))
    host = RnnTrainerHost(cfg, io)

    dut.cmd__valid.value = 0
    dut.resp__ready.value = 0
    await reset(dut)
    t0 = time.perf_counter()
    mismatches, first, curve = 0, [], []
    n_samples, cycle_checks, cycles = 0, 0, []
    for epoch in range(p["epochs"]):
        order = golden.order(len(ytr))
        run = await host.train_epoch(xe, ytr)       # the host's own shuffle: must equal the golden order
        if list(run["order"]) != list(order):
            mismatches += 1
            first.append({"epoch": epoch, "order": "differs"})
        for pos, i in enumerate(order):
            want = golden.train_sample(xtr[i], int(ytr[i]))
            got = run["preds"][pos]
            if got != want:
                mismatches += 1
                first.append({"epoch": epoch, "sample": int(i), "pred": got, "want": want})
            c = run["latency"][pos]
            want_c = cycles_per_sample(cfg, **golden.last)
            cycle_checks += 1
            cycles.append(c)
            if c != want_c:
                mismatches += 1
                first.append({"epoch": epoch, "sample": int(i), "cycles": c, "want_cycles": want_c})
        if cfg.batch > 1:
            golden.flush()                          # the host's epoch ended with FLUSH (a short last batch)
            want_c = flush_cycles(cfg, **golden.last_flush)
            cycle_checks += 1
            if run["flush_latency"] != want_c:
                mismatches += 1
                first.append({"epoch": epoch, "flush_cycles": run["flush_latency"], "want_cycles": want_c})
        n_samples += len(order)
        H = await host.read_weights()
        for mi, (a, b) in enumerate(zip(H, golden.H)):
            if not np.array_equal(a, b):
                mismatches += 1
                first.append({"epoch": epoch, "matrix": ["H_xs", "H_ss", "H_sy"][mi],
                              "hidden_weights_differing": int((a != b).sum())})
        counters = await host.counters()
        if counters != golden.counters():
            mismatches += 1
            first.append({"epoch": epoch, "counters": counters, "want": golden.counters()})
        # the weights are the engine's (just compared): the golden model's accuracy is the engine's
        rec = {"epoch": epoch + 1, "train_error_online": run["train_error"], "counters": counters,
               "train_acc": float((golden.predict(xtr) == ytr).mean()),
               "test_acc": float((golden.predict(xte) == yte).mean()) if len(yte) else None}
        curve.append(rec)
        dut._log.info(f"epoch {epoch + 1}: {rec} mismatches so far {mismatches} "
                      f"({time.perf_counter() - t0:.0f} s)")
        golden.end_epoch(run["train_error"])
        await host.end_epoch(run["train_error"])

    write_summary(p, {
        "design": "RnnTrainer", "config": cfg.to_dict(), "dataset": p["dataset"],
        "n_train": int(len(ytr)), "n_test": int(len(yte)), "samples": n_samples, "mismatches": mismatches,
        "first_mismatches": first[:5], "curve": curve, "cycle_checks": cycle_checks,
        "min_cycles_per_train_sample": min(cycles) if cycles else None,
        "max_cycles_per_train_sample": max(cycles) if cycles else None,
        "mean_cycles_per_train_sample": float(np.mean(cycles)) if cycles else None,
        "wall_seconds": time.perf_counter() - t0,
    })
    assert mismatches == 0, f"{mismatches} mismatches vs the golden model: {first[:3]}"
