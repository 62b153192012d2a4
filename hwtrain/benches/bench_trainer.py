"""cocotb bench: the emitted OnlineTrainer Verilog trains beside its golden twin over whole epochs.

The engine is driven through the same host driver a board will use
(hwtrain.trainer_host.TrainerHost) with a cocotb transport that withholds
``cmd.valid`` and ``resp.ready`` at random (shared PRNG). Per epoch: every
training sample, in the golden model's shuffled order, goes in and its
prediction is compared with the golden one; the cycles from acceptance to the
response are compared with ``OnlineTrainer.cycles_per_sample``; then the
pending reinforcement is flushed, every hidden weight of every layer is read
back and compared, the counters are compared, and the test accuracy of the
read-back weights is recorded. Between epochs the host runs the golden
schedules (reinforcement rescale, group size) from the *engine's* error
counter and writes the new registers.

Parameters: config (TrainConfig dict), dataset ("digits" or
"random_prototypes"), epochs, n_train, n_test, seed, p_in_stall, p_out_stall,
and optionally golden_config (a deliberately different golden model: the
negative control).
"""

from __future__ import annotations

import time

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

from hwtrain.data.presets import binarized
from hwtrain.golden.train.config import TrainConfig
from hwtrain.golden.train import rules
from hwtrain.golden.trainer import OnlineTrainer as Golden
from hwtrain.hdl.trainer import OnlineTrainer
from hwtrain.trainer_host import TrainerHost, cmd_word
from streams import Stalls, bench_params, reset, write_summary

CLOCK_NS = 10                    # streams.reset starts a 10 ns clock


class CocotbTransport:
    """The engine's command/response streams, driven around the falling clock edge."""

    def __init__(self, dut, in_st: Stalls, out_st: Stalls):
        self.dut, self.in_st, self.out_st = dut, in_st, out_st
        self.t_in = 0
        self.latency = None          # clock edges from acceptance to the first valid response

    async def put(self, op, arg, data):
        dut = self.dut
        while self.in_st.stall():
            await FallingEdge(dut.clk)
        dut.cmd__payload.value = cmd_word(op, arg, data)
        dut.cmd__valid.value = 1
        while True:
            await ReadOnly()
            if int(dut.cmd__ready.value):
                break
            await FallingEdge(dut.clk)
        self.t_in = get_sim_time("ns")
        await FallingEdge(dut.clk)
        dut.cmd__valid.value = 0

    async def get(self):
        dut = self.dut
        self.latency = None
        while True:
            if not int(dut.resp__valid.value):
                await RisingEdge(dut.resp__valid)      # skip the compute stretch cheaply
                await FallingEdge(dut.clk)
            if self.latency is None:
                # valid rose after a rising edge; this falling edge is half a cycle later
                self.latency = round((get_sim_time("ns") - self.t_in) / CLOCK_NS)
            ready = not self.out_st.stall()
            dut.resp__ready.value = int(ready)
            await ReadOnly()
            if ready and int(dut.resp__valid.value):
                data = int(dut.resp__payload.value)
                await FallingEdge(dut.clk)
                dut.resp__ready.value = 0
                return data
            await FallingEdge(dut.clk)


def load(p: dict, cfg: TrainConfig):
    if p["dataset"] == "digits":
        d = binarized("digits")
    else:
        d = binarized("random_prototypes", k=cfg.inputs, n_train=p["n_train"],
                      n_test=p["n_test"], p=p.get("flip", 0.3), seed=p["seed"])
    keep_tr, keep_te = d.y_train < cfg.classes, d.y_test < cfg.classes
    return (d.x_train[keep_tr][:p["n_train"]], d.y_train[keep_tr][:p["n_train"]],
            d.x_test[keep_te][:p["n_test"]], d.y_test[keep_te][:p["n_test"]])


def accuracy(H, P, x, y) -> float:
    a = x
    for h in H:
        a = rules.sign(rules.pm1_matmul(a, rules.sign(h).T))
    return float((rules.predict(rules.pm1_matmul(a, P.T)) == y).mean())


@cocotb.test()
async def trains_bit_exact(dut):
    p = bench_params()
    # Defaults so that ``hwtrain verify trainer_cpr ...`` (which passes samples/seed/stalls) works too.
    p.setdefault("dataset", "digits")
    p.setdefault("epochs", 1)
    p.setdefault("n_train", p.get("samples", 1438))
    p.setdefault("n_test", 359)
    p.setdefault("seed", 1)
    p.setdefault("p_in_stall", 0.0)
    p.setdefault("p_out_stall", 0.0)
    cfg = TrainConfig.from_dict(p["config"])
    golden = Golden(TrainConfig.from_dict(p.get("golden_config", p["config"])))
    engine = OnlineTrainer(cfg)                       # for the cycle formula only
    xtr, ytr, xte, yte = load(p, cfg)
    io = CocotbTransport(dut, Stalls(p["p_in_stall"], p["seed"]), Stalls(p["p_out_stall"], p["seed"] + 1))
    host = TrainerHost(cfg, io)

    dut.cmd__valid.value = 0
    dut.resp__ready.value = 0
    await reset(dut)
    t0 = time.perf_counter()
    mismatches, first, curve = 0, [], []
    n_samples, cycle_checks, min_cycles, max_cycles = 0, 0, None, None
    for epoch in range(p["epochs"]):
        order = golden.order(len(ytr))
        run = await host.train_epoch(xtr, ytr)      # the host's own shuffle: must equal the golden order
        if list(run["order"]) != list(order):
            mismatches += 1
            first.append({"epoch": epoch, "order": "differs"})
        right = 0
        for pos, i in enumerate(order):
            # replay on the golden side (the engine has already trained on it in the same order)
            want = golden.train_sample(xtr[i], int(ytr[i]))
            got = run["preds"][pos]
            right += int(got == ytr[i])
            if got != want:
                mismatches += 1
                first.append({"epoch": epoch, "sample": int(i), "pred": got, "want": want})
            c = run["latency"][pos] + 1                # edges to valid (IDLE counted) + the RESP cycle
            want_c = engine.cycles_per_sample(golden.last["rows"], golden.last["active"])
            cycle_checks += 1
            min_cycles = c if min_cycles is None else min(min_cycles, c)
            max_cycles = c if max_cycles is None else max(max_cycles, c)
            if c != want_c:
                mismatches += 1
                first.append({"epoch": epoch, "sample": int(i), "cycles": c, "want_cycles": want_c})
        n_samples += len(order)
        H = await host.read_weights()
        for l, (a, b) in enumerate(zip(H, golden.H)):
            if not np.array_equal(a, b):
                mismatches += 1
                first.append({"epoch": epoch, "layer": l, "hidden_weights_differing": int((a != b).sum())})
        counters = await host.counters()
        if counters != golden.counters():
            mismatches += 1
            first.append({"epoch": epoch, "counters": counters, "want": golden.counters()})
        P = golden.t.P[-1]
        curve.append({"epoch": epoch + 1, "train_error_online": run["train_error"],
                      "test_acc_onchip_weights": accuracy(H, P, xte, yte) if len(yte) else None,
                      "test_acc_golden": golden.t.accuracy(xte, yte) if len(yte) else None,
                      "counters": counters})
        golden.end_epoch(run["train_error"])
        await host.end_epoch(run["train_error"])

    write_summary(p, {
        "design": "OnlineTrainer", "config": cfg.to_dict(), "dataset": p["dataset"],
        "n_train": int(len(ytr)), "n_test": int(len(yte)), "samples": n_samples,
        "mismatches": mismatches, "first_mismatches": first[:5], "curve": curve,
        "cycle_checks": cycle_checks, "min_cycles_per_train_sample": min_cycles,
        "max_cycles_per_train_sample": max_cycles, "wall_seconds": time.perf_counter() - t0,
    })
    assert mismatches == 0, f"{mismatches} mismatches vs the golden model: {first[:3]}"
