"""cocotb bench: the annealer's energy trace and final spins against golden lane 0,
with a consumer that stalls the energy stream at random."""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from hwtrain.golden.annealer import Annealer, AnnealerConfig
from streams import Stalls, bench_params, reset, write_summary


@cocotb.test()
async def trace_and_spins_bit_exact(dut):
    p = bench_params()
    cfg = AnnealerConfig.from_dict(p["config"])
    want_spins, want_trace = Annealer(cfg.problem(), cfg.schedule(), cfg.seed, lanes=1).run()
    want_spins, want_trace = want_spins[0], want_trace[0]
    n, length = len(cfg.h), cfg.trace_length()
    stalls = Stalls(p["p_out_stall"], p["seed"])
    await reset(dut)
    ew = len(dut.o__payload)
    got, cycles, limit = [], 0, 4 * length * (2 * n + 1) + 100
    while len(got) < length and cycles < limit:
        dut.o__ready.value = ready = int(not stalls.stall())
        await ReadOnly()
        if ready and int(dut.o__valid.value):
            v = int(dut.o__payload.value)
            got.append(v - (1 << ew) if v >> (ew - 1) else v)
        cycles += 1
        await FallingEdge(dut.clk)
    dut.o__ready.value = 0
    for _ in range(3):
        await FallingEdge(dut.clk)
    await ReadOnly()
    word = int(dut.spins.value)
    spins = np.array([1 if (word >> i) & 1 else -1 for i in range(n)])
    done = int(dut.done.value)
    bad_trace = [i for i, (a, b) in enumerate(zip(got, want_trace)) if a != b]
    mismatches = len(bad_trace) + int(len(got) != length) + int((spins != want_spins).sum())
    write_summary(p, {"design": "Annealer", "spins": n, "samples": length, "mismatches": mismatches,
                      "trace": got, "done": done, "cycles": cycles,
                      "first_mismatches": bad_trace[:3]})
    assert len(got) == length, f"only {len(got)} of {length} energies after {cycles} cycles"
    assert not bad_trace, f"energy trace differs at sweeps {bad_trace[:5]}"
    assert (spins == want_spins).all(), "final spins differ from the golden annealer"
    assert done == 1
