"""Pipelined XNOR/popcount neuron array (golden twin: hwtrain.golden.datapath)."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..config import DatapathConfig
from ..golden.datapath import DatapathParams
from .popcount import popcount, popcount_at_least


def output_layout(cfg: DatapathConfig) -> data.StructLayout:
    """Output payload: ``fire`` (bit j = neuron j), then the popcounts if enabled."""
    fields = {"fire": cfg.neurons}
    if cfg.popcount_out:
        fields["popcount"] = data.ArrayLayout(cfg.popcount_width, cfg.neurons)
    return data.StructLayout(fields)


class XnorPopcountArray(wiring.Component):
    """N XNOR/popcount neurons over a stream of K-bit input vectors.

    Input payload bit i is input i (1 means +1). Each neuron counts the inputs
    that agree with its weights and fires when the count reaches its threshold.

    The whole pipeline advances when its output register is empty or being
    read (``en``), so ``i.ready`` follows ``o.ready`` combinationally and a
    sample enters every cycle when the consumer keeps up. The output appears
    ``cfg.pipeline`` cycles after its input was accepted.

    With ``cfg.weights == "port"`` the weights and thresholds are inputs; they
    must stay stable while samples are in flight.
    """

    def __init__(self, cfg: DatapathConfig, params: DatapathParams | None = None):
        self.cfg = cfg
        members = {
            "i": In(stream.Signature(cfg.inputs)),
            "o": Out(stream.Signature(output_layout(cfg))),
        }
        if cfg.weights == "port":
            members["weights"] = In(data.ArrayLayout(cfg.inputs, cfg.neurons))
            members["thresholds"] = In(data.ArrayLayout(cfg.threshold_width, cfg.neurons))
            self.params = None
        else:
            self.params = (params or DatapathParams.random(cfg)).check(cfg)
        super().__init__(members)

    def _weight(self, j):
        if self.params is None:
            return self.weights[j], self.thresholds[j]
        word = sum(int(b) << i for i, b in enumerate(self.params.weights[j]))
        return (Const(word, self.cfg.inputs),
                Const(int(self.params.thresholds[j]), self.cfg.threshold_width))

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        en = Signal()
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]

        # Interior stages (all but the output register) live inside the popcounts;
        # the valid bit travels alongside them.
        interior = cfg.pipeline - 1
        valid = self.i.valid
        for s in range(interior):
            v = Signal(name=f"valid_s{s + 1}")
            with m.If(en):
                m.d.sync += v.eq(valid)
            valid = v
        with m.If(en):
            m.d.sync += self.o.valid.eq(valid)

        for j in range(cfg.neurons):
            w, t = self._weight(j)
            agree = Signal(cfg.inputs, name=f"n{j}_agree")
            m.d.comb += agree.eq(~(self.i.payload ^ w))
            if cfg.popcount == "compressor" and not cfg.popcount_out:
                # Only the bit is needed: the threshold joins the compressor's
                # bit heap and the comparison is the final adder's top bit.
                fire = popcount_at_least(m, agree, t, stages=interior, en=en,
                                         name=f"n{j}_pop")
            else:
                count = popcount(m, agree, structure=cfg.popcount, stages=interior, en=en,
                                 name=f"n{j}_pop")
                fire = count >= t
            with m.If(en):
                m.d.sync += self.o.payload.fire[j].eq(fire)
                if cfg.popcount_out:
                    m.d.sync += self.o.payload.popcount[j].eq(count)
        return m
