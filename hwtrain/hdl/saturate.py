"""Saturating update units that hold state across samples (hidden weights), and the gate test.

:func:`saturating_step2` is the trainer's per-weight +-2 step of a B-bit signed
hidden weight: one unit per weight, shared by the BEP/CP+R update (direction
``t == a_j``) and the reinforcement (direction ``sign(h)``). Any engine that
keeps odd hidden weights in registers or RAM can use it.

Golden twin: ``hwtrain.golden.train.rules.apply_update`` and ``reinforce``,
``h <- clip(h + 2 d, -hi, hi)`` with ``d`` in {-1, 0, +1} and
``hi = 2**(B-1) - 1`` (docs/semantics_training.md). For every odd ``h`` in
``[-hi, hi]`` the result is odd, in ``[-hi, hi]`` and equal to the golden rule:
proved for B = 2..16, both forms (``parallel``), by ``hwtrain.flows.formal.prove_saturating_step2``
(docs/semantics.md, "Formal safety proofs").
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, Value, signed


def saturating_step2(m: Module, h, en, up, *, name: str, parallel: bool = False) -> Signal:
    """Combinational ``+-2`` step of the signed weight ``h``, saturating at ``+-hi``.

    m     the Module the logic goes into (``m.d.comb``).
    h     the current weight, a signed value of B = ``len(h)`` bits (B >= 2);
          callers keep it odd and in ``[-hi, hi]``, ``hi = 2**(B-1) - 1``.
    en    1-bit step enable; with ``en`` low the weight is unchanged.
    up    1-bit direction: 1 steps by +2, 0 by -2.
    name  name of the returned signal (one unit per weight: make it unique).

    Returns a ``signed(B)`` Signal: ``h + 2`` if ``en & up`` and ``h != hi``;
    ``h - 2`` if ``en & ~up`` and ``h != -hi``; ``h`` otherwise.

    Built for the fabric: an odd ``h`` is ``2 t + 1`` with ``t = h[1:]`` (B-1 bits), so
    the step is ``t + d``, d in {-1, 0, +1}: ONE (B-1)-bit adder whose addend bits are
    ``step`` and ``step & ~up`` (no output multiplexer, no second adder; on ECP5 a
    carry chain of ceil((B-1)/2) CCU2C and two LUT4 for the bound tests). The bound
    test is an equality on ``t``, exact because an odd weight reaches ``+-hi`` (odd)
    without skipping it. Bit 0 stays 1.

    ``parallel``: ``t + 1`` and ``t - 1`` as two carry chains straight from ``t``, then a
    multiplexer: about twice the cells, but no logic in front of a carry chain (the single
    adder's addend waits for the bound tests, three LUT levels: the 784-input trainers' critical
    path). The bound tests come out of the chains too: ``t`` is ``+hi``'s exactly when ``t + 1``
    wraps (sign 0 -> 1) and ``-hi``'s when ``t - 1`` wraps (1 -> 0), so each select is one LUT of
    en, up, the sign and a chain's top bit, where a (B-1)-input equality took two LUT levels
    (the 98.88 MHz BEP engine's critical path). Same function.
    """
    width = len(h)
    t = h[1:]
    nh = Signal(signed(width), name=name)
    if parallel:
        t_up, t_dn = Signal(width - 1, name=f"{name}_up"), Signal(width - 1, name=f"{name}_down")
        sel_up, sel_dn = Signal(name=f"{name}_step_up"), Signal(name=f"{name}_step_down")
        sign = t[-1]
        m.d.comb += [t_up.eq(t + 1), t_dn.eq(t - 1),
                     sel_up.eq(en & up & ~(~sign & t_up[-1])),
                     sel_dn.eq(en & ~up & ~(sign & ~t_dn[-1]))]
        m.d.comb += nh.eq(Cat(h[0], Mux(sel_up, t_up, Mux(sel_dn, t_dn, t))))
        return nh
    top_hi, top_lo = (1 << (width - 2)) - 1, 1 << (width - 2)      # t of +hi and of -hi
    step = Signal(name=f"{name}_step")
    m.d.comb += step.eq(en & Mux(up, t != top_hi, t != top_lo))
    addend = Cat(step, (step & ~up).replicate(width - 2))
    m.d.comb += nh.eq(Cat(h[0], (t + addend)[:width - 1]))
    return nh


def within_gate(m: Module, z: Value, gate: Value, *, name: str) -> Value:
    """``|z| <= gate`` as ``-gate <= z <= gate``: two compares side by side.

    ``|z|`` then ``<= gate`` is two carry chains in series (the BEP engines' critical path);
    the two compares run in parallel, with ``-gate`` from a register named ``name``. The
    register lags ``gate`` by one clock, so ``gate`` must be set at least a clock before a
    compare reads it: the trainers' gates are host registers written between samples.
    ``z`` signed, ``gate`` unsigned.
    """
    neg = Signal(signed(len(gate) + 1), name=name)
    m.d.sync += neg.eq(-gate)
    return (z <= gate) & (z >= neg)
