"""The OnlineTrainer's command and response words (docs/trainer.md, "Interface").

One command stream in (``op`` 3 bits, ``arg`` 16 bits, ``data`` D bits) and one response
stream out; every command gets exactly one response, in order. The engine
(:mod:`hwtrain.hdl.trainer`) and the host driver (:mod:`hwtrain.trainer_host`) both
take these definitions from here.
"""

from __future__ import annotations

from amaranth.lib import data

OP_TRAIN, OP_WRITE_REG, OP_READ_REG, OP_WRITE_ROW, OP_READ_ROW, OP_FLUSH = range(6)
ARG_BITS = 16
ROW_BITS = 12                 # row index field of WRITE_ROW / READ_ROW args
REG_MARGIN = 0x00             # + layer: M_l (cpr: every layer; bep: entry 0)
REG_GATE = 0x10               # + layer: NU_l (bep; layer 0 unused)
REG_REINFORCE = 0x20          # + layer: 33-bit reinforcement threshold T_l
REG_GAMMA = 0x30              # + layer: group size gamma_l
REG_EVERY = 0x40              # reinforce_every
REG_SAMPLES = 0x80            # counters (read only)
REG_ERRORS = 0x81
REG_UPDATES = 0x82
REG_PENDING = 0x83            # bit l: reinforcement sweep of layer l pending
COUNTER_BITS = 32
PARAM_BITS = 16               # M, NU, gamma, reinforce_every registers


def cmd_layout(data_bits: int) -> data.StructLayout:
    return data.StructLayout({"op": 3, "arg": ARG_BITS, "data": data_bits})


def pack_row(h, bits: int) -> int:
    """Hidden weights of one neuron as the engine's row word."""
    mask = (1 << bits) - 1
    return sum((int(v) & mask) << (j * bits) for j, v in enumerate(h))


def unpack_row(word: int, n: int, bits: int) -> list[int]:
    out = []
    for j in range(n):
        v = (word >> (j * bits)) & ((1 << bits) - 1)
        out.append(v - (1 << bits) if v >> (bits - 1) else v)
    return out
