"""The one-hot sequencer (hdl/fsm.py): the same states clock by clock as Amaranth's m.FSM,
one flip-flop per state, and clear errors for a malformed machine."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from hwtrain.errors import HwtrainError
from hwtrain.hdl.fsm import OneHotFSM

STATES = ["A", "B", "C", "D"]


def _machine(m, fsm, nxt, x, out):
    """Four states with conditional, repeated and overriding ``next`` (the last one that
    executes wins) and a state that stays; ``out`` counts state-dependent work."""
    with fsm.State("A"):
        m.d.sync += out.eq(out + 1)
        with m.If(x[0]):
            setattr(nxt, "next", "B")
        with m.If(x[1]):                    # overrides B when both fire
            setattr(nxt, "next", "C")
    with fsm.State("B"):
        setattr(nxt, "next", "D")
        with m.If(x[2]):
            setattr(nxt, "next", "B")       # back to itself, overriding D
    with fsm.State("C"):
        with m.If(x[0] & x[2]):
            setattr(nxt, "next", "A")
        with m.Elif(x[1]):
            setattr(nxt, "next", "D")
        m.d.sync += out.eq(out + 3)
    with fsm.State("D"):
        with m.If(x[3]):
            setattr(nxt, "next", "A")


def _reference():
    m = Module()
    x, out = Signal(4), Signal(8)
    with m.FSM(name="ref") as fsm:
        _machine(m, m, m, x, out)
    return m, x, out, {s: fsm.ongoing(s) for s in STATES}


def _one_hot():
    m = Module()
    x, out = Signal(4), Signal(8)
    with OneHotFSM(m, init="A", name="oh") as fsm:
        _machine(m, fsm, fsm, x, out)
    return m, x, out, {s: fsm.ongoing(s) for s in STATES}


def _trace(build, xs):
    m, x, out, ongoing = build()
    seen = []

    async def bench(ctx):
        for v in xs:
            ctx.set(x, int(v))
            seen.append((tuple(ctx.get(ongoing[s]) for s in STATES), ctx.get(out)))
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return seen


def test_one_hot_follows_the_same_states_as_m_fsm():
    xs = np.random.default_rng(3).integers(0, 16, 2000)
    ref, got = _trace(_reference, xs), _trace(_one_hot, xs)
    assert sum(1 for s, _ in ref if s[0] and s[1] == 0) > 0
    assert all(sum(s) == 1 for s, _ in got)                 # exactly one state at a time
    assert {s for s, _ in ref} == {s for s, _ in got} and len({s for s, _ in ref}) == 4
    assert got == ref


def test_one_flip_flop_per_state_initial_state_set():
    m = Module()
    m._MustUse__silence = True                  # built, not elaborated
    fsm = OneHotFSM(m, init="IDLE", name="seq")
    with fsm:
        with fsm.State("IDLE"):
            fsm.next = "RUN"
        with fsm.State("RUN"):
            fsm.next = "IDLE"
    assert [(b.name, b.init, len(b)) for b in (fsm.bit("IDLE"), fsm.bit("RUN"))] == \
        [("seq_idle", 1, 1), ("seq_run", 0, 1)]


@pytest.mark.parametrize("case, message", [
    ("outside", "outside a state"), ("nested", "inside state"), ("twice", "two bodies"), ("missing", "without a body")])
def test_a_malformed_machine_is_refused(case, message):
    m = Module()
    m._MustUse__silence = True                  # refused before it is elaborated
    with pytest.raises(HwtrainError, match=message):
        with OneHotFSM(m, init="A", name="f") as fsm:
            if case == "outside":
                fsm.next = "A"
            with fsm.State("A"):
                if case == "nested":
                    with fsm.State("B"):
                        pass
                fsm.next = "B" if case == "missing" else "A"
            if case == "twice":
                with fsm.State("A"):
                    pass
