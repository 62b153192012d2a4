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


def register_slice(m: Module, src, payload, dst, name: str = "slice") -> None:
    """Add a register slice to ``m``: from stream ``src`` (its ``valid`` and
    ``ready``; ``payload`` is the value it carries) to stream interface ``dst``
    (``valid`` and ``payload`` become registers of ``m``; ``dst.ready`` comes
    from the consumer).

    Inline rather than a submodule, so that a core with several slices of one
    width has no identical modules (``hwtrain.flows.synth`` maps a netlist with
    identical modules hierarchically, which cost the 784-input cores about
    8,000 LUT4 more than the flat mapping).
    """
    skid_valid = Signal(name=f"{name}_skid_valid")
    skid = Signal.like(dst.payload, name=f"{name}_skid_payload")
    m.d.comb += src.ready.eq(~skid_valid)
    with m.If(~dst.valid | dst.ready):                 # the output register can load
        with m.If(skid_valid):
            m.d.sync += [dst.payload.eq(skid), dst.valid.eq(1), skid_valid.eq(0)]
        with m.Else():
            m.d.sync += [dst.payload.eq(payload), dst.valid.eq(src.valid)]
    with m.Elif(src.valid & ~skid_valid):               # output stalled: park the payload
        m.d.sync += [skid.eq(payload), skid_valid.eq(1)]


class SkidBuffer(wiring.Component):
    """Two-entry register slice as a component: ``i`` -> output register (+ skid register) -> ``o``."""

    def __init__(self, shape):
        self.shape = shape
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        register_slice(m, self.i, self.i.payload, self.o)
        return m
