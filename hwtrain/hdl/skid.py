"""Register slice (skid buffer) for ``amaranth.lib.stream`` ports.

Cuts every combinational path through a stream: ``o.valid`` and ``o.payload``
are registers, and ``i.ready`` is the inverse of one register (the skid
entry's valid bit), so neither the producer's valid/payload nor the consumer's
ready reaches the other side within a clock.

Full throughput: one payload per clock when the consumer is always ready.
Latency: one clock (a payload taken in cycle t is valid on ``o`` in t + 1).
When the consumer stalls while the output register is full, the payload that
was already accepted (``i.ready`` was registered high) lands in the skid
register; ``i.ready`` drops the next cycle, and the skid entry moves to the
output register as soon as the consumer takes the current one.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out


class SkidBuffer(wiring.Component):
    """Two-entry register slice: ``i`` -> output register (+ skid register) -> ``o``."""

    def __init__(self, shape):
        self.shape = shape
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        skid_valid = Signal(name="skid_valid")
        skid = Signal(self.shape, name="skid_payload")
        m.d.comb += self.i.ready.eq(~skid_valid)
        with m.If(~self.o.valid | self.o.ready):          # the output register can load
            with m.If(skid_valid):
                m.d.sync += [self.o.payload.eq(skid), self.o.valid.eq(1), skid_valid.eq(0)]
            with m.Else():
                m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(self.i.valid)]
        with m.Elif(self.i.valid & ~skid_valid):           # output stalled: park the payload
            m.d.sync += [skid.eq(self.i.payload), skid_valid.eq(1)]
        return m
