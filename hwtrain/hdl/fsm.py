"""A sequencer with one flip-flop per state, written like an Amaranth ``m.FSM``.

Why: Amaranth encodes an FSM's state in binary, and yosys re-encodes a state register
(``fsm_recode``, one-hot) only when it has no initial value ("Register has an
initialization value", fsm_detect). With the reset-less clock of a board build the state
register keeps its initial value, so every "the sequencer is in state X" of an engine stays
a compare of all its state bits: about two LUT levels in front of most clock enables of a
large engine (the BEP-TT engine's 97.48 MHz path ran from its 5-bit state through six LUTs
into a register's enable). Here each state is one flip-flop, the initial state's set at
reset and at power-up, and "in X" is that flip-flop.

Usage, as ``m.FSM`` (``fsm.next`` in place of ``m.next``)::

    with OneHotFSM(m, init="IDLE", name="seq") as fsm:
        with fsm.State("IDLE"):
            with m.If(go):
                fsm.next = "RUN"
        with fsm.State("RUN"):
            fsm.next = "IDLE"

Semantics are those of ``m.FSM``: a state's body runs while the sequencer is in it, the
last ``next`` that executes in a clock picks the next state, no ``next`` keeps the state.
"""

from __future__ import annotations

from contextlib import contextmanager

from amaranth.hdl import Module, Signal

from ..errors import HwtrainError


class OneHotFSM:
    """One flip-flop per state (module docstring); states are created where first named."""

    def __init__(self, m: Module, *, init: str, name: str):
        self.m, self.name, self.init = m, name, init
        self._bits: dict[str, Signal] = {}
        self._bodies: set[str] = set()
        self._state: str | None = None        # the state whose body is being written
        self._targets: list[str] = []         # the states that body names in ``next`` so far
        self.bit(init)

    def bit(self, state: str) -> Signal:
        """The flip-flop that is 1 while the sequencer is in ``state``."""
        if state not in self._bits:
            self._bits[state] = Signal(name=f"{self.name}_{state.lower()}", init=int(state == self.init))
        return self._bits[state]

    ongoing = bit

    @contextmanager
    def State(self, state: str):
        if self._state is not None:
            raise HwtrainError(f"{self.name}: state {state} inside state {self._state}")
        if state in self._bodies:
            raise HwtrainError(f"{self.name}: state {state} has two bodies")
        self._bodies.add(state)
        self._state, self._targets = state, []
        try:
            with self.m.If(self.bit(state)):
                yield
        finally:
            self._state = None

    @property
    def next(self):
        raise AttributeError("next is write-only")

    @next.setter
    def next(self, state: str):
        if self._state is None:
            raise HwtrainError(f"{self.name}: next = {state!r} outside a state")
        # leave the current state and any state an earlier ``next`` of this clock entered (the last
        # ``next`` wins, as in m.FSM), then enter ``state`` (which may be the current one)
        left = [self._state] + [t for t in self._targets if t != self._state]
        self.m.d.sync += [self.bit(s).eq(0) for s in left if s != state] + [self.bit(state).eq(1)]
        if state not in self._targets:
            self._targets.append(state)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            missing = sorted(set(self._bits) - self._bodies)
            if missing:
                raise HwtrainError(f"{self.name}: next names state(s) without a body: {', '.join(missing)}")
        return False
