"""Host side of the folded training engine (``hwtrain.hdl.trainer_folded.FoldedTrainer``).

The engine speaks 32-bit words (docs/trainer_folded.md): a header word
(op, layer, arg) then payload words; every command gets one response, a
sequence of words. ``FoldedTrainerHost`` talks to a *transport* with two
coroutines, ``put(word)`` and ``get() -> word``; the host-side schedules
(sample order, reinforcement rescale, group size) are the golden trainer's own
code, as in :mod:`hwtrain.trainer_host`.
"""

from __future__ import annotations

import numpy as np

from .errors import require
from .golden.trainer_folded import WORD, FoldedTrainConfig, plan
from .protocol.trainer_folded import (OP_FLUSH, OP_READ_REG, OP_READ_ROW, OP_TRAIN, OP_WRITE_REG, OP_WRITE_ROW,
                                      REG_ERRORS, REG_EVERY, REG_GAMMA, REG_GATE, REG_MARGIN, REG_PENDING,
                                      REG_REINFORCE, REG_SAMPLES, REG_UPDATES, header, pack_word)
from .trainer_host import HostSchedule

MASK = (1 << WORD) - 1


def words_of(value: int, n: int) -> list[int]:
    """``value`` as ``n`` 32-bit words, least significant first."""
    return [(value >> (WORD * i)) & MASK for i in range(n)]


def value_of(words) -> int:
    return sum(int(w) << (WORD * i) for i, w in enumerate(words))


def sample_words(x, n: int) -> list[int]:
    """Input bits of one sample (bit j = 1 means +1) as ``n`` words."""
    return words_of(sum(1 << j for j, v in enumerate(np.asarray(x)) if v > 0), n)


def row_words(row, layer: dict, bits: int) -> list[int]:
    """Hidden weights of one neuron as the words of WRITE_ROW (memory word by memory word)."""
    S, F = layer["simd"], layer["fan_in"]
    out = []
    for w in range(layer["words"]):
        vals = [int(row[j]) if j < F else 1 for j in range(w * S, w * S + S)]
        out += words_of(pack_word(vals, bits), layer["resp_words"])
    return out


def row_values(words, layer: dict, bits: int) -> list[int]:
    """Inverse of :func:`row_words`: the F signed weights of a READ_ROW response."""
    S, F, nw = layer["simd"], layer["fan_in"], layer["resp_words"]
    out = []
    for w in range(layer["words"]):
        v = value_of(words[w * nw:(w + 1) * nw])
        for j in range(S):
            e = (v >> (j * bits)) & ((1 << bits) - 1)
            out.append(e - (1 << bits) if e >> (bits - 1) else e)
    return out[:F]


class WordTrainerHost:
    """What the hosts of the engines that speak the folded trainer's 32-bit words share:
    requests, registers, counters, FLUSH, READ_ROW of whole matrices, the training epoch.
    Subclasses give ``train_sample`` and ``end_epoch``."""

    def __init__(self, cfg, transport, geometry: dict):
        self.cfg = cfg
        self.p = geometry                     # the engine's plan (word counts, layer shapes)
        self.io = transport
        self.schedule = HostSchedule(cfg)

    async def request(self, words, n_resp: int = 1) -> list[int]:
        for w in words:
            await self.io.put(int(w))
        return [await self.io.get() for _ in range(n_resp)]

    async def acknowledged(self, words) -> None:
        """A command whose one response word is 0 (WRITE_REG, WRITE_ROW, FLUSH); anything else means
        host and engine disagree on where a command starts (a wrong word count, a wrong design)."""
        ack = (await self.request(words))[0]
        require(ack == 0, f"the engine answered {ack:#x} to command word {int(words[0]):#010x}, expected 0: "
                          "host and engine are out of step (a wrong design or word count)")

    # --- registers and counters ----------------------------------------------------
    async def write_reg(self, addr: int, value: int) -> None:
        await self.acknowledged([header(OP_WRITE_REG, 0, addr)] + words_of(int(value), 2))

    async def read_reg(self, addr: int) -> int:
        return value_of(await self.request([header(OP_READ_REG, 0, addr)], 2))

    async def counters(self) -> dict:
        return {"samples": await self.read_reg(REG_SAMPLES), "errors": await self.read_reg(REG_ERRORS),
                "updates": await self.read_reg(REG_UPDATES)}

    async def flush(self) -> None:
        """FLUSH: close an open mini-batch (apply sweep, step) and run an owed reinforcement sweep."""
        await self.acknowledged([header(OP_FLUSH)])

    async def read_matrices(self, geometry: list[dict]) -> list:
        """Every row of every matrix (READ_ROW with the matrix index in the layer field)."""
        B = self.cfg.hidden_bits
        out = []
        for l, d in enumerate(geometry):
            n = d["words"] * d["resp_words"]
            rows = [row_values(await self.request([header(OP_READ_ROW, l, k)], n), d, B)
                    for k in range(d["neurons"])]
            out.append(np.asarray(rows, dtype=np.int32))
        return out

    async def train_sample(self, x, y: int) -> int:
        raise NotImplementedError

    async def train_epoch(self, x, y, on_sample=None) -> dict:
        """One epoch in the schedule's order; predictions (in order), per-sample latency, epoch error."""
        x, y = np.asarray(x), np.asarray(y)
        order = self.schedule.order(len(y))
        before = await self.read_reg(REG_ERRORS)
        preds, latency = [], []
        for i in order:
            pr = await self.train_sample(x[i], int(y[i]))
            preds.append(pr)
            latency.append(getattr(self.io, "latency", getattr(self.io, "edges", None)))
            if on_sample is not None:
                on_sample(int(i), pr)
        flush_latency = None
        if getattr(self.cfg, "batch", 1) > 1:
            await self.flush()                    # the epoch's last batch may be short: close it
            flush_latency = getattr(self.io, "latency", getattr(self.io, "edges", None))
        errs = await self.read_reg(REG_ERRORS) - before
        return {"order": order, "preds": preds, "latency": latency, "errors": errs,
                "train_error": errs / len(y), "flush_latency": flush_latency}


class FoldedTrainerHost(WordTrainerHost):
    """Host of the folded MLP trainer: registers, weights, samples, the epoch's schedules."""

    def __init__(self, cfg: FoldedTrainConfig, transport):
        super().__init__(cfg, transport, plan(cfg))

    async def write_registers(self, margins, gates, reinforce, gamma, reinforce_every) -> None:
        for l in range(self.cfg.layers):
            require(self.cfg.hidden[l] % gamma[l] == 0,
                    f"group size {gamma[l]} does not divide layer {l + 1} of size {self.cfg.hidden[l]}")
            await self.write_reg(REG_MARGIN + l, margins[l])
            await self.write_reg(REG_GATE + l, gates[l])
            await self.write_reg(REG_REINFORCE + l, reinforce[l])
            await self.write_reg(REG_GAMMA + l, gamma[l])
        await self.write_reg(REG_EVERY, reinforce_every)

    async def pending(self) -> int:
        return await self.read_reg(REG_PENDING)

    # --- hidden weights ---------------------------------------------------------------
    async def write_weights(self, H) -> None:
        B = self.cfg.hidden_bits
        for l, (h, d) in enumerate(zip(H, self.p["layers"])):
            for k, row in enumerate(np.asarray(h)):
                await self.acknowledged([header(OP_WRITE_ROW, l, k)] + row_words(row, d, B))

    async def read_weights(self) -> list:
        """Every hidden weight, after closing an open mini-batch and any owed reinforcement sweep (FLUSH)."""
        await self.flush()
        return await self.read_matrices(self.p["layers"])

    async def load_state(self, H, registers: dict) -> None:
        await self.write_weights(H)
        await self.write_registers(**registers)

    # --- training -------------------------------------------------------------------------
    async def train_sample(self, x, y: int) -> int:
        return (await self.request([header(OP_TRAIN, 0, int(y))] + sample_words(x, self.p["x_words"])))[0]

    async def end_epoch(self, train_error: float, val_error=None) -> None:
        s = self.schedule
        s.end_epoch(train_error, val_error)
        for l in range(self.cfg.layers):
            await self.write_reg(REG_REINFORCE + l, s.reinforce_thr[l])
            await self.write_reg(REG_GAMMA + l, s.gamma[l])
