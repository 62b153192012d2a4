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
