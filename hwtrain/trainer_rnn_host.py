"""Host side of the on-chip BEP-TT trainer (``hwtrain.hdl.trainer_rnn.RnnTrainer``).

The engine speaks the folded trainer's 32-bit words (docs/trainer_rnn.md): a
header word (op, layer, arg) then payload words; every command gets one
response. TRAIN carries the label in ``arg`` and the sequence as T groups of
``ceil(K0/32)`` words (a_t, bit j = 1 means +1). READ_ROW's layer field names
the matrix: 0 = H_xs, 1 = H_ss, 2 = H_sy. The host-side schedules (sample
order, reinforcement rescale, group size) are the golden trainer's own code.
The fixed expansion layer (``raw_inputs > 0``) runs on the host:
:meth:`RnnTrainerHost.train_epoch` takes sequences already expanded
(``RnnGolden.expand``).
"""

from __future__ import annotations

import numpy as np

from .golden.trainer_rnn import RnnTrainConfig, plan
from .protocol.trainer_folded import (OP_FLUSH, OP_READ_REG, OP_READ_ROW, OP_TRAIN, OP_WRITE_REG, REG_ERRORS,
                                      REG_GAMMA, REG_REINFORCE, REG_SAMPLES, REG_UPDATES, header)
from .trainer_folded_host import row_values, sample_words, value_of, words_of
from .trainer_host import HostSchedule


def matrices(p: dict) -> list[dict]:
    """READ_ROW geometry of H_xs, H_ss, H_sy (the layer dicts ``row_values`` takes)."""
    return [{"simd": p["simd"], "fan_in": f, "words": w, "resp_words": p["resp_words"], "neurons": k}
            for f, w, k in ((p["inputs"], p["wx"], p["ks"]), (p["ks"], p["ws"], p["ks"]), (p["ks"], p["ws"], p["ky"]))]


class RnnTrainerHost:
    def __init__(self, cfg: RnnTrainConfig, transport):
        self.cfg = cfg
        self.p = plan(cfg)
        self.io = transport
        self.schedule = HostSchedule(cfg)

    async def request(self, words, n_resp: int = 1) -> list[int]:
        for w in words:
            await self.io.put(int(w))
        return [await self.io.get() for _ in range(n_resp)]

    async def write_reg(self, addr: int, value: int) -> None:
        await self.request([header(OP_WRITE_REG, 0, addr)] + words_of(int(value), 2))

    async def read_reg(self, addr: int) -> int:
        return value_of(await self.request([header(OP_READ_REG, 0, addr)], 2))

    async def counters(self) -> dict:
        return {"samples": await self.read_reg(REG_SAMPLES), "errors": await self.read_reg(REG_ERRORS),
                "updates": await self.read_reg(REG_UPDATES)}

    async def flush(self) -> None:
        await self.request([header(OP_FLUSH)])

    async def read_weights(self) -> list:
        """H_xs, H_ss, H_sy, every hidden weight."""
        B = self.cfg.hidden_bits
        out = []
        for mi, d in enumerate(matrices(self.p)):
            n = d["words"] * d["resp_words"]
            out.append(np.asarray([row_values(await self.request([header(OP_READ_ROW, mi, k)], n), d, B)
                                   for k in range(d["neurons"])], dtype=np.int32))
        return out

    async def train_sample(self, x, y: int) -> int:
        """One expanded sequence x (T, K0) +-1; returns the prediction (pre-update weights)."""
        words = [header(OP_TRAIN, 0, int(y))]
        for t in range(self.p["steps"]):
            words += sample_words(x[t], self.p["x_words"])
        return (await self.request(words))[0]

    async def train_epoch(self, x, y, on_sample=None) -> dict:
        """One epoch in the schedule's order: predictions (in order), per-sample latency, epoch error."""
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
        errs = await self.read_reg(REG_ERRORS) - before
        return {"order": order, "preds": preds, "latency": latency, "errors": errs, "train_error": errs / len(y)}

    async def end_epoch(self, train_error: float, val_error=None) -> None:
        s = self.schedule
        s.end_epoch(train_error, val_error)
        for i in range(3):
            await self.write_reg(REG_REINFORCE + i, s.reinforce_thr[i])
        for l in range(2):
            await self.write_reg(REG_GAMMA + l, s.gamma[l])
