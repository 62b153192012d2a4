"""Fully binarized EP engine with on-chip BOP training (golden twin: hwtrain.golden.ep).

One sample at a time (online training, batch 1):

* ``i`` stream: ``x`` (D input bits, 1 = active pixel), ``label``, ``train``.
* ``o`` stream: ``pred``, the free-phase prediction (computed before the
  sample's own update, like ``EpEngine.train_sample`` in the golden model).

Datapath (all sizes from :class:`hwtrain.golden.ep.EpConfig`):

* shift-register neurons: H hidden and C*R output ``state_bits``-bit states
  in registers, updated ``s <- clamp((s >> 1) + (u >> 1))``;
* one hidden and one output neuron per clock: each has its own AND/popcount
  over its whole fan-in (hidden: inputs and output activations through W2
  transposed; output: hidden activations), so a time step takes
  ``L = max(H, C*R)`` clocks, one more for the last neurons to leave the
  second pipeline stage (bias, scaling, state update) and one to latch the
  new activations (the update is synchronous: every neuron of a step sees
  the previous step's activations, as in the golden model);
* no row multiplexers: weights, states, biases and activations are rings
  that turn one slot per visited neuron, so the neuron being updated is
  always in slot 0 and every register talks to its neighbour (W2's rows
  ring with the output neurons and their bits with the hidden neurons, so
  bit 0 of every row is the column the hidden neuron hears);
* a phase controller runs T free and, for training samples, K nudged steps;
  snapshots of the free and nudged activations (1 bit per neuron);
* the gradient unit forms each weight row's ternary loss gradient from the
  snapshots and streams it into two :class:`~hwtrain.hdl.bop.Bop` units (W1
  rows: D lanes; W2 rows: H lanes), whose new weights are written back;
  biases move by ``nudged - free`` in the same phase.

Weights live in registers (reset value = ``golden.ep.initial_weights``; in
neuron order whenever the engine is idle),
momenta in the Bop memories. ``probe=True`` adds a read-back port for benches:
``probe_row`` selects row r, and one clock later ``probe_w1`` (W1 row r),
``probe_w2`` (W2 row r), ``probe_m1``/``probe_m2`` (momenta rows), and
``probe_b_hidden``/``probe_b_output`` (biases r) show it. Read it only while
the engine is idle.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..core.bits import sat_bounds
from ..errors import HwtrainError
from ..golden.ep import EpConfig, initial_weights
from .argmax import tournament
from .bop import Bop
from .popcount import popcount


def sample_layout(cfg: EpConfig) -> data.StructLayout:
    return data.StructLayout({"x": cfg.inputs, "label": max(cfg.label_width, 1), "train": 1})


def prediction_layout(cfg: EpConfig) -> data.StructLayout:
    return data.StructLayout({"pred": max(cfg.label_width, 1)})


def _row_int(bits) -> int:
    return sum(1 << j for j, b in enumerate(bits) if b)


def _count(m: Module, bits, name: str):
    """Combinational compressor-tree popcount of ``bits``."""
    return popcount(m, bits, structure="compressor", stages=0, en=Const(1), name=name)


def _synapse_sum(m: Module, z, w, name: str):
    """``2 * popcount(z & w) - popcount(z)``: sum over active inputs of +-1 weights."""
    both = Signal(len(z), name=f"and_{name}")
    m.d.comb += both.eq(z & w)
    total = Signal(signed(len(z).bit_length() + 2), name=f"count_{name}")
    m.d.comb += total.eq(2 * _count(m, both, f"pc_and_{name}") - _count(m, z, f"pc_act_{name}"))
    return total


class EpEngine(wiring.Component):
    """The on-chip EP trainer (see module doc for ports and timing)."""

    def __init__(self, cfg: EpConfig, *, probe: bool = False):
        try:
            refuse_unsupported(cfg)
            if cfg.tau_schedule:
                raise HwtrainError(f"the flip-flop EP engine has fixed flip thresholds; tau_schedule="
                                   f"{[list(e) for e in cfg.tau_schedule]} is built by ep_bram only")
        except HwtrainError:
            self._MustUse__silence = True          # never elaborated: no UnusedElaboratable warning
            raise
        self.cfg = cfg
        self.probe = probe
        self.steps = max(cfg.hidden, cfg.outputs)          # neuron visits per time step
        members = {"i": In(stream.Signature(sample_layout(cfg))),
                   "o": Out(stream.Signature(prediction_layout(cfg)))}
        if probe:
            members.update({
                "probe_row": In(range(self.steps)),
                "probe_w1": Out(cfg.inputs), "probe_w2": Out(cfg.hidden),
                "probe_m1": Out(cfg.inputs * cfg.mom_bits), "probe_m2": Out(cfg.hidden * cfg.mom_bits),
                "probe_b_hidden": Out(signed(cfg.bias_bits)), "probe_b_output": Out(signed(cfg.bias_bits)),
            })
        super().__init__(members)

    def cycles_per_sample(self, train: bool = True) -> int:
        """Clocks from the edge that takes a sample to the edge that delivers its
        prediction, with a ready consumer: (T [+ K]) time steps of L + 2 clocks;
        training adds L clocks of BOP requests, 2 of Bop latency, 1 to see the
        last answer and 1 output clock; inference adds one clock for the argmax
        and the output clock."""
        return cycles_per_sample(self.cfg, train)

    def _neuron_update(self, m: Module, s, u, name: str):
        """``clamp((s >> 1) + (u >> 1), 0, 2**B - 1)`` (arithmetic shift of u)."""
        c = self.cfg
        # Wide enough for both terms: with u narrower than the state (few inputs, narrow
        # bias) a signed(len(u) + 1) sum wrapped (found by hwtrain.flows.formal).
        v = Signal(signed(max(len(u), len(s)) + 1), name=f"{name}_sum")
        m.d.comb += v.eq((s >> 1) + (u >> 1))
        new = Signal(c.state_bits, name=f"{name}_new")
        top = (1 << c.state_bits) - 1
        m.d.comb += new.eq(Mux(v < 0, 0, Mux(v > top, top, v)))
        return new

    def _scaled(self, m: Module, pre, name: str):
        """``pre << in_shift`` (or arithmetic right shift), as a named signal."""
        c = self.cfg
        sh = c.in_shift
        u = Signal(signed(len(pre) + max(sh, 0)), name=name)
        m.d.comb += u.eq(pre << sh if sh >= 0 else pre >> -sh)
        return u

    def elaborate(self, platform):
        c, m = self.cfg, Module()
        D, H, O, R, B = c.inputs, c.hidden, c.outputs, c.replicas, c.state_bits
        L = self.steps
        w1_init, w2_init = initial_weights(c)
        bias_lo, bias_hi = sat_bounds(c.bias_bits)

        # --- state: rings, so the neuron being updated is always at slot 0 --------------------
        # A time step visits hidden neuron idx and output neuron idx at clock idx. Instead of
        # multiplexing row idx out of every register array (64:1 muxes on 6,656 weight bits, which
        # made the engine too congested to route), each per-neuron array is a ring that rotates
        # by one slot per visit: the current neuron sits at slot 0 and its new state enters at the
        # tail. A ring of n slots turns n times per step, so at the latch, in the BOP phase and
        # when idle every ring is back in neuron order.
        w1 = [Signal(D, name=f"w1_{i}", init=_row_int(w1_init[i])) for i in range(H)]
        w2 = [Signal(H, name=f"w2_{o}", init=_row_int(w2_init[o])) for o in range(O)]
        b_h = [Signal(signed(c.bias_bits), name=f"b_hidden_{i}") for i in range(H)]
        b_y = [Signal(signed(c.bias_bits), name=f"b_output_{o}") for o in range(O)]
        s_h = [Signal(B, name=f"s_hidden_{i}") for i in range(H)]
        s_y = [Signal(B, name=f"s_output_{o}") for o in range(O)]
        a_h, a_y = Signal(H), Signal(O)          # activations of the previous step (rings too)
        tgt = Signal(O)                          # nudging target (ring with the output neurons)
        f_h, f_y = Signal(H), Signal(O)          # free-phase snapshot (neuron order)
        n_h, n_y = Signal(H), Signal(O)          # nudged-phase snapshot (neuron order)
        x = Signal(D)
        train = Signal()
        nudging = Signal()
        pred = Signal(max(c.label_width, 1))
        idx = Signal(range(L + 1))
        step = Signal(range(max(c.free_steps, c.nudged_steps) + 1))
        turn_h, turn_y = Signal(), Signal()      # this clock visits a hidden / an output neuron

        msb_h = Cat(s[B - 1] for s in s_h)
        msb_y = Cat(s[B - 1] for s in s_y)

        # --- one hidden and one output neuron per clock, both at slot 0 ---------------------
        # W2 rows ring with the output neurons, and each row's bits rotate with the hidden
        # neurons, so bit 0 of every row is column idx (what hidden neuron idx hears) and a_h,
        # a_y rotate alike; popcounts do not care about the order.
        # Two pipeline stages: the visit (clock idx) forms 2 * popcount(z & w) - popcount(z)
        # and the nudge; the next clock adds the bias, scales and updates the state. By then
        # the visited neuron has moved to the tail of its rings, so stage 2 reads the tail and
        # writes the new state where the tail is going (slot n - 2 if the ring turns again).
        col = Signal(O)
        m.d.comb += col.eq(Cat(row[0] for row in w2))
        z_h, w_h = Signal(D + O), Signal(D + O)
        m.d.comb += [z_h.eq(Cat(x, a_y)), w_h.eq(Cat(w1[0], col))]
        count_h = _synapse_sum(m, z_h, w_h, "hidden")
        count_y = _synapse_sum(m, a_h, w2[0], "output")
        nudge = Signal(signed(c.nudge.bit_length() + 2))
        with m.If(nudging):
            m.d.comb += nudge.eq(Mux(tgt[0], c.nudge, 0) - Mux(a_y[0], c.nudge, 0))

        late_h, late_y = Signal(), Signal()      # stage 2 holds a hidden / an output neuron
        count_h2, count_y2 = Signal.like(count_h), Signal.like(count_y)
        nudge2 = Signal.like(nudge)
        m.d.sync += [late_h.eq(turn_h), late_y.eq(turn_y),
                     count_h2.eq(count_h), count_y2.eq(count_y), nudge2.eq(nudge)]

        pre_h = Signal(signed(len(count_h) + c.bias_bits), name="pre_hidden")
        m.d.comb += pre_h.eq(count_h2 + (b_h[-1] >> c.bias_frac))
        new_h = self._neuron_update(m, s_h[-1], self._scaled(m, pre_h, "u_hidden"), "hidden")
        pre_y = Signal(signed(len(count_y) + c.bias_bits), name="pre_output")
        m.d.comb += pre_y.eq(count_y2 + (b_y[-1] >> c.bias_frac))
        u_y0 = self._scaled(m, pre_y, "u_output_free")
        u_y = Signal(signed(max(len(u_y0), len(nudge)) + 1), name="u_output")
        m.d.comb += u_y.eq(u_y0 + nudge2)
        new_y = self._neuron_update(m, s_y[-1], u_y, "output")

        with m.If(turn_h):
            m.d.sync += [*_shift(s_h, s_h[0]), *_shift(w1, w1[0]), *_shift(b_h, b_h[0]),
                         a_h.eq(a_h.rotate_right(1))]
        with m.If(turn_y):
            m.d.sync += [*_shift(s_y, s_y[0]), *_shift(b_y, b_y[0]),
                         a_y.eq(a_y.rotate_right(1)), tgt.eq(tgt.rotate_right(1))]
        for late, turn, ring, new in ((late_h, turn_h, s_h, new_h), (late_y, turn_y, s_y, new_y)):
            # Where the tail moves if the ring turns again (a ring of one never turns twice in a row).
            tail_next = ring[-2] if len(ring) > 1 else ring[-1]
            with m.If(late & turn):
                m.d.sync += tail_next.eq(new)
            with m.Elif(late):
                m.d.sync += ring[-1].eq(new)
        w2_turned = [Mux(turn_y, w2[(o + 1) % O], w2[o]) for o in range(O)]
        with m.If(turn_h | turn_y):
            m.d.sync += [w2[o].eq(Mux(turn_h, r.rotate_right(1), r)) for o, r in enumerate(w2_turned)]

        # --- prediction: argmax of per-class state sums, first maximum wins ---------------
        # Two clocks: the latch that ends the free phase registers the class sums, the next
        # clock their argmax (sum + argmax in one clock was the engine's critical path).
        scores, held = [], []
        for k in range(c.classes):
            score = Signal(B + R.bit_length(), name=f"score_{k}")
            m.d.comb += score.eq(sum(s_y[k * R + r] for r in range(R)))
            scores.append(score)
            held.append(Signal.like(score, name=f"score_held_{k}"))
        best_c = tournament(m, held, "pred")
        pred_due = Signal()
        m.d.sync += pred_due.eq(0)
        with m.If(pred_due):
            m.d.sync += pred.eq(best_c)

        # --- gradient unit and BOP -----------------------------------------------------------
        m.submodules.bop_hidden = bop1 = Bop(c.bop_hidden, peek=self.probe)
        m.submodules.bop_output = bop2 = Bop(c.bop_output, peek=self.probe)
        send = Signal(range(L + 1))
        got1, got2 = Signal(range(H + 1)), Signal(range(O + 1))
        m.d.comb += [bop1.o.ready.eq(1), bop2.o.ready.eq(1)]
        # The Bop units answer in order, two clocks after a request (their outputs are always
        # ready), so the weight rings turn once per answer: the answer for row got enters at
        # the tail while slot 0 (row got's old value) leaves, and the row being requested,
        # send = got + 0..2, is read from one of the first three slots.
        # W1[i, j]: g = x_j (f_h[i] - n_h[i]); W2[o, i]: g = f_y[o] f_h[i] - n_y[o] n_h[i].
        fi, ni = f_h.bit_select(send, 1), n_h.bit_select(send, 1)
        m.d.comb += [bop1.i.payload.row.eq(send), bop1.i.payload.w.eq(_in_flight(w1, send, got1)),
                     bop1.i.payload.g_pos.eq(Mux(fi & ~ni, x, 0)),
                     bop1.i.payload.g_neg.eq(Mux(ni & ~fi, x, 0))]
        free_and, nudged_and = Signal(H), Signal(H)
        m.d.comb += [free_and.eq(Mux(f_y.bit_select(send, 1), f_h, 0)),
                     nudged_and.eq(Mux(n_y.bit_select(send, 1), n_h, 0)),
                     bop2.i.payload.row.eq(send), bop2.i.payload.w.eq(_in_flight(w2, send, got2)),
                     bop2.i.payload.g_pos.eq(free_and & ~nudged_and),
                     bop2.i.payload.g_neg.eq(nudged_and & ~free_and)]
        with m.If(bop1.o.valid):
            m.d.sync += [*_shift(w1, bop1.o.payload.w), got1.eq(got1 + 1)]
        with m.If(bop2.o.valid):
            m.d.sync += [*_shift(w2, bop2.o.payload.w), got2.eq(got2 + 1)]

        # --- phase controller ------------------------------------------------------------------
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    init_bit = (c.state_init >> (B - 1)) & 1
                    m.d.sync += [x.eq(self.i.payload.x), train.eq(self.i.payload.train),
                                 tgt.eq(Cat(self.i.payload.label == o // R for o in range(O))),
                                 nudging.eq(0), idx.eq(0), step.eq(0),
                                 a_h.eq(-init_bit), a_y.eq(-init_bit)]
                    m.d.sync += [s.eq(c.state_init) for s in s_h + s_y]
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += [turn_h.eq(idx < H), turn_y.eq(idx < O)]
                m.d.sync += idx.eq(idx + 1)
                with m.If(idx == L):               # the last visits leave stage 2
                    m.next = "LATCH"
            with m.State("LATCH"):
                m.d.sync += [a_h.eq(msb_h), a_y.eq(msb_y), idx.eq(0), step.eq(step + 1)]
                with m.If(~nudging & (step == c.free_steps - 1)):
                    m.d.sync += [f_h.eq(msb_h), f_y.eq(msb_y), pred_due.eq(1),
                                 *(h.eq(v) for h, v in zip(held, scores)),
                                 step.eq(0), nudging.eq(1)]
                    with m.If(train):
                        m.next = "RUN"
                    with m.Else():
                        m.next = "ARGMAX"
                with m.Elif(nudging & (step == c.nudged_steps - 1)):
                    m.d.sync += [n_h.eq(msb_h), n_y.eq(msb_y), send.eq(0), got1.eq(0), got2.eq(0)]
                    m.next = "BOP"
                with m.Else():
                    m.next = "RUN"
            with m.State("BOP"):
                m.d.comb += [bop1.i.valid.eq(send < H), bop2.i.valid.eq(send < O)]
                with m.If(send < L):
                    m.d.sync += send.eq(send + 1)
                with m.If(send == 0):       # biases move once, by nudged - free
                    for i in range(H):
                        d = _bit(n_h[i]) - _bit(f_h[i])
                        m.d.sync += b_h[i].eq(_sat(b_h[i] + d, bias_lo, bias_hi))
                    for o in range(O):
                        d = _bit(n_y[o]) - _bit(f_y[o])
                        m.d.sync += b_y[o].eq(_sat(b_y[o] + d, bias_lo, bias_hi))
                with m.If((got1 == H) & (got2 == O)):
                    m.next = "OUT"
            with m.State("ARGMAX"):          # inference only: wait for pred
                m.next = "OUT"
            with m.State("OUT"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.pred.eq(pred)]
                with m.If(self.o.ready):
                    m.next = "IDLE"

        if self.probe:
            r = self.probe_row
            m.d.comb += [bop1.peek_row.eq(r), bop2.peek_row.eq(r),
                         self.probe_m1.eq(bop1.peek_m), self.probe_m2.eq(bop2.peek_m)]
            m.d.sync += [self.probe_w1.eq(Array(w1)[r]), self.probe_w2.eq(Array(w2)[r]),
                         self.probe_b_hidden.eq(Array(b_h)[r]), self.probe_b_output.eq(Array(b_y)[r])]
        return m


def _shift(ring: list, tail) -> list:
    """Turn a ring by one slot: slot k takes slot k + 1, the last slot takes ``tail``."""
    return [a.eq(b) for a, b in zip(ring, ring[1:])] + [ring[-1].eq(tail)]


def _in_flight(ring: list, send, got):
    """Row ``send`` of a weight ring that has turned ``got`` times in the BOP phase: slot
    ``send - got`` (0, 1 or 2: at most two requests wait in a Bop unit)."""
    ahead = (send - got)[:2]
    return Array(ring[:3])[ahead]


def _sat(v, lo: int, hi: int):
    return Mux(v > hi, hi, Mux(v < lo, lo, v))


def _bit(b):
    """A 1-bit value as a signed 0/1 (so differences of bits are -1, 0, 1)."""
    return Cat(b, Const(0, 1)).as_signed()


# Golden-model options (docs/semantics_ep.md) this engine does not build: field -> the value it builds.
HARDWARE_BUILDS = {"nudge_mode": "activation", "beta_sign": "positive", "mom_frac": 0,
                   "in_shift_output": None, "bias_mode": "pre", "batch": 1}


def refuse_unsupported(cfg: EpConfig) -> None:
    """Raise a one-line HwtrainError for a configuration whose golden model this
    engine would not match (an option only the golden model implements)."""
    for name, built in HARDWARE_BUILDS.items():
        value = getattr(cfg, name)
        if value != built:
            raise HwtrainError(f"the EP engine builds only {name}={built!r} (online, activation nudge, "
                               f"positive beta, integer momenta, one alpha, bias before the shift); "
                               f"{name}={value!r} runs in the golden model only (docs/semantics_ep.md)")


def top_name(cfg: EpConfig, *, probe: bool = False) -> str:
    """Verilog module name that says which engine this is."""
    return (f"ep_d{cfg.inputs}_h{cfg.hidden}_c{cfg.classes}x{cfg.replicas}_s{cfg.state_bits}"
            f"_m{cfg.mom_bits}_t{cfg.free_steps}k{cfg.nudged_steps}_seed{cfg.seed}"
            + ("_probe" if probe else ""))


def cycles_per_sample(cfg: EpConfig, train: bool = True) -> int:
    """``EpEngine.cycles_per_sample`` without building the component."""
    L = max(cfg.hidden, cfg.outputs)
    if not train:
        return cfg.free_steps * (L + 2) + 2
    return (cfg.free_steps + cfg.nudged_steps) * (L + 2) + L + 4
