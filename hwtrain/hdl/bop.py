"""BOP unit: momentum memory + comparator + flip (golden twin: hwtrain.golden.bop).

One request updates one row of ``lanes`` synapses: the gradient source sends
the row address, the row's current weights and a ternary loss gradient per
synapse (``g_pos`` bit set: +1, ``g_neg`` bit set: -1, neither: 0; both set is
illegal and counts as 0). The unit reads the row's momenta, applies
``M <- sat(M - trunc(M >> k) + g)``, writes them back and returns the new
weights and the flip mask (``w * M > tau``). The unit does not store weights:
the caller owns them, so any weight memory (registers, RAM, a crossbar model)
can use it.

Timing: a two-stage pipeline (memory read, then compute/write/output
register). ``i.ready`` is high when the output register is empty or being
read, so with an always-ready consumer it takes one row per clock and answers
two clocks later. The read port is transparent to the write port, so
back-to-back requests to the same row see each other's updates.

``peek=True`` adds a second read port (``peek_row`` in, ``peek_m`` out one
clock later; lane l in bits ``[l*N, (l+1)*N)``, two's complement) for test
benches and host read-back.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..core.bits import sat_bounds
from ..golden.bop import BopConfig


def request_layout(cfg: BopConfig) -> data.StructLayout:
    return data.StructLayout({"row": cfg.row_width, "w": cfg.lanes,
                              "g_pos": cfg.lanes, "g_neg": cfg.lanes})


def response_layout(cfg: BopConfig) -> data.StructLayout:
    return data.StructLayout({"row": cfg.row_width, "w": cfg.lanes, "flips": cfg.lanes})


def bop_leak(m: Module, mom, mom_bits: int, gamma_shift: int, name: str):
    """``M - trunc(M / 2**k)`` of the signed momentum ``mom`` (combinational): BOP's first half."""
    n, k = mom_bits, gamma_shift
    leak = Signal(signed(n), name=f"{name}_leak")
    if k < n - 1:          # otherwise |M| < 2**k and the leak is always 0
        # Round toward zero so positive and negative momenta leak alike:
        # -((-M) >> k) == (M + 2**k - 1) >> k for M < 0, one adder instead of two negations.
        bias = Mux(mom < 0, (1 << k) - 1, 0)
        m.d.comb += leak.eq((mom + bias) >> k)
    return mom - leak


def bop_accumulate(m: Module, kept, w, g_pos, g_neg, mom_bits: int, tau, name: str):
    """BOP's second half (combinational): ``sat(kept + g)`` with g = g_pos - g_neg (both or
    neither: 0) and the flip ``w ? sum > tau : sum < -tau``; returns (new momentum, flip).
    ``tau``: an int, or an unsigned Value below ``2**(mom_bits-1) - 1`` (a scheduled threshold)."""
    hi = sat_bounds(mom_bits)[1]
    total = Signal(signed(mom_bits + 2), name=f"{name}_sum")
    m.d.comb += total.eq(kept + (g_pos & ~g_neg) - (g_neg & ~g_pos))
    new = Signal(signed(mom_bits), name=f"{name}_m")
    m.d.comb += new.eq(Mux(total > hi, hi, Mux(total < -hi, -hi, total)))
    # The flip test reads the sum before saturation (BopConfig keeps tau < hi, so
    # clipping never changes its outcome) and runs beside the clamp, not after it.
    flip = Signal(name=f"{name}_flip")
    m.d.comb += flip.eq(Mux(w, total > tau, total < -tau))
    return new, flip


def bop_lane(m: Module, momentum, w, g_pos, g_neg, cfg: BopConfig, name: str):
    """Combinational BOP of one synapse; returns (new momentum, flip)."""
    kept = bop_leak(m, momentum.as_signed(), cfg.mom_bits, cfg.gamma_shift, name)
    return bop_accumulate(m, kept, w, g_pos, g_neg, cfg.mom_bits, cfg.tau, name)


class Bop(wiring.Component):
    """Row-at-a-time BOP over a ``rows`` x ``lanes`` momentum memory (see module doc)."""

    def __init__(self, cfg: BopConfig, *, peek: bool = False):
        self.cfg = cfg
        self.peek = peek
        members = {"i": In(stream.Signature(request_layout(cfg))),
                   "o": Out(stream.Signature(response_layout(cfg)))}
        if peek:
            members["peek_row"] = In(cfg.row_width)
            members["peek_m"] = Out(cfg.lanes * cfg.mom_bits)
        super().__init__(members)

    def elaborate(self, platform):
        cfg, m = self.cfg, Module()
        n = cfg.mom_bits
        m.submodules.momenta = mem = Memory(shape=cfg.lanes * n, depth=cfg.rows, init=[])
        wp = mem.write_port()
        rp = mem.read_port(transparent_for=(wp,))
        if self.peek:
            pp = mem.read_port()
            m.d.comb += [pp.addr.eq(self.peek_row), self.peek_m.eq(pp.data)]

        advance = Signal()               # the pipeline moves when the output slot frees up
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance),
                     rp.addr.eq(self.i.payload.row), rp.en.eq(advance)]

        req = Signal(request_layout(cfg))
        req_valid = Signal()
        with m.If(advance):
            m.d.sync += [req.eq(self.i.payload), req_valid.eq(self.i.valid)]

        new_m, flips = [], []
        for lane in range(cfg.lanes):
            mom, flip = bop_lane(m, rp.data[lane * n:(lane + 1) * n], req.w[lane],
                                 req.g_pos[lane], req.g_neg[lane], cfg, f"lane{lane}")
            new_m.append(mom)
            flips.append(flip)
        new_row = Signal(cfg.lanes * n)
        flip_row = Signal(cfg.lanes)
        m.d.comb += [new_row.eq(Cat(*new_m)), flip_row.eq(Cat(*flips))]
        m.d.comb += [wp.addr.eq(req.row), wp.data.eq(new_row), wp.en.eq(advance & req_valid)]
        with m.If(advance):
            m.d.sync += [self.o.valid.eq(req_valid), self.o.payload.row.eq(req.row),
                         self.o.payload.w.eq(req.w ^ flip_row), self.o.payload.flips.eq(flip_row)]
        return m
