"""Binary MLP inference cores (golden twin: hwtrain.golden.inference.InferenceCore).

A core is a chain of stream components: one layer component per hidden layer
(``XnorPopcountArray`` for parallel layers, ``FoldedLayer`` for folded and
bit-serial ones), each followed by a register slice (``skid.register_slice``), then
``Classifier`` (popcount per class) and ``Argmax``.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import DatapathConfig
from ..golden.datapath import DatapathParams
from ..golden.inference import InferenceCore as GoldenCore
from ..inference.config import InferenceConfig
from ..inference.model import BinaryMLP
from ..errors import require
from .datapath import XnorPopcountArray
from .fanout import Copies
from .argmax import tournament, tournament_registers
from .popcount import popcount
from .skid import register_slice


# registers between the fold counter and a PE's ROM/XNOR with ``copies`` (the configuration's
# LayerImpl.issue_registers says the same)
ISSUE_REGISTERS = 2


def _link(m, src, dst, payload) -> None:
    """Connect stream ``src`` to ``dst`` with ``payload`` (a view of src's payload)."""
    m.d.comb += [dst.valid.eq(src.valid), dst.payload.eq(payload), src.ready.eq(dst.ready)]


class FoldedLayer(wiring.Component):
    """N binary neurons over K inputs, PE neurons at a time, SIMD inputs per cycle.

    The input vector is latched into a register that rotates by SIMD bits every
    cycle, so the slice under computation is always its low SIMD bits and no
    wide multiplexer is needed; the weights for the same cycle come from a
    store that yields one PE x SIMD word per cycle in fold order. Each PE lane
    counts agreements; at the last slice of a neuron fold the count is compared
    with the threshold and PE result bits shift into the result register.

    Cycles: a sample takes ``(N/PE) * (K/SIMD)`` compute cycles; one more cycle
    hands the result to the output register while the next input is loaded.
    With PE = N this is the bit-serial neuron: inputs shift through a register
    into one counter per neuron.

    Weight stores: ``registers`` rotate a chain of words (no addressing),
    ``rom`` reads a LUT ROM asynchronously, ``bram`` reads block RAM two cycles
    ahead into a register (word 0 is a constant), ``bram_direct`` reads block
    RAM one cycle ahead with no register behind it.

    ``threshold`` is one integer for every neuron, or one per neuron (imported
    networks with folded biases). Each PE's accumulator starts a neuron fold at
    minus that neuron's threshold (``fold * PE + p``, selected by the fold
    counter), so a neuron fires when its accumulator ends non-negative: the
    compare is the accumulating adder's sign.

    ``pipeline`` = P puts P registers inside each PE's XNOR/popcount (at the
    level boundaries ``popcount.register_levels`` picks, the accumulator being
    the final stage). The issue side (input rotation, weight address, fold
    counters) runs as without them; the control of each slice (valid, end of
    a neuron fold, fold index, last slice) travels P cycles beside its count,
    and the accumulate/compare/result stage acts on the delayed copy. The
    layer takes the next sample while the last P slices of the previous one
    are still in flight only when its output register is free (or freed in
    that cycle): then the finished result moves out as soon as it is complete,
    before the new sample's first fold can overwrite it. So cycles per sample
    stay ``(N/PE)(K/SIMD) + 1`` and the latency grows by P (P <= the compute
    cycles, which InferenceConfig checks).

    ``copies`` = G (ROM store) puts two issue registers in front of the ROM/XNOR
    stage: the weight address and the input slice in a copy per G PEs, then the
    address in a copy per PE and the slice in a second copy per G PEs
    (``fanout.Copies``, kept apart in synthesis), each PE with a ROM of its own
    lane. Without them one address register drives every PE's ROM LUTs (6,272
    at 64 x 98) and the slice's bits each reach all PE XNORs; with them each copy
    sits beside its loads. They travel like pipeline registers: two more cycles
    of latency, the same cycles per sample (``ISSUE_REGISTERS``). The accumulators'
    controls reach the PEs through the same two hops of copies, and the input
    register has no load enable (it takes the payload whenever the layer is idle).

    ``registered_ready`` (cores without register slices) takes i.ready from
    registers only; see ``elaborate``.
    """

    def __init__(self, k: int, n: int, pe: int, simd: int, weights: np.ndarray,
                 threshold, store: str, popcount: str = "tree", pipeline: int = 0,
                 registered_ready: bool = False, copies: int = 0):
        self.k, self.n, self.pe, self.simd, self.popcount = k, n, pe, simd, popcount
        self.pipeline, self.registered_ready, self.copies = pipeline, registered_ready, copies
        require(not copies or (store == "rom" and 1 <= copies <= pe),
                f"copies={copies} needs the ROM store and 1..PE PEs per copy (store {store!r}, PE {pe})")
        t = np.broadcast_to(np.asarray(threshold, dtype=np.int64), (n,))
        self.thresholds = [int(v) for v in t]
        self.threshold = self.thresholds[0] if len(set(self.thresholds)) == 1 else None
        self.store = store
        self.slices, self.folds = k // simd, n // pe
        w = np.asarray(weights) > 0
        # word f = nf * slices + sf holds W[nf*PE + p, sf*SIMD + s] at bit p*SIMD + s
        blocks = w.reshape(self.folds, pe, self.slices, simd).transpose(0, 2, 1, 3)
        self.words = [int(sum(int(b) << i for i, b in enumerate(blk.reshape(-1))))
                      for blk in blocks.reshape(self.folds * self.slices, pe * simd)]
        super().__init__({"i": In(stream.Signature(k)), "o": Out(stream.Signature(n))})

    def _weight_addr(self, m, running, last) -> Signal:
        """The fold counter as the weight-store address: word c in compute cycle c."""
        addr = Signal(range(len(self.words)), name="weight_addr")
        with m.If(running & ~last):
            m.d.sync += addr.eq(addr + 1)
        with m.Elif(running):
            m.d.sync += addr.eq(0)
        return addr

    def _issue_copies(self, m, running, last, inputs) -> tuple[list, list]:
        """The issue registers of ``copies``: per PE, its weight lane (a ROM read at its own
        address copy) and the input slice copy of its group, two clocks after issue. The
        address and the slice reach the PEs in two hops: a copy per group of ``copies`` PEs
        (level A, which the placer can put between the counter and its group), then a copy
        per PE of the address and a second copy per group of the slice (level B, beside the
        ROMs and XNORs). One hop was 11 ns of routing across the die at 64 x 98."""
        pe, simd, depth, per = self.pe, self.simd, len(self.words), self.copies
        groups = -(-pe // per)
        slice_a = Copies(simd, groups, name="slice_a", reset_less=True)
        slice_b = Copies(simd, groups, name="slice_b", reset_less=True)
        m.d.sync += slice_a.eq(inputs[:simd])
        m.d.sync += [slice_b[g].eq(slice_a[g]) for g in range(groups)]
        slices = [slice_b[p // per] for p in range(pe)]
        lanes = [[w >> (p * simd) & ((1 << simd) - 1) for w in self.words] for p in range(pe)]
        if depth == 1:
            return [Const(lane[0], simd) for lane in lanes], slices
        addr_a = Copies(range(depth), groups, name="weight_addr_a", reset_less=True)
        addr_b = Copies(range(depth), pe, name="weight_addr_b", reset_less=True)
        m.d.sync += addr_a.eq(self._weight_addr(m, running, last))
        m.d.sync += [addr_b[p].eq(addr_a[p // per]) for p in range(pe)]
        words = []
        for p, lane in enumerate(lanes):
            m.submodules[f"pe{p}_weights"] = mem = Memory(shape=unsigned(simd), depth=depth, init=lane)
            rd = mem.read_port(domain="comb")
            m.d.comb += rd.addr.eq(addr_b[p])
            words.append(rd.data)
        return words, slices

    def _weight_word(self, m, running, last, accept) -> Signal:
        width, depth = self.pe * self.simd, len(self.words)
        word = Signal(width, name="weight_word")
        if self.store == "registers" or depth == 1:
            chain = [Signal(width, init=v, name=f"wreg{f}") for f, v in enumerate(self.words)]
            with m.If(running):
                m.d.sync += [chain[f].eq(chain[(f + 1) % depth]) for f in range(depth)]
            m.d.comb += word.eq(chain[0])
            return word
        m.submodules.weights = mem = Memory(shape=unsigned(width), depth=depth, init=self.words)
        addr = self._weight_addr(m, running, last)
        if self.store == "rom":
            rd = mem.read_port(domain="comb")
            m.d.comb += [rd.addr.eq(addr), word.eq(rd.data)]
            return word
        if self.store == "bram_direct":
            # Block RAM read one cycle ahead, its output straight into the PE
            # XNORs: word c + 1 is read in compute cycle c, word 0 whenever the
            # layer is idle or in its last compute cycle (so it is on the RAM's
            # output in the first compute cycle of the next sample, however soon
            # that sample comes). No output register: on iCE40 every register bit
            # takes a logic cell of its own (its LUT passes the bit through),
            # which the UP5K's 5,280 cells cannot spare (docs/inference.md).
            rd = mem.read_port()
            m.d.comb += [rd.addr.eq(Mux(running & ~last, addr + 1, 0)), word.eq(rd.data)]
            return word
        # Block RAM: a synchronous read plus a register on its output, because
        # the EBR's clock-to-output time (5.6 ns on ECP5) in front of the PE
        # popcounts was the critical path. Word c (c >= 1) is fetched two cycles
        # before compute cycle c: in the cycle that takes the sample (c = 1) and
        # in compute cycle c - 2. Word 0 is a constant selected in the first
        # compute cycle, so nothing depends on what the RAM read while idle or
        # in reset (the select merges into the XNOR's LUT).
        rd = mem.read_port()
        fetched = Signal(width, name="weight_word_fetched")
        first = Signal(name="first_compute_cycle")
        m.d.sync += [fetched.eq(rd.data), first.eq(accept)]
        with m.If(accept):
            m.d.comb += rd.addr.eq(1)
        with m.Elif(addr < depth - 2):
            m.d.comb += rd.addr.eq(addr + 2)
        m.d.comb += word.eq(Mux(first, self.words[0], fetched))
        return word

    def elaborate(self, platform):
        m = Module()
        pe, simd, depth = self.pe, self.simd, self.pipeline
        running, done = Signal(), Signal()
        sf = Signal(range(self.slices), name="slice")
        nf = Signal(range(self.folds), name="fold")
        slice_end = Signal()
        last = Signal()                                  # last compute cycle of the sample
        m.d.comb += [slice_end.eq(sf == self.slices - 1), last.eq(slice_end & (nf == self.folds - 1))]

        inputs = Signal(self.k, name="inputs")
        result = Signal(self.n, name="result")
        accept = Signal()
        m.d.comb += accept.eq(self.i.valid & self.i.ready)
        if self.copies:
            words, slices = self._issue_copies(m, running, last, inputs)
        else:
            word = self._weight_word(m, running, last, accept)
            words = [word[p * simd:(p + 1) * simd] for p in range(pe)]
            slices = [inputs[:simd]] * pe

        # The control of each issued slice, delayed by the issue register (copies)
        # and the popcount's P registers.
        ctrl = [(running, slice_end, nf, last)]
        for d in range(depth + ISSUE_REGISTERS * (self.copies > 0)):
            stage = (Signal(name=f"valid_d{d + 1}"), Signal(name=f"slice_end_d{d + 1}"),
                     Signal(range(self.folds), name=f"fold_d{d + 1}"), Signal(name=f"last_d{d + 1}"))
            m.d.sync += [stage[j].eq(ctrl[-1][j]) for j in range(4)]
            ctrl.append(stage)
        valid_q, end_q, nf_q, last_q = ctrl[-1]
        # Each PE's accumulator controls (valid, end of fold, fold): with copies, in two hops
        # of copies per group of PEs like the address (one register for 64 PEs was 18.6 ns
        # of routing across the die at 64 x 98); else the chain's last stage.
        pe_ctrl = [(valid_q, end_q, nf_q)] * pe
        if self.copies:
            groups = -(-pe // self.copies)
            hop_b = []
            for name, v in zip(("valid", "slice_end", "fold"), ctrl[-3][:3]):
                a = Copies(len(v), groups, name=f"{name}_h0")
                b = Copies(len(v), groups, name=f"{name}_h1")
                m.d.sync += [*a.eq(v), *(b[g].eq(a[g]) for g in range(groups))]
                hop_b.append(b)
            pe_ctrl = [tuple(b[p // self.copies] for b in hop_b) for p in range(pe)]
        # Slices issued whose count has not reached the accumulator yet (with the
        # one being accumulated now): after the last issue, the sample's tail.
        in_flight = Signal()
        if len(ctrl) > 1:
            m.d.comb += in_flight.eq(Cat(*[c[0] for c in ctrl[1:]]).any())

        out_free = Signal()
        # registered_ready: i.ready from registers only (the output register empty
        # rather than "empty or being taken"), so no combinational path runs from
        # o.ready to i.ready: without register slices between the layers the ready
        # chain then stops at every folded layer.
        free = ~self.o.valid if self.registered_ready else out_free
        m.d.comb += [out_free.eq(~self.o.valid | self.o.ready),
                     self.i.ready.eq(~running & ((~done & ~in_flight) | free))]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(done & out_free):
            m.d.sync += [self.o.payload.eq(result), self.o.valid.eq(1), done.eq(0)]
        with m.If(accept):
            m.d.sync += [running.eq(1), sf.eq(0), nf.eq(0)]
            if not self.copies:
                m.d.sync += inputs.eq(self.i.payload)
        rotated = Cat(inputs[simd:], inputs[:simd])
        if self.copies:
            # The input register loads the payload whenever the layer is idle and rotates while
            # it runs: no load enable from the handshake (which reached all K flip-flops, 333
            # late endpoints at 64 x 98), and each chunk's select is its own copy of ``running``.
            chunks = -(-pe // self.copies)
            run = Copies(1, chunks, name="running")
            with m.If(accept):
                m.d.sync += run.eq(1)
            with m.If(running & last):
                m.d.sync += run.eq(0)
            for c in range(chunks):
                lo, hi = c * self.k // chunks, (c + 1) * self.k // chunks
                m.d.sync += inputs[lo:hi].eq(Mux(run[c], rotated[lo:hi], self.i.payload[lo:hi]))

        fires = []
        for p in range(pe):
            agree = Signal(simd, name=f"pe{p}_agree")
            m.d.comb += agree.eq(~(slices[p] ^ words[p]))
            count = popcount(m, agree, structure=self.popcount, stages=depth, en=Const(1),
                             name=f"pe{p}_pop")
            # The accumulator holds agreements minus the neuron's threshold, so the
            # compare is the sign of the accumulating adder (no second carry chain
            # behind it, the iCE40 core's critical path): it starts every neuron
            # fold at -threshold of that fold's neuron.
            lane = [self.thresholds[f * pe + p] for f in range(self.folds)]
            acc_range = range(min(0, -max(lane)), max(0, self.k - min(lane)) + 1)
            acc = Signal(acc_range, init=-lane[0], name=f"pe{p}_acc")
            total = Signal(acc_range, name=f"pe{p}_total")
            m.d.comb += total.eq(acc + count)
            fire = Signal(name=f"pe{p}_fire")
            m.d.comb += fire.eq(total >= 0)
            fires.append(fire)
            # the next fold's -threshold: lane p of fold nf_q + 1 (fold 0 after the last)
            if len(set(lane)) == 1:
                start = Const(-lane[0], acc_range)
            else:
                start = Signal(acc_range, name=f"pe{p}_start")
                m.d.comb += start.eq(Array(Const(-lane[(f + 1) % self.folds], acc_range)
                                           for f in range(self.folds))[pe_ctrl[p][2]])
            # acc is -threshold(fold 0) between samples: reloaded at the end of every neuron fold.
            valid_p, end_p, nf_p = pe_ctrl[p]
            with m.If(valid_p):
                m.d.sync += acc.eq(Mux(end_p, start, total))

        with m.If(running):
            if not self.copies:
                m.d.sync += inputs.eq(rotated)
            m.d.sync += sf.eq(Mux(slice_end, 0, sf + 1))
            with m.If(slice_end):
                m.d.sync += nf.eq(nf + 1)
            with m.If(last):
                m.d.sync += running.eq(0)
        with m.If(valid_q & end_q):
            # PE results enter at the top; after N/PE folds fold 0 sits at bit 0.
            m.d.sync += result.eq(Cat(result[pe:], *fires) if self.folds > 1 else Cat(*fires))
            with m.If(last_q):
                m.d.sync += done.eq(1)
        return m


def class_layout(k: int, classes: int, logits_out: bool) -> data.StructLayout:
    """Result payload: ``cls``, then the logits ``2 * count - K`` if requested."""
    fields = {"cls": range(classes)}
    if logits_out:
        fields["logits"] = data.ArrayLayout(signed(k.bit_length() + 1), classes)
    return data.StructLayout(fields)


class Argmax(wiring.Component):
    """Index of the largest count (lowest index on ties), plus logits on request.

    Logits are ``2 * count - K``; one register stage, stalled as a whole.
    ``pipeline`` (None, "round", "compare" or "split") puts
    ``tournament_registers(classes, pipeline)`` registers inside the tournament
    (hdl.argmax); the valid bit and the counts behind the logits travel beside
    them, and every register holds while the output stalls.
    """

    def __init__(self, k: int, classes: int, logits_out: bool, pipeline: str | None = None):
        self.k, self.classes, self.logits_out = k, classes, logits_out
        self.pipeline = pipeline
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(k.bit_length(), classes))),
            "o": Out(stream.Signature(class_layout(k, classes, logits_out))),
        })

    def elaborate(self, platform):
        m = Module()
        en = Signal()
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]
        best = tournament(m, [self.i.payload[c] for c in range(self.classes)],
                          pipeline=self.pipeline, en=en if self.pipeline else None)
        valid, counts = self.i.valid, self.i.payload
        for d in range(tournament_registers(self.classes, self.pipeline)):
            v = Signal(name=f"valid_d{d + 1}")
            with m.If(en):
                m.d.sync += v.eq(valid)
            valid = v
            if self.logits_out:
                q = Signal.like(self.i.payload, name=f"counts_d{d + 1}")
                with m.If(en):
                    m.d.sync += q.eq(counts)
                counts = q
        with m.If(en):
            m.d.sync += [self.o.valid.eq(valid), self.o.payload.cls.eq(best)]
            if self.logits_out:
                m.d.sync += [self.o.payload.logits[c].eq(2 * counts[c] - self.k)
                             for c in range(self.classes)]
        return m


class InferenceCore(wiring.Component):
    """Stream of K0-bit binarized samples in, class index (and logits) out."""

    def __init__(self, cfg: InferenceConfig, model: BinaryMLP | None = None):
        self.cfg = cfg
        self.golden = GoldenCore(cfg, model or cfg.load_model())
        super().__init__({
            "i": In(stream.Signature(cfg.sizes[0])),
            "o": Out(stream.Signature(class_layout(cfg.sizes[-1], cfg.classes, cfg.logits_out))),
        })

    def elaborate(self, platform):
        cfg, model = self.cfg, self.golden.model
        m = Module()
        stages = []
        # "split" applies to parallel hidden layers only: folded layers count a
        # SIMD slice at a time and the classifier needs its counts (logits).
        counting = "compressor" if cfg.popcount == "split" else cfg.popcount
        for l, li in enumerate(cfg.layer_impls):
            k, n = cfg.sizes[l], cfg.sizes[l + 1]
            t = self.golden.thresholds(l)
            if li.kind == "parallel":
                layer = XnorPopcountArray(
                    DatapathConfig(k, n, pipeline=li.pipeline, popcount_out=False,
                                   popcount=cfg.popcount),
                    DatapathParams(model.weights[l] > 0, self.golden.thresholds(l)))
            else:
                pe = li.pe if li.kind == "folded" else n
                layer = FoldedLayer(k, n, pe, li.simd, model.weights[l], t, cfg.store_for(l),
                                    counting, pipeline=li.pipeline,
                                    registered_ready=not cfg.register_slices, copies=li.copies)
            m.submodules[f"layer{l}"] = layer
            stages.append(layer)
        k = cfg.sizes[-1]
        classifier = XnorPopcountArray(
            DatapathConfig(k, cfg.classes, pipeline=cfg.classifier_pipeline, popcount_out=True,
                           popcount=counting),
            DatapathParams(model.classifier > 0, np.zeros(cfg.classes, dtype=np.int64)))
        m.submodules.classifier = classifier
        m.submodules.argmax = argmax = Argmax(
            k, cfg.classes, cfg.logits_out,
            None if cfg.argmax_pipeline == "none" else cfg.argmax_pipeline)

        # A register slice behind every hidden layer: no combinational ready
        # (nor valid/payload) path crosses a layer boundary, so the handshake
        # no longer runs from the argmax back through every layer into layer
        # 0's block-RAM address (the 784-input cores' critical path).
        # ``register_slices=False`` leaves them out (small devices).
        prev, prev_payload = self.i, self.i.payload
        for l, layer in enumerate(stages + [classifier]):
            if l > 0 and cfg.register_slices:
                rs = stream.Signature(cfg.sizes[l]).create(path=(f"slice{l - 1}",))
                register_slice(m, prev, prev_payload, rs, name=f"slice{l - 1}")
                prev, prev_payload = rs, rs.payload
            _link(m, prev, layer.i, prev_payload)
            prev = layer.o
            # XnorPopcountArray outputs a struct; its ``fire`` bits are the activations.
            prev_payload = layer.o.payload.fire if isinstance(layer, XnorPopcountArray) else layer.o.payload
        _link(m, classifier.o, argmax.i, classifier.o.payload.popcount)
        _link(m, argmax.o, self.o, argmax.o.payload)
        return m
