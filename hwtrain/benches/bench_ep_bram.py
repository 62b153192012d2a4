"""cocotb bench: EpBramEngine RTL trains on binarized digits beside its golden twin.

The same protocol as bench_ep (every training and test prediction; after each
epoch the complete learned state, here read word by word through the probe
port; random input idles and output back-pressure), for
:class:`hwtrain.hdl.ep_bram.EpBramEngine`. The golden model is
``hwtrain.golden.ep.EpEngine`` of the configuration without its folding.

Parameters: config (EpBramConfig dict), epochs, n_train, n_test, seed,
p_in_stall, p_out_stall, dataset ("digits", default, or "mnist": the first
n_train / n_test images of binarized MNIST through ``hwtrain data``, pixel >=
half range, as ``hwtrain.golden.ep.mnist_binary``), and optionally
golden_config (a deliberately different model for the negative control) or
control_config (a second, deliberately different golden model trained beside the
real one on the same samples: its mismatches with the RTL are counted as
``control_mismatches`` and must not be 0, so the comparison is shown to be able to fail).
"""

from __future__ import annotations

import time

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from bench_ep import run_sample
from hwtrain.golden.ep import EpEngine, digits_binary, mnist_binary
from hwtrain.hdl.ep_bram import EpBramConfig, geometry, probe_latency
from streams import Stalls, bench_params, reset, write_summary


def _signed(v: int, n: int) -> int:
    return v - (1 << n) if v >> (n - 1) else v


def _lanes(word: int, lanes: int, n: int) -> list[int]:
    return [_signed((word >> (i * n)) & ((1 << n) - 1), n) for i in range(lanes)]


async def read_state(dut, cfg: EpBramConfig) -> dict:
    """W1, W2, both momentum memories and both bias vectors through the probe port
    (word address in, the words probe_latency clocks later)."""
    g = geometry(cfg)
    depth = max(g["depth1"], g["depth2"], g["H"], g["O"])
    words = []
    for a in range(depth):
        dut.probe_addr.value = a
        for _ in range(probe_latency(cfg)):
            await RisingEdge(dut.clk)
        await ReadOnly()
        words.append({k: int(getattr(dut, f"probe_{k}").value)
                      for k in ("w1", "m1", "w2", "m2", "b_hidden", "b_output")})
        await FallingEdge(dut.clk)
    st = {}
    for rows, cols, W, S, wk, mk in ((g["H"], g["D"], g["W1w"], g["S1"], "w1", "m1"),
                                     (g["O"], g["H"], g["W2w"], g["S2"], "w2", "m2")):
        st[wk], st[mk] = [], []
        for r in range(rows):
            bits, moms = [], []
            for w in range(W):
                ww = words[r * W + w]
                bits += [bool((ww[wk] >> j) & 1) for j in range(S)]
                moms += _lanes(ww[mk], S, cfg.mom_bits)
            st[wk].append(bits[:cols])
            st[mk].append(moms[:cols])
    st["b_hidden"] = [_signed(words[i]["b_hidden"], cfg.bias_bits) for i in range(g["H"])]
    st["b_output"] = [_signed(words[o]["b_output"], cfg.bias_bits) for o in range(g["O"])]
    return st


@cocotb.test()
async def trains_bit_exact(dut):
    p = bench_params()
    p.setdefault("epochs", 1)
    p.setdefault("n_train", p.get("samples", 1437))
    p.setdefault("n_test", 360)
    p.setdefault("seed", 1)
    p.setdefault("p_in_stall", 0.0)
    p.setdefault("p_out_stall", 0.0)
    cfg = EpBramConfig.from_dict(p["config"])
    golden = EpEngine(EpBramConfig.from_dict(p.get("golden_config", p["config"])).ep_config())
    control = (EpEngine(EpBramConfig.from_dict(p["control_config"]).ep_config())
               if p.get("control_config") else None)
    dataset = p.get("dataset", "digits")
    if dataset == "mnist":
        assert cfg.inputs == 784, f"MNIST needs a 784-input engine, not {cfg.inputs}"
        xtr, ytr, xte, yte = mnist_binary(n_train=p["n_train"], n_test=max(p["n_test"], 1))
    else:
        assert dataset == "digits", f"unknown dataset {dataset!r}"
        xtr, ytr, xte, yte = digits_binary(n_train=1437)
    xtr, ytr = xtr[ytr < cfg.classes], ytr[ytr < cfg.classes]
    xte, yte = xte[yte < cfg.classes], yte[yte < cfg.classes]
    xtr, ytr = xtr[:p["n_train"]], ytr[:p["n_train"]]
    xte, yte = xte[:p["n_test"]], yte[:p["n_test"]]
    if dataset == "mnist":
        pass
    elif cfg.inputs <= 64:        # the middle cfg.inputs pixels
        lo = (64 - cfg.inputs) // 2
        xtr, xte = xtr[:, lo:lo + cfg.inputs], xte[:, lo:lo + cfg.inputs]
    else:                       # wider engines: the 64 pixels repeated
        reps = -(-cfg.inputs // 64)
        xtr, xte = np.tile(xtr, reps)[:, :cfg.inputs], np.tile(xte, reps)[:, :cfg.inputs]
    in_st, out_st = Stalls(p["p_in_stall"], p["seed"]), Stalls(p["p_out_stall"], p["seed"] + 1)

    dut.probe_addr.value = 0
    dut.o__ready.value = 0
    dut.i__valid.value = 0
    await reset(dut)
    mismatches, first, curve = 0, [], []
    control_mismatches = 0
    samples, train_cycles, infer_cycles = 0, [], []
    t_golden, t0 = 0.0, time.perf_counter()
    for epoch in range(p["epochs"]):
        right = 0
        for s, (x, y) in enumerate(zip(xtr, ytr)):
            t = time.perf_counter()
            want = golden.train_sample(x, y)
            t_golden += time.perf_counter() - t
            got, cyc = await run_sample(dut, cfg, x, y, True, in_st, out_st)
            samples += 1
            right += int(got == y)
            train_cycles.append(cyc)
            if got != want:
                mismatches += 1
                first.append({"epoch": epoch, "train_sample": s, "pred": got, "want": want})
            if control is not None:
                control_mismatches += int(control.train_sample(x, y) != got)
        state = await read_state(dut, cfg)
        for key, want in golden.state().items():
            if state[key] != want.tolist():
                mismatches += 1
                first.append({"epoch": epoch, "state": key})
        if control is not None:
            control_mismatches += sum(int(state[k] != v.tolist()) for k, v in control.state().items())
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
            if control is not None:
                control_mismatches += int(control.predict(x) != got)
        curve.append({"epoch": epoch + 1, "train_acc_online": right / max(len(ytr), 1),
                      "test_acc": test_right / max(len(yte), 1), "flips": golden.flips})

    write_summary(p, {
        "design": "EpBramEngine", "config": cfg.to_dict(), "samples": samples,
        "mismatches": mismatches, "first_mismatches": first[:5], "curve": curve,
        "flips": golden.flips, "dataset": dataset,
        "control_mismatches": control_mismatches if control is not None else None,
        "bench_seconds": time.perf_counter() - t0, "golden_train_seconds": t_golden,
        "train_cycles_distinct": sorted(set(train_cycles)), "infer_cycles_distinct": sorted(set(infer_cycles)),
        "cycles_per_train_sample": min(train_cycles) if train_cycles else None,
        "cycles_per_inference_sample": min(infer_cycles) if infer_cycles else None,
    })
    assert mismatches == 0, f"{mismatches} mismatches vs the golden model: {first[:3]}"
