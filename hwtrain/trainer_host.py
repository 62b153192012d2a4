"""Host side of the on-chip training engine (``hwtrain.hdl.trainer.OnlineTrainer``).

``TrainerHost`` speaks the engine's command protocol through a *transport*
with two coroutines, ``put(op, arg, data)`` (send one command) and ``get()``
(receive one response's data word). Two transports exist: Amaranth's simulator
(:class:`AmaranthTransport`, unit tests) and cocotb on the emitted Verilog
(``hwtrain/benches/bench_trainer.py``); a UART bridge on a board only needs the same two
coroutines. Every command returns exactly one response, in order.

The host owns what the papers do between epochs (docs/semantics_training.md):
the sample order (``SHUFFLE`` PRNG stream), the reinforcement rescale (needs a
square root) and the group-size schedule. It runs the golden trainer's own
``end_epoch``/``order`` code on a small state object, so the integers it writes
are the golden model's by construction.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import require
from .golden.train.base import TrainerBase
from .golden.train.config import TrainConfig
from .hdl.trainer import plan
from .protocol.trainer import (OP_FLUSH, OP_READ_REG, OP_READ_ROW, OP_TRAIN, OP_WRITE_REG, OP_WRITE_ROW,
                               REG_ERRORS, REG_EVERY, REG_GAMMA, REG_GATE, REG_MARGIN, REG_PENDING,
                               REG_REINFORCE, REG_SAMPLES, REG_UPDATES, ROW_BITS, pack_row, unpack_row)


class HostSchedule:
    """Host-side schedule state; ``end_epoch`` and ``order`` are the golden trainer's own methods."""

    end_epoch = TrainerBase.end_epoch
    order = TrainerBase.order

    def __init__(self, cfg: TrainConfig):
        hwp = cfg.hw()
        self.cfg = cfg
        self.p_r = float(cfg.p_r)
        self.reinforce_thr = list(hwp.reinforce)
        self.gamma = list(hwp.gamma)
        self.best_metric = math.inf
        self.stale = 0
        self.epoch = 0
        self.shuffle_gen = None


def cmd_word(op: int, arg: int, data: int) -> int:
    """The flat ``cmd`` payload: op in bits 0-2, arg in 3-18, data from bit 19."""
    return op | (arg << 3) | (data << 19)


class AmaranthTransport:
    """Transport over Amaranth's simulator (inside an async testbench)."""

    def __init__(self, ctx, dut):
        self.ctx, self.dut = ctx, dut

    async def put(self, op, arg, data):
        from .hdl.stream_sim import stream_put
        await stream_put(self.ctx, self.dut.cmd, {"op": op, "arg": arg, "data": data})

    async def get(self):
        from .hdl.stream_sim import stream_get
        return int((await stream_get(self.ctx, self.dut.resp)).data)


class TrainerHost:
    def __init__(self, cfg: TrainConfig, transport):
        self.cfg = cfg
        self.p = plan(cfg)
        self.io = transport
        self.schedule = HostSchedule(cfg)

    async def request(self, op, arg=0, data=0) -> int:
        await self.io.put(op, arg, data)
        return await self.io.get()

    # --- registers and counters ------------------------------------------------
    async def write_reg(self, addr: int, value: int) -> None:
        await self.request(OP_WRITE_REG, addr, int(value))

    async def read_reg(self, addr: int) -> int:
        return await self.request(OP_READ_REG, addr)

    async def write_registers(self, margins, gates, reinforce, gamma, reinforce_every) -> None:
        for l in range(self.p["layers"]):
            require(self.cfg.hidden[l] % gamma[l] == 0,
                    f"group size {gamma[l]} does not divide layer {l + 1} of size {self.cfg.hidden[l]}")
            if l < len(margins):
                await self.write_reg(REG_MARGIN + l, margins[l])
            await self.write_reg(REG_GATE + l, gates[l])
            await self.write_reg(REG_REINFORCE + l, reinforce[l])
            await self.write_reg(REG_GAMMA + l, gamma[l])
        await self.write_reg(REG_EVERY, reinforce_every)

    async def counters(self) -> dict:
        return {"samples": await self.read_reg(REG_SAMPLES), "errors": await self.read_reg(REG_ERRORS),
                "updates": await self.read_reg(REG_UPDATES)}

    async def pending(self) -> int:
        return await self.read_reg(REG_PENDING)

    # --- hidden weights ------------------------------------------------------------
    async def write_weights(self, H) -> None:
        B = self.cfg.hidden_bits
        for l, h in enumerate(H):
            for k, row in enumerate(np.asarray(h)):
                await self.request(OP_WRITE_ROW, (l << ROW_BITS) | k, pack_row(row, B))

    async def read_weights(self) -> list:
        """Every hidden weight (after completing any pending reinforcement sweep)."""
        await self.request(OP_FLUSH)
        B = self.cfg.hidden_bits
        sizes = self.p["sizes"]
        out = []
        for l in range(self.p["layers"]):
            rows = [unpack_row(await self.request(OP_READ_ROW, (l << ROW_BITS) | k), sizes[l], B)
                    for k in range(sizes[l + 1])]
            out.append(np.asarray(rows, dtype=np.int32))
        return out

    async def load_state(self, H, registers: dict) -> None:
        """Initial hidden weights and host registers (e.g. from a golden trainer)."""
        await self.write_weights(H)
        await self.write_registers(**registers)

    # --- training --------------------------------------------------------------------
    async def train_sample(self, x, y: int) -> int:
        bits = sum(1 << j for j, v in enumerate(np.asarray(x)) if v > 0)
        return await self.request(OP_TRAIN, int(y), bits)

    async def train_epoch(self, x, y, on_sample=None) -> dict:
        """One epoch in the schedule's order; returns predictions (in order) and the epoch error."""
        x, y = np.asarray(x), np.asarray(y)
        order = self.schedule.order(len(y))
        before = await self.read_reg(REG_ERRORS)
        preds, latency = [], []
        for i in order:
            pr = await self.train_sample(x[i], int(y[i]))
            preds.append(pr)
            latency.append(getattr(self.io, "latency", None))   # transports that time responses
            if on_sample is not None:
                on_sample(int(i), pr)
        errs = await self.read_reg(REG_ERRORS) - before
        return {"order": order, "preds": preds, "latency": latency, "errors": errs,
                "train_error": errs / len(y)}

    async def end_epoch(self, train_error: float, val_error=None) -> None:
        """Host schedules (reinforcement rescale, group size) and the new register values."""
        s = self.schedule
        s.end_epoch(train_error, val_error)
        for l in range(self.p["layers"]):
            await self.write_reg(REG_REINFORCE + l, s.reinforce_thr[l])
            await self.write_reg(REG_GAMMA + l, s.gamma[l])
