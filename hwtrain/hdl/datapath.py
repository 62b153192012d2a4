"""Pipelined XNOR/popcount neuron array (golden twin: hwtrain.golden.datapath)."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..config import DatapathConfig
from ..golden.datapath import DatapathParams
from .popcount import (popcount, popcount_at_least, popcount_compressor, split_fire,
                       split_shared_registers)


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

    def _neuron(self, j) -> "XnorNeuron":
        if self.params is None:
            return XnorNeuron(self.cfg)
        word = sum(int(b) << i for i, b in enumerate(self.params.weights[j]))
        return XnorNeuron(self.cfg, weight=word, threshold=int(self.params.thresholds[j]))

    def _shared_popcount(self, m, en):
        """popcount(x) for the ``split`` neurons, registered as their heaps are
        when it joins them."""
        cfg = self.cfg
        shared = popcount_compressor(m, self.i.payload, en=en, name="shared_pop",
                                     stages=split_shared_registers(cfg.inputs, cfg.pipeline - 1))
        return shared[:cfg.inputs.bit_length()]

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        en = Signal()
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]

        # Interior stages (all but the output register) live inside the neurons'
        # popcounts; the valid bit travels alongside them.
        valid = self.i.valid
        for s in range(cfg.pipeline - 1):
            v = Signal(name=f"valid_s{s + 1}")
            with m.If(en):
                m.d.sync += v.eq(valid)
            valid = v
        with m.If(en):
            m.d.sync += self.o.valid.eq(valid)

        shared = self._shared_popcount(m, en) if cfg.popcount == "split" else None
        for j in range(cfg.neurons):
            neuron = m.submodules[f"n{j}"] = self._neuron(j)
            m.d.comb += [neuron.x.eq(self.i.payload), neuron.en.eq(en)]
            if shared is not None:
                m.d.comb += neuron.shared.eq(shared)
            if self.params is None:
                m.d.comb += [neuron.weight.eq(self.weights[j]),
                             neuron.threshold.eq(self.thresholds[j])]
            with m.If(en):
                m.d.sync += self.o.payload.fire[j].eq(neuron.fire)
                if cfg.popcount_out:
                    m.d.sync += self.o.payload.popcount[j].eq(neuron.count)
        return m


class XnorNeuron(wiring.Component):
    """One neuron of an :class:`XnorPopcountArray`, without its output register:
    XNOR with the weights, popcount (``cfg.pipeline - 1`` interior registers,
    loaded on ``en``), compare with the threshold.

    Each neuron is a module of its own in the emitted design. With weights and
    threshold as ports (``weight=None``) all neurons of a layer are the same
    module, which synthesis then maps once (see ``hwtrain.flows.synth``); with
    constants each neuron is specialised and the XNOR folds into the popcount.
    """

    def __init__(self, cfg: DatapathConfig, *, weight: int | None = None,
                 threshold: int | None = None):
        self.cfg = cfg
        self._weight, self._threshold = weight, threshold
        members = {"x": In(cfg.inputs), "en": In(1), "fire": Out(1)}
        if cfg.popcount == "split":
            members["shared"] = In(cfg.inputs.bit_length())     # popcount(x), delayed
        if cfg.popcount_out:
            members["count"] = Out(cfg.popcount_width)
        if weight is None:
            members["weight"] = In(cfg.inputs)
            members["threshold"] = In(cfg.threshold_width)
        super().__init__(members)

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        if cfg.popcount == "split":
            # Constant weights only (DatapathConfig checks): XNOR with a known
            # bit is a wire or an inverter, picked per input here.
            weights_row = [self._weight >> i & 1 for i in range(cfg.inputs)]
            m.d.comb += self.fire.eq(split_fire(m, self.x, self.shared, weights_row,
                                                self._threshold, stages=cfg.pipeline - 1,
                                                en=self.en, name="pop"))
            return m
        if self._weight is None:
            w, t = self.weight, self.threshold
        else:
            w, t = Const(self._weight, cfg.inputs), Const(self._threshold, cfg.threshold_width)
        agree = Signal(cfg.inputs)
        m.d.comb += agree.eq(~(self.x ^ w))
        stages = cfg.pipeline - 1
        if cfg.popcount == "compressor" and not cfg.popcount_out:
            # Only the bit is needed: the threshold joins the compressor's bit
            # heap and the comparison is the final adder's top bit.
            m.d.comb += self.fire.eq(popcount_at_least(m, agree, t, stages=stages,
                                                       en=self.en, name="pop"))
        else:
            count = popcount(m, agree, structure=cfg.popcount, stages=stages, en=self.en,
                             name="pop")
            m.d.comb += self.fire.eq(count >= t)
            if cfg.popcount_out:
                m.d.comb += self.count.eq(count)
        return m
