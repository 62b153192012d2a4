"""cocotb bench: EpEngine RTL trains on binarized digits beside its golden twin.

Per epoch: every training sample goes in (train=1) and its free-phase
prediction is compared; then the complete learned state (W1, W2, both
momentum memories, both bias vectors) is read through the probe port and
compared; then every test sample goes in (train=0) and its prediction is
compared. Random idle cycles on the input side and random back-pressure on
the output side come from the shared PRNG.

Parameters: config (EpConfig dict), epochs, n_train, n_test, seed,
p_in_stall, p_out_stall, and optionally golden_config (a deliberately
different model for the negative control).
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

from hwtrain.golden.ep import EpConfig, EpEngine, digits_binary
from streams import Stalls, bench_params, reset, write_summary

CLOCK_NS = 10                    # streams.reset starts a 10 ns clock


def _signed_lanes(word: int, lanes: int, n: int) -> list[int]:
    vals = [(word >> (i * n)) & ((1 << n) - 1) for i in range(lanes)]
    return [v - (1 << n) if v >> (n - 1) else v for v in vals]


def _signed(v: int, n: int) -> int:
    return v - (1 << n) if v >> (n - 1) else v


async def run_sample(dut, cfg: EpConfig, x, label: int, train: bool, in_st: Stalls, out_st: Stalls):
    """Offer one sample (after random idle cycles), collect its prediction.

    Returns (prediction, clocks from the edge that took the sample to the edge
    that delivered the prediction, output stalls included)."""
    while in_st.stall():
        await FallingEdge(dut.clk)
    dut.i__payload.value = (int(sum(1 << j for j in range(cfg.inputs) if x[j]))
                            | (int(label) << cfg.inputs)
                            | (int(train) << (cfg.inputs + max(cfg.label_width, 1))))
    dut.i__valid.value = 1
    while True:
        await ReadOnly()
        if int(dut.i__ready.value):
            break
        await FallingEdge(dut.clk)
    t_in = get_sim_time("ns")
    await FallingEdge(dut.clk)
    dut.i__valid.value = 0
    while True:
        if not int(dut.o__valid.value):
            # Skip the compute stretch without per-clock Python work.
            await RisingEdge(dut.o__valid)
            await FallingEdge(dut.clk)
        ready = not out_st.stall()
        dut.o__ready.value = int(ready)
        await ReadOnly()
        if ready and int(dut.o__valid.value):
            pred = int(dut.o__payload.value)
            cycles = round((get_sim_time("ns") - t_in) / CLOCK_NS)
            await FallingEdge(dut.clk)
            dut.o__ready.value = 0
            return pred, cycles
        await FallingEdge(dut.clk)


async def read_state(dut, cfg: EpConfig) -> dict:
    st = {k: [] for k in ("w1", "w2", "m1", "m2", "b_hidden", "b_output")}
    for r in range(max(cfg.hidden, cfg.outputs)):
        dut.probe_row.value = r
        await RisingEdge(dut.clk)
        await ReadOnly()
        if r < cfg.hidden:
            st["w1"].append([bool((int(dut.probe_w1.value) >> j) & 1) for j in range(cfg.inputs)])
            st["m1"].append(_signed_lanes(int(dut.probe_m1.value), cfg.inputs, cfg.mom_bits))
            st["b_hidden"].append(_signed(int(dut.probe_b_hidden.value), cfg.bias_bits))
        if r < cfg.outputs:
            st["w2"].append([bool((int(dut.probe_w2.value) >> j) & 1) for j in range(cfg.hidden)])
            st["m2"].append(_signed_lanes(int(dut.probe_m2.value), cfg.hidden, cfg.mom_bits))
            st["b_output"].append(_signed(int(dut.probe_b_output.value), cfg.bias_bits))
        await FallingEdge(dut.clk)
    return st


@cocotb.test()
async def trains_bit_exact(dut):
    p = bench_params()
    # `hwtrain verify ep` passes samples (training samples of one epoch) and the stall probabilities.
    p.setdefault("epochs", 1)
    p.setdefault("n_train", p.get("samples", 1437))
    p.setdefault("n_test", 360)
    p.setdefault("seed", 1)
    p.setdefault("p_in_stall", 0.0)
    p.setdefault("p_out_stall", 0.0)
    cfg = EpConfig.from_dict(p["config"])
    golden = EpEngine(EpConfig.from_dict(p.get("golden_config", p["config"])))
    xtr, ytr, xte, yte = digits_binary(n_train=1437)
    # Fewer classes than 10: keep the digits 0..classes-1.
    xtr, ytr = xtr[ytr < cfg.classes], ytr[ytr < cfg.classes]
    xte, yte = xte[yte < cfg.classes], yte[yte < cfg.classes]
    xtr, ytr = xtr[:p["n_train"]], ytr[:p["n_train"]]
    xte, yte = xte[:p["n_test"]], yte[:p["n_test"]]
    # The engine's inputs are the digits' 64 pixels, or the middle cfg.inputs of them.
    lo = (64 - cfg.inputs) // 2
    xtr, xte = xtr[:, lo:lo + cfg.inputs], xte[:, lo:lo + cfg.inputs]
    in_st, out_st = Stalls(p["p_in_stall"], p["seed"]), Stalls(p["p_out_stall"], p["seed"] + 1)

    dut.probe_row.value = 0
    dut.o__ready.value = 0
    dut.i__valid.value = 0
    await reset(dut)
    mismatches, first, curve = 0, [], []
    samples, train_cycles, infer_cycles = 0, [], []
    for epoch in range(p["epochs"]):
        right = 0
        for s, (x, y) in enumerate(zip(xtr, ytr)):
            want = golden.train_sample(x, y)
            got, cyc = await run_sample(dut, cfg, x, y, True, in_st, out_st)
            samples += 1
            right += int(got == y)
            train_cycles.append(cyc)
            if got != want:
                mismatches += 1
                first.append({"epoch": epoch, "train_sample": s, "pred": got, "want": want})
        state = await read_state(dut, cfg)
        for key, want in golden.state().items():
            if state[key] != want.tolist():
                mismatches += 1
                first.append({"epoch": epoch, "state": key})
        test_right = 0
        for s, (x, y) in enumerate(zip(xte, yte)):
            want = golden.predict(x)
            got, cyc = await run_sample(dut, cfg, x, y, False, in_st, out_st)
            samples += 1
            test_right += int(got == y)
            infer_cycles.append(cyc)
            if got != want:
                mismatches += 1
                first.append({"epoch": epoch, "test_sample": s, "pred": got, "want": want})
        curve.append({"epoch": epoch + 1, "train_acc_online": right / max(len(ytr), 1),
                      "test_acc": test_right / max(len(yte), 1), "flips": golden.flips})

    write_summary(p, {
        "design": "EpEngine", "config": cfg.to_dict(), "samples": samples,
        "mismatches": mismatches, "first_mismatches": first[:5], "curve": curve,
        "flips": golden.flips,
        "cycles_per_train_sample": min(train_cycles) if train_cycles else None,
        "cycles_per_inference_sample": min(infer_cycles) if infer_cycles else None,
    })
    assert mismatches == 0, f"{mismatches} mismatches vs the golden model: {first[:3]}"
