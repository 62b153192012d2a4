"""cocotb bench: the emitted FoldedTrainer Verilog trains beside its golden twin over whole epochs.

The engine is driven through its host driver (hwtrain.trainer_folded_host)
with a cocotb transport that withholds ``cmd.valid`` and ``resp.ready`` at
random (shared PRNG), one 32-bit word at a time. Per epoch: every training
sample, in the golden model's shuffled order, goes in and its prediction is
compared with the golden one; the clocks from the sample's last word to its
response are compared with ``cycles_per_sample``; then the pending
reinforcement is flushed, every hidden weight of every layer is read back and
compared, and the counters are compared. Between epochs the host runs the
golden schedules from the *engine's* error counter and writes the new registers.

Parameters: config (FoldedTrainConfig dict), dataset ("digits",
"fashion_mnist" with data_path, or "random_prototypes"), epochs, n_train, seed, p_in_stall, p_out_stall,
stream (every TRAIN of an epoch sent without waiting for responses; no clock checks then), and
optionally golden_config (a deliberately different golden model: the
negative control).
"""

from __future__ import annotations

import time

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

from hwtrain.data.presets import binarized
from hwtrain.golden.trainer_folded import FoldedGolden, FoldedTrainConfig, cycles_per_sample
from hwtrain.protocol.trainer_folded import OP_TRAIN, REG_ERRORS, header
from hwtrain.trainer_folded_host import FoldedTrainerHost, sample_words
from streams import Stalls, bench_params, reset, write_summary

CLOCK_NS = 10                    # streams.reset starts a 10 ns clock


class WordTransport:
    """The engine's 32-bit command/response streams, driven around the falling clock edge."""

    def __init__(self, dut, in_st: Stalls, out_st: Stalls):
        self.dut, self.in_st, self.out_st = dut, in_st, out_st
        self.t_in = 0
        self.latency = None          # clock edges from the last word taken to the first valid response

    async def put(self, word):
        dut = self.dut
        while self.in_st.stall():
            await FallingEdge(dut.clk)
        dut.cmd__payload.value = word
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


async def train_epoch_streamed(host, io, x, y) -> dict:
    """One epoch with every TRAIN sent without waiting for responses (a producer beside the reader), so
    an overlapped engine holds two samples at once; predictions in order, the epoch's error."""
    order = host.schedule.order(len(y))
    before = await host.read_reg(REG_ERRORS)

    async def producer():
        for i in order:
            for w in [header(OP_TRAIN, 0, int(y[i]))] + sample_words(x[i], host.p["x_words"]):
                await io.put(w)
    task = cocotb.start_soon(producer())
    preds = [await io.get() for _ in order]
    await task
    errs = await host.read_reg(REG_ERRORS) - before
    return {"order": order, "preds": preds, "errors": errs, "train_error": errs / len(y)}


def load(p: dict, cfg):
    if p["dataset"] == "digits":
        d = binarized("digits")
    elif p["dataset"] == "fashion_mnist":
        d = binarized("fashion_mnist", p.get("data_path"))
    else:
        d = binarized("random_prototypes", k=cfg.inputs, n_train=p["n_train"], n_test=10,
                      p=p.get("flip", 0.3), seed=p["seed"])
    keep = d.y_train < cfg.classes
    return d.x_train[keep][:p["n_train"]], d.y_train[keep][:p["n_train"]]


@cocotb.test()
async def trains_bit_exact(dut):
    p = bench_params()
    p.setdefault("dataset", "digits")
    p.setdefault("epochs", 1)
    p.setdefault("n_train", p.get("samples", 1438))
    p.setdefault("seed", 1)
    p.setdefault("p_in_stall", 0.0)
    p.setdefault("p_out_stall", 0.0)
    p.setdefault("stream", False)
    cfg = FoldedTrainConfig.from_dict(p["config"])
    golden = FoldedGolden(FoldedTrainConfig.from_dict(p.get("golden_config", p["config"])))
    xtr, ytr = load(p, cfg)
    io = WordTransport(dut, Stalls(p["p_in_stall"], p["seed"]), Stalls(p["p_out_stall"], p["seed"] + 1))
    host = FoldedTrainerHost(cfg, io)

    dut.cmd__valid.value = 0
    dut.resp__ready.value = 0
    await reset(dut)
    t0 = time.perf_counter()
    mismatches, first, curve = 0, [], []
    n_samples, cycle_checks, cycles = 0, 0, []
    pend = False                                       # a reinforcement sweep is owed
    for epoch in range(p["epochs"]):
        order = golden.order(len(ytr))
        if p["stream"]:
            run = await train_epoch_streamed(host, io, xtr, ytr)
        else:
            run = await host.train_epoch(xtr, ytr)  # the host's own shuffle: must equal the golden order
        if list(run["order"]) != list(order):
            mismatches += 1
            first.append({"epoch": epoch, "order": "differs"})
        for pos, i in enumerate(order):
            was_pending = pend
            want = golden.train_sample(xtr[i], int(ytr[i]))
            pend = golden.last["reinforce_due"]
            got = run["preds"][pos]
            if got != want:
                mismatches += 1
                first.append({"epoch": epoch, "sample": int(i), "pred": got, "want": want})
            if p["stream"]:
                continue                # (clocks of a stream: tests/test_trainer_folded.py, no stalls)
            c = run["latency"][pos]
            want_c = cycles_per_sample(cfg, golden.last["rows"], golden.last["active"], was_pending,
                                       golden.last["closed"], gamma=golden.t.gamma)
            cycle_checks += 1
            cycles.append(c)
            if c != want_c:
                mismatches += 1
                first.append({"epoch": epoch, "sample": int(i), "cycles": c, "want_cycles": want_c})
        n_samples += len(order)
        golden.flush()                                 # the host closed a short last batch (FLUSH)
        H = await host.read_weights()                  # FLUSH runs an owed reinforcement sweep
        pend = False
        for l, (a, b) in enumerate(zip(H, golden.H)):
            if not np.array_equal(a, b):
                mismatches += 1
                first.append({"epoch": epoch, "layer": l, "hidden_weights_differing": int((a != b).sum())})
        counters = await host.counters()
        if counters != golden.counters():
            mismatches += 1
            first.append({"epoch": epoch, "counters": counters, "want": golden.counters()})
        curve.append({"epoch": epoch + 1, "train_error_online": run["train_error"], "counters": counters})
        golden.end_epoch(run["train_error"])
        await host.end_epoch(run["train_error"])

    write_summary(p, {
        "design": "FoldedTrainer", "config": cfg.to_dict(), "dataset": p["dataset"],
        "n_train": int(len(ytr)), "samples": n_samples, "mismatches": mismatches,
        "first_mismatches": first[:5], "curve": curve, "cycle_checks": cycle_checks,
        "min_cycles_per_train_sample": min(cycles) if cycles else None,
        "max_cycles_per_train_sample": max(cycles) if cycles else None,
        "wall_seconds": time.perf_counter() - t0,
    })
    assert mismatches == 0, f"{mismatches} mismatches vs the golden model: {first[:3]}"
