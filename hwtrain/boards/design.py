"""From an inference configuration (and model) to the board's protocol spec and link."""

from __future__ import annotations

import json
import zlib

import numpy as np

from ..inference.config import InferenceConfig
from ..protocol import board as P


def design_id(cfg: InferenceConfig, model) -> int:
    """CRC-32 of the configuration (without the model's path) and the model's weights."""
    d = cfg.to_dict()
    d.pop("model", None)
    blob = json.dumps(d, sort_keys=True).encode()
    for w in list(model.weights) + [model.classifier]:
        blob += np.packbits(np.asarray(w) > 0).tobytes()
    return zlib.crc32(blob)


def inference_spec(cfg: InferenceConfig, model, *, clock_hz: int, divisor: int,
                   timeout_clocks: int | None = None, max_payload: int = 512) -> P.BoardSpec:
    """The spec of an InferenceCore board. Default timeout: 100 ms of quiet line."""
    logit_bits = cfg.sizes[-1].bit_length() + 1 if cfg.logits_out else 0
    return P.BoardSpec(input_bits=cfg.sizes[0], classes=cfg.classes, logit_bits=logit_bits,
                       max_payload=max_payload, design_id=design_id(cfg, model),
                       clock_hz=int(clock_hz), divisor=int(divisor),
                       timeout_clocks=int(timeout_clocks or clock_hz // 10))


def inference_link(cfg: InferenceConfig, **spec_args):
    """(UartLink, spec, golden core) for ``cfg``: everything a board or a bench needs."""
    from ..golden.inference import InferenceCore as GoldenCore
    from ..hdl.inference import InferenceCore
    from .top import UartLink
    model = cfg.load_model()
    spec = inference_spec(cfg, model, **spec_args)
    return UartLink(spec, InferenceCore(cfg, model)), spec, GoldenCore(cfg, model)


def golden_engine(spec: P.BoardSpec, golden):
    """``BoardModel`` engine: request payload (samples) -> reply payload (results)."""
    def infer(payload: bytes) -> bytes:
        n, sb = len(payload) // spec.sample_bytes, spec.sample_bytes
        x = np.zeros((n, spec.input_bits), dtype=bool)
        for s in range(n):
            v = int.from_bytes(payload[s * sb:(s + 1) * sb], "little")
            x[s] = [(v >> i) & 1 for i in range(spec.input_bits)]
        cls, logits = golden(x)
        return spec.encode_results(cls, logits)
    return infer


def config_from_design(design: str | None, *, impl: str | None = None, store: str | None = None,
                       logits_out: bool | None = None):
    """``design``: a model file from ``hwtrain train`` (.npz; default serial:1, bram), an inference configuration
    (.json), or a training configuration (.json with ``algorithm``: the on-chip trainer);
    ``impl``/``store``/``logits_out`` override what it says."""
    from pathlib import Path

    from ..errors import HwtrainError, require
    require(bool(design), "--design needs a model file (.npz) or an inference configuration (.json)")
    path = Path(design)
    require(path.exists(), f"design file {design} does not exist")
    overrides = {k: v for k, v in (("impl", tuple(impl.split(",")) if impl else None),
                                    ("store", store), ("logits_out", logits_out)) if v is not None}
    require(path.is_file(), f"design file {design} is a directory, expected a model file (.npz) "
                            f"or a configuration (.json)")
    if path.suffix == ".json":
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise HwtrainError(f"{design} is not valid JSON: {e}") from None
        except OSError as e:
            raise HwtrainError(f"cannot read {design}: {e.strerror or e}") from None
        require(isinstance(values, dict), f"{design} must hold a JSON object (an inference or "
                                          f"training configuration), got a {type(values).__name__}")
        if "algorithm" in values and ("pe" in values or "simd" in values):   # the folded trainer
            from ..golden.trainer_folded import FoldedTrainConfig
            return FoldedTrainConfig.from_dict(values)
        if "algorithm" in values:                 # a TrainConfig: the on-chip trainer
            from ..golden.train.config import TrainConfig
            return TrainConfig.from_dict(values)
        return InferenceConfig.from_dict(InferenceConfig.complete({**values, **overrides}))
    # Boards default to the smallest core: bit-serial, weights in block RAM (registers
    # for a 64x64 layer alone take 4096 of the UP5K's 5280 logic cells).
    values = {"model": str(path), "impl": ("serial:1",), "store": "bram", **overrides}
    return InferenceConfig(**InferenceConfig.complete(values))


def trainer_spec(tcfg, *, clock_hz: int, divisor: int, timeout_clocks: int | None = None,
                 max_payload: int = 512) -> P.BoardSpec:
    """Spec of an OnlineTrainer board: records are the engine's command words
    (op 3 bits, arg 16 bits, data), results its response data words."""
    from ..hdl.trainer import plan
    db = plan(tcfg)["data_bits"]
    ident = zlib.crc32(json.dumps(tcfg.to_dict(), sort_keys=True, default=str).encode())
    return P.BoardSpec(input_bits=19 + db, classes=tcfg.classes, result_bits=db,
                       max_payload=max_payload, design_id=ident, clock_hz=int(clock_hz),
                       divisor=int(divisor), timeout_clocks=int(timeout_clocks or clock_hz // 10),
                       capabilities=P.CAP_TRAIN | P.CAP_LOAD_WEIGHTS, engine=P.ENGINE_TRAINER,
                       command=P.TRAIN)


def trainer_link(tcfg, **spec_args):
    """(UartLink, spec) of an on-chip trainer behind the host link."""
    from ..hdl.trainer import OnlineTrainer
    from .top import UartLink, trainer_result
    spec = trainer_spec(tcfg, **spec_args)
    return UartLink(spec, OnlineTrainer(tcfg), i="cmd", o="resp", result=trainer_result), spec


# --- the folded trainer (hwtrain.hdl.trainer_folded.FoldedTrainer): a word-stream engine ---------

def folded_payload(fcfg) -> int:
    """Bytes the board must buffer for the largest WORDS request the host driver sends: the
    reply count word, then a WRITE_ROW of the widest layer or a TRAIN (header + input words),
    rounded up to a power of two (at least 512)."""
    from ..golden.trainer_folded import plan
    p = plan(fcfg)
    words = 1 + max([1 + p["x_words"], 3] + [d["words"] * d["resp_words"] for d in p["layers"]])
    return max(512, 1 << (P.WORD_BYTES * (1 + words) - 1).bit_length())


def folded_spec(fcfg, *, clock_hz: int, divisor: int, timeout_clocks: int | None = None,
                max_payload: int = 512) -> P.BoardSpec:
    """Spec of a FoldedTrainer board: a word-stream engine (WORDS, 32-bit words both ways).
    ``max_payload`` is raised to ``folded_payload`` when the largest command needs more."""
    ident = zlib.crc32(json.dumps(fcfg.to_dict(), sort_keys=True, default=str).encode())
    return P.BoardSpec(input_bits=8 * P.WORD_BYTES, classes=fcfg.classes, result_bits=8 * P.WORD_BYTES,
                       max_payload=max(int(max_payload), folded_payload(fcfg)), design_id=ident,
                       clock_hz=int(clock_hz), divisor=int(divisor),
                       timeout_clocks=int(timeout_clocks or clock_hz // 10),
                       capabilities=P.CAP_WORDS | P.CAP_TRAIN | P.CAP_LOAD_WEIGHTS, engine=P.ENGINE_WORDS,
                       command=P.WORDS)


def folded_link(fcfg, **spec_args):
    """(UartLink, spec) of the folded trainer behind the host link (WORDS)."""
    from ..hdl.trainer_folded import FoldedTrainer
    from .top import UartLink
    spec = folded_spec(fcfg, **spec_args)
    return UartLink(spec, FoldedTrainer(fcfg), i="cmd", o="resp"), spec


class FoldedWordsGolden:
    """Golden twin of the folded engine's word streams, for ``BoardModel``: command words in
    (any split into requests), response words out, from the golden trainer
    (``hwtrain.golden.trainer_folded.FoldedGolden``) and the host driver's own packing.

    It models what the host driver does: TRAIN, READ_REG/WRITE_REG of the counters and of the
    registers the host schedules write (reinforcement thresholds, group sizes; margins, gates
    and reinforce_every only rewritten with their values), WRITE_ROW, FLUSH, and READ_ROW after
    a FLUSH (the engine runs an owed reinforcement sweep lazily; the golden trainer at once)."""

    def __init__(self, fcfg, golden=None):
        from ..golden.trainer_folded import FoldedGolden, plan
        self.cfg, self.p = fcfg, plan(fcfg)
        self.g = golden or FoldedGolden(fcfg)
        self.pending = False              # a reinforcement sweep is owed (the engine's REG_PENDING)
        self.buf = []                     # words of the command being received

    def _payload_words(self, op: int, layer: int) -> int:
        from ..protocol import trainer_folded as T
        if op == T.OP_TRAIN:
            return self.p["x_words"]
        if op == T.OP_WRITE_REG:
            return 2
        if op == T.OP_WRITE_ROW:
            d = self.p["layers"][layer]
            return d["words"] * d["resp_words"]
        return 0

    def __call__(self, words) -> list[int]:
        from amaranth.hdl import Shape
        from ..protocol.trainer_folded import HEADER

        def field(name):
            f = HEADER[name]
            return (self.buf[0] >> f.offset) & ((1 << Shape.cast(f.shape).width) - 1)
        out = []
        for w in words:
            self.buf.append(int(w))
            op, layer = field("op"), field("layer")
            if len(self.buf) == 1 + self._payload_words(op, layer):
                arg, payload = field("arg"), self.buf[1:]
                self.buf = []
                out += self._execute(op, layer, arg, payload)
        return out

    def _execute(self, op, layer, arg, payload) -> list[int]:
        from ..errors import require
        from ..protocol import trainer_folded as T
        from ..trainer_folded_host import row_values, row_words, value_of, words_of
        g, B, L = self.g, self.cfg.hidden_bits, self.cfg.layers
        if op == T.OP_TRAIN:
            v = value_of(payload)
            x = np.array([1 if (v >> j) & 1 else -1 for j in range(self.cfg.inputs)], dtype=np.int8)
            pred = g.train_sample(x, arg)
            self.pending = g.t.steps_done % self.cfg.reinforce_every == 0
            return [pred]
        if op == T.OP_FLUSH:
            self.pending = False
            return [0]
        if op == T.OP_WRITE_ROW:
            g.H[layer][arg] = row_values(payload, self.p["layers"][layer], B)
            return [0]
        if op == T.OP_READ_ROW:
            require(not self.pending, "the golden word engine reads rows only after a FLUSH")
            return row_words(g.H[layer][arg], self.p["layers"][layer], B)
        regs, counters = g.registers(), g.counters()
        values = {T.REG_SAMPLES: counters["samples"], T.REG_ERRORS: counters["errors"],
                  T.REG_UPDATES: counters["updates"], T.REG_PENDING: ((1 << L) - 1) if self.pending else 0,
                  T.REG_EVERY: regs["reinforce_every"]}
        for l in range(L):
            values[T.REG_REINFORCE + l] = regs["reinforce"][l]
            values[T.REG_GAMMA + l] = regs["gamma"][l]
            values[T.REG_GATE + l] = regs["gates"][l]
            values[T.REG_MARGIN + l] = regs["margins"][min(l, len(regs["margins"]) - 1)]
        if op == T.OP_READ_REG:
            return words_of(values.get(arg, 0), 2)
        require(op == T.OP_WRITE_REG, f"the golden word engine has no op {op}")
        v = value_of(payload)
        if T.REG_REINFORCE <= arg < T.REG_REINFORCE + L:
            g.t.reinforce_thr[arg - T.REG_REINFORCE] = v
        elif T.REG_GAMMA <= arg < T.REG_GAMMA + L:
            g.t.gamma[arg - T.REG_GAMMA] = v
        else:
            require(values.get(arg) == v, f"the golden word engine does not model writing {v} to register "
                                          f"0x{arg:02x} (it holds {values.get(arg)})")
        return [0]


def folded_link_bound(fcfg, baud: float, samples_per_frame: int = 1) -> dict:
    """The host link's own bound on training: UART bytes per TRAIN (its WORDS request: header,
    R word, TRAIN header and input words, CRC; its reply: header, prediction word, CRC), 10 bits
    per byte (8N1), requests and replies one after the other (the board buffers a whole request
    before it runs it), ``samples_per_frame`` TRAINs per request. USB latency not included."""
    from ..golden.trainer_folded import plan
    x_words = plan(fcfg)["x_words"]
    frame = P.HEADER_BYTES + 1
    request = frame + P.WORD_BYTES * (1 + samples_per_frame * (1 + x_words))
    reply = frame + P.WORD_BYTES * samples_per_frame
    per_sample = (request + reply) / samples_per_frame
    return {"baud": baud, "samples_per_frame": samples_per_frame, "request_bytes": request,
            "reply_bytes": reply, "bytes_per_sample": per_sample,
            "samples_per_s": baud / (10 * per_sample)}
