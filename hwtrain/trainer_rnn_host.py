"""Host side of the on-chip BEP-TT trainer (``hwtrain.hdl.trainer_rnn.RnnTrainer``).

The engine speaks the folded trainer's 32-bit words (docs/trainer_rnn.md): a
header word (op, layer, arg) then payload words; every command gets one
response. TRAIN carries the label in ``arg`` and the sequence as T groups of
``ceil(K0/32)`` words (a_t, bit j = 1 means +1). READ_ROW's layer field names
the matrix: 0 = H_xs, 1 = H_ss, 2 = H_sy. The host-side schedules (sample
order, reinforcement rescale, group size) are the golden trainer's own code.
The fixed expansion layer (``raw_inputs > 0``) runs on the host:
:meth:`RnnTrainerHost.train_epoch` takes sequences already expanded
(``RnnGolden.expand``). In mini-batches (``cfg.batch > 1``) the epoch ends with FLUSH
(``WordTrainerHost.train_epoch``), which closes a short last batch (the apply sweep, the
step, an owed reinforcement sweep); :meth:`read_weights` sends FLUSH first too.
"""

from __future__ import annotations

from .golden.trainer_rnn import RnnTrainConfig, plan
from .protocol.trainer_folded import OP_TRAIN, REG_GAMMA, REG_REINFORCE, header
from .trainer_folded_host import WordTrainerHost, sample_words


def matrices(p: dict) -> list[dict]:
    """READ_ROW geometry of H_xs, H_ss, H_sy (the layer dicts ``row_values`` takes)."""
    return [{"simd": p["simd"], "fan_in": f, "words": w, "resp_words": p["resp_words"], "neurons": k}
            for f, w, k in ((p["inputs"], p["wx"], p["ks"]), (p["ks"], p["ws"], p["ks"]), (p["ks"], p["ws"], p["ky"]))]


class RnnTrainerHost(WordTrainerHost):
    """Host of the BEP-TT engine: sequences, H_xs / H_ss / H_sy, the epoch's schedules."""

    def __init__(self, cfg: RnnTrainConfig, transport):
        super().__init__(cfg, transport, plan(cfg))

    async def read_weights(self) -> list:
        """H_xs, H_ss, H_sy, every hidden weight; in mini-batches after closing an open batch (FLUSH),
        so that what is read is what the golden model holds after ``flush()``."""
        if self.cfg.batch > 1:
            await self.flush()
        return await self.read_matrices(matrices(self.p))

    async def train_sample(self, x, y: int) -> int:
        """One expanded sequence x (T, K0) +-1; returns the prediction (pre-update weights)."""
        words = [header(OP_TRAIN, 0, int(y))]
        for t in range(self.p["steps"]):
            words += sample_words(x[t], self.p["x_words"])
        return (await self.request(words))[0]

    async def end_epoch(self, train_error: float, val_error=None) -> None:
        s = self.schedule
        s.end_epoch(train_error, val_error)
        for i in range(3):
            await self.write_reg(REG_REINFORCE + i, s.reinforce_thr[i])
        for l in range(2):
            await self.write_reg(REG_GAMMA + l, s.gamma[l])
