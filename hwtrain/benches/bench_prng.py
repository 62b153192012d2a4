"""cocotb bench: the Xorshift32 block against the golden generator, every draw of every lane."""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from hwtrain.config import PrngConfig
from hwtrain.core.prng import Xorshift32
from streams import Stalls, bench_params, reset, write_summary


@cocotb.test()
async def draws_bit_exact(dut):
    p = bench_params()
    cfg = PrngConfig(**p["config"])
    n = p["samples"]
    want = Xorshift32(cfg.seed, cfg.lanes).draws(n)
    stalls = Stalls(p["p_out_stall"], p["seed"])
    await reset(dut)
    got = np.zeros((n, cfg.lanes), dtype=np.uint64)
    taken = cycles = 0
    mask = (1 << 32) - 1
    while taken < n:
        dut.o__ready.value = ready = int(not stalls.stall())
        await ReadOnly()
        assert int(dut.o__valid.value) == 1, "the generator stream must always be valid"
        if ready:
            word = int(dut.o__payload.value)
            got[taken] = [(word >> (32 * i)) & mask for i in range(cfg.lanes)]
            taken += 1
        cycles += 1
        await FallingEdge(dut.clk)
    bad = np.argwhere(got != want)
    write_summary(p, {"design": "Xorshift32", "config": cfg.to_dict(), "samples": int(n * cfg.lanes),
                      "mismatches": int(len(bad)),
                      "first_mismatches": [{"draw": int(d), "lane": int(l)} for d, l in bad[:3]],
                      "cycles_stalled": cycles})
    assert not len(bad), f"{len(bad)} draws differ from the golden generator, first at {bad[0]}"
