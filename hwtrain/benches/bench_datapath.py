"""cocotb bench: XnorPopcountArray RTL against its golden twin, every output bit."""

from __future__ import annotations

import cocotb
import numpy as np

from hwtrain.config import DatapathConfig
from hwtrain.core import bits
from hwtrain.golden.datapath import XnorPopcountArray
from streams import bench_params, random_bits, reset, stream_through, write_summary


def stimulus(cfg: DatapathConfig, n: int, seed: int, weights: np.ndarray) -> np.ndarray:
    """Corner vectors (all -1, all +1, alternating, neuron 0's weights and their
    complement, so counts of 0 and K occur) followed by pseudo-random vectors."""
    k = cfg.inputs
    alt = np.arange(k) % 2 == 0
    corners = np.array([np.zeros(k, bool), np.ones(k, bool), alt, ~alt, weights[0], ~weights[0]])
    return np.concatenate([corners, random_bits(k, max(n - len(corners), 0), seed)])[:max(n, 1)]


def decode(cfg: DatapathConfig, word: int) -> tuple[list[int], list[int]]:
    n, w = cfg.neurons, cfg.popcount_width
    fire = [(word >> j) & 1 for j in range(n)]
    pop = [(word >> (n + j * w)) & ((1 << w) - 1) for j in range(n)] if cfg.popcount_out else []
    return fire, pop


@cocotb.test()
async def bit_exact(dut):
    p = bench_params()
    cfg = DatapathConfig.from_dict(p["config"])
    golden = XnorPopcountArray(cfg)
    x = stimulus(cfg, p["samples"], p["seed"], golden.params.weights)
    fire, pop = golden(x)
    payloads = bits.to_int(bits.pack(x), cfg.inputs)

    if cfg.weights == "port":
        dut.weights.value = sum(v << (j * cfg.inputs) for j, v in
                                enumerate(bits.to_int(bits.pack(golden.params.weights), cfg.inputs)))
        dut.thresholds.value = sum(int(t) << (j * cfg.threshold_width)
                                   for j, t in enumerate(golden.params.thresholds))
    await reset(dut)

    # Random back-pressure on both sides: every output is compared.
    outs, stalled_cycles, _ = await stream_through(
        dut, payloads, p_in_stall=p["p_in_stall"], p_out_stall=p["p_out_stall"], seed=p["seed"])
    # No stalls: one sample per clock after a latency of cfg.pipeline cycles.
    n_free = min(len(payloads), 64)
    free_outs, free_cycles, first_out = await stream_through(dut, payloads[:n_free])

    mismatches = []
    for s, word in enumerate(outs + free_outs):
        src = s if s < len(outs) else s - len(outs)
        f, c = decode(cfg, word)
        want_f, want_c = fire[src].astype(int).tolist(), pop[src].tolist()
        if f != want_f or (cfg.popcount_out and c != want_c):
            mismatches.append({"sample": src, "fire": f, "want_fire": want_f,
                               "popcount": c, "want_popcount": want_c})
    summary = {
        "design": "XnorPopcountArray", "config": cfg.to_dict(),
        "samples": len(outs) + len(free_outs), "mismatches": len(mismatches),
        "first_mismatches": mismatches[:3],
        "latency_cycles": first_out, "expected_latency_cycles": cfg.pipeline,
        "cycles_unstalled": free_cycles, "samples_unstalled": n_free,
        "cycles_stalled": stalled_cycles,
    }
    write_summary(p, summary)
    assert not mismatches, f"{len(mismatches)} outputs differ from the golden model: {mismatches[:2]}"
    assert first_out == cfg.pipeline, f"latency {first_out} cycles, expected {cfg.pipeline}"
    assert free_cycles == n_free + cfg.pipeline, \
        f"{n_free} samples took {free_cycles} cycles, expected {n_free + cfg.pipeline} (1/clock)"
