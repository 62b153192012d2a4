"""Hardware twin of :class:`hwtrain.golden.annealer.Annealer` (lane 0 of the golden model).

Spins and local fields sit in registers; column k of J sits in one word of a block RAM, so
one read gives every coupling to spin k and all fields update in parallel on a flip. The
acceptance thresholds sit in a second block RAM addressed by (temperature step, u - 1).

Each spin visit takes two cycles:

* FETCH: address J column k and the LUT entry of ``u = -s_k f_k``; register u.
* DECIDE: one PRNG draw decides (init sweep: bit 31; else ``u <= 0`` or ``r < LUT``); a flip
  adds ``2u`` to the energy and ``+-2 J_ik`` to every field.

After every sweep (the init sweep included) the energy leaves on stream ``o``; the
annealer waits until it is taken. ``done`` rises after the last sweep; ``spins`` holds the
spins (bit 1 = +1) at all times.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import Out

from ..golden.annealer import Annealer as GoldenAnnealer
from ..golden.annealer import AnnealerConfig, check_fits, widths
from .prng import Xorshift32


class Annealer(wiring.Component):
    def __init__(self, cfg: AnnealerConfig):
        self.cfg = cfg
        self.problem, self.schedule = cfg.problem(), cfg.schedule()
        check_fits(self.problem, self.schedule)
        self.widths = widths(self.problem)
        super().__init__({
            "o": Out(stream.Signature(signed(self.widths["energy"]))),
            "spins": Out(self.problem.n),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p, sch = self.problem, self.schedule
        n, depth, steps, sweeps = p.n, sch.lut_depth, len(sch.betas), sch.sweeps
        jw, fw = self.widths["coupling"], self.widths["field"]
        f0, e0 = GoldenAnnealer.reset_state(p)

        jmask = (1 << jw) - 1
        columns = [sum((int(p.J[i, k]) & jmask) << (i * jw) for i in range(n)) for k in range(n)]
        m.submodules.couplings = couplings = Memory(shape=unsigned(n * jw), depth=n, init=columns)
        m.submodules.lut = lut = Memory(shape=unsigned(32), depth=steps * depth,
                                        init=[int(v) for v in sch.lut().ravel()])
        j_rd, lut_rd = couplings.read_port(), lut.read_port()
        m.submodules.prng = rng = Xorshift32(self.cfg.seed, 1)
        draw = rng.o.payload[0]

        spins = Signal(n)
        fields = Array(Signal(signed(fw), init=int(f0[i]), name=f"field{i}") for i in range(n))
        energy = Signal(signed(self.widths["energy"]), init=int(e0))
        k = Signal(range(n))
        step = Signal(range(steps))
        sweep = Signal(range(sweeps))
        init_sweep = Signal(init=1)
        spin_k = spins.bit_select(k, 1)

        # u = -s_k f_k, registered in FETCH for DECIDE
        u_next = Signal(signed(fw))
        m.d.comb += u_next.eq(Mux(spin_k, -fields[k], fields[k]))
        u = Signal(signed(fw))
        lut_index = Signal(max((depth - 1).bit_length(), 0))
        m.d.comb += lut_index.eq(u_next - 1)
        accept = Signal()
        m.d.comb += [self.spins.eq(spins), self.o.payload.eq(energy)]

        with m.FSM():
            with m.State("FETCH"):
                m.d.comb += [j_rd.addr.eq(k), lut_rd.addr.eq(Cat(lut_index, step))]
                m.d.sync += u.eq(u_next)
                m.next = "DECIDE"
            with m.State("DECIDE"):
                uphill_ok = (u >= 1) & (u <= depth) & (draw < lut_rd.data)
                m.d.comb += [accept.eq(Mux(init_sweep, draw[31], (u <= 0) | uphill_ok)),
                             rng.o.ready.eq(1)]
                with m.If(accept):
                    m.d.sync += [spins.bit_select(k, 1).eq(~spin_k), energy.eq(energy + (u << 1))]
                    for i in range(n):
                        twice_j = Signal(signed(jw + 1), name=f"twice_j{i}")
                        m.d.comb += twice_j.eq(j_rd.data[i * jw:(i + 1) * jw].as_signed() << 1)
                        m.d.sync += fields[i].eq(fields[i] + Mux(spin_k, -twice_j, twice_j))
                with m.If(k == n - 1):
                    m.d.sync += k.eq(0)
                    m.next = "EMIT"
                with m.Else():
                    m.d.sync += k.eq(k + 1)
                    m.next = "FETCH"
            with m.State("EMIT"):
                m.d.comb += self.o.valid.eq(1)
                with m.If(self.o.ready):
                    m.next = "FETCH"
                    with m.If(init_sweep):
                        m.d.sync += init_sweep.eq(0)
                    with m.Elif(sweep == sweeps - 1):
                        m.d.sync += sweep.eq(0)
                        with m.If(step == steps - 1):
                            m.next = "DONE"
                        with m.Else():
                            m.d.sync += step.eq(step + 1)
                    with m.Else():
                        m.d.sync += sweep.eq(sweep + 1)
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
        return m
