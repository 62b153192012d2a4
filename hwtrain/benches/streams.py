"""cocotb helpers for benches of components with ``amaranth.lib.stream`` ports.

Amaranth flattens a stream port ``i`` into ``i__payload``, ``i__valid`` and
``i__ready``. All driving and sampling happens around the falling clock edge:
inputs are written just after it, and after ``ReadOnly`` the settled handshake
says which transfers the next rising edge will perform. This avoids any race
with the design's registers and works the same on Verilator and Icarus.
"""

from __future__ import annotations

import json
import os

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly

from hwtrain.core.prng import Xorshift32, threshold


def bench_params() -> dict:
    """The parameters the flow passed to this bench (``HWTRAIN_BENCH``)."""
    return json.loads(os.environ["HWTRAIN_BENCH"])


def write_summary(params: dict, summary: dict) -> None:
    with open(params["summary"], "w") as f:
        json.dump(summary, f, indent=2)


async def reset(dut, cycles: int = 2) -> None:
    """Start a 10 ns clock and hold reset for ``cycles`` cycles."""
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    await ClockCycles(dut.clk, cycles)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


class Stalls:
    """Random stall decisions from the shared PRNG: ``stall()`` is True with probability p."""

    def __init__(self, p: float, seed: int):
        self.t = threshold(p)
        self.rng = Xorshift32(seed, 1)

    def stall(self) -> bool:
        return bool(self.rng.bernoulli([self.t])[0])


async def stream_through(dut, inputs: list[int], *, i: str = "i", o: str = "o",
                         p_in_stall: float = 0.0, p_out_stall: float = 0.0, seed: int = 1,
                         max_cycles: int | None = None, outputs_expected: int | None = None):
    """Push every payload of ``inputs`` into stream ``i``, collect stream ``o`` until
    ``outputs_expected`` payloads came out (default: one per input).

    The producer withholds ``valid`` and the consumer withholds ``ready`` at
    random (a held ``valid`` is never withdrawn before its transfer, as the
    stream rules require). Returns ``(outputs, cycles, first_out_cycle)``:
    cycles counted from the first cycle after reset to the last output transfer.
    """
    i_payload, i_valid, i_ready = (getattr(dut, f"{i}__{n}") for n in ("payload", "valid", "ready"))
    o_payload, o_valid, o_ready = (getattr(dut, f"{o}__{n}") for n in ("payload", "valid", "ready"))
    in_stalls, out_stalls = Stalls(p_in_stall, seed), Stalls(p_out_stall, seed + 1)
    limit = max_cycles or 100 * (len(inputs) + 10)
    expected = len(inputs) if outputs_expected is None else outputs_expected
    outputs, sent, offered = [], 0, False
    first_out = None
    for cycle in range(limit):
        if not offered and sent < len(inputs) and not in_stalls.stall():
            i_payload.value = inputs[sent]
            offered = True
        i_valid.value = int(offered)
        o_ready.value = int(not out_stalls.stall())
        await ReadOnly()
        if offered and int(i_ready.value):
            sent, offered = sent + 1, False
        if int(o_valid.value) and int(o_ready.value):
            outputs.append(int(o_payload.value))
            if first_out is None:
                first_out = cycle
        await FallingEdge(dut.clk)
        if len(outputs) == expected:
            i_valid.value = 0
            return outputs, cycle + 1, first_out
    raise AssertionError(f"stream stalled: {sent}/{len(inputs)} sent, "
                         f"{len(outputs)}/{expected} received after {limit} cycles")


def random_bits(k: int, n: int, seed: int) -> np.ndarray:
    """(n, k) pseudo-random bits for stimulus, one PRNG lane per bit position."""
    return Xorshift32(seed, k).bits(n)
