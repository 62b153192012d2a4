"""The FoldedTrainer's 32-bit command and response words (docs/trainer_folded.md, "Protocol").

Op codes and the register map are the first engine's (:mod:`hwtrain.protocol.trainer`);
the header word packs op, layer and argument through ``HEADER``, and rows travel as
sequences of memory words (``pack_word``: element j at bits j*B, two's complement).
The engine (:mod:`hwtrain.hdl.trainer_folded`) and the host driver
(:mod:`hwtrain.trainer_folded_host`) both take them from here.
"""

from __future__ import annotations

from amaranth.lib import data

from ..golden.trainer_folded import ARG_BITS, LAYER_BITS
from .trainer import (OP_FLUSH, OP_READ_REG, OP_READ_ROW, OP_TRAIN, OP_WRITE_REG, OP_WRITE_ROW,
                      REG_ERRORS, REG_EVERY, REG_GAMMA, REG_GATE, REG_MARGIN, REG_PENDING, REG_REINFORCE,
                      REG_SAMPLES, REG_UPDATES)
from .trainer import pack_row as pack_word  # one memory word is packed like a row

__all__ = ["HEADER", "header", "pack_word", "OP_FLUSH", "OP_READ_REG", "OP_READ_ROW", "OP_TRAIN", "OP_WRITE_REG",
           "OP_WRITE_ROW", "REG_ERRORS", "REG_EVERY", "REG_GAMMA", "REG_GATE", "REG_MARGIN", "REG_PENDING",
           "REG_REINFORCE", "REG_SAMPLES", "REG_UPDATES"]

HEADER = data.StructLayout({"op": 4, "layer": LAYER_BITS, "arg": ARG_BITS})


def header(op: int, layer: int = 0, arg: int = 0) -> int:
    """The header word (host side): the integer of ``HEADER``'s fields."""
    return HEADER.const({"op": op, "layer": layer, "arg": arg}).as_value().value
