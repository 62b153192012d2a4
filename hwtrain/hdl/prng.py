"""Hardware twin of :class:`hwtrain.core.prng.Xorshift32`."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import Out

from ..errors import require
from ..core import prng


def xorshift32_step(s):
    """One xorshift32 step on an Amaranth 32-bit value (shifts truncate to 32 bits)."""
    s = s ^ (s << 13)[:32]
    s = s ^ (s >> 17)
    return s ^ (s << 5)[:32]


class Xorshift32(wiring.Component):
    """``lanes`` independent xorshift32 generators as a stream that is always valid.

    The payload is the current draw of every lane (lane i in bits 32i..32i+31);
    each transfer advances all lanes. The registers reset to the first draw of
    each lane, so the payload is a register output with no logic behind it.
    """

    def __init__(self, seed: int = 1, lanes: int = 1):
        require(lanes >= 1, f"a generator needs at least one lane, got {lanes}")
        self.seeds = [prng.lane_seed(seed, i) for i in range(lanes)]
        super().__init__({
            "o": Out(stream.Signature(data.ArrayLayout(32, lanes))),
        })

    def elaborate(self, platform):
        m = Module()
        # ``valid`` is a real signal tied high rather than ``always_valid=True``:
        # a constant cannot be a port of the emitted Verilog module.
        m.d.comb += self.o.valid.eq(1)
        for i, seed in enumerate(self.seeds):
            state = Signal(32, init=prng.step(seed), name=f"lane{i}")
            m.d.comb += self.o.payload[i].eq(state)
            with m.If(self.o.ready):
                m.d.sync += state.eq(xorshift32_step(state))
        return m
