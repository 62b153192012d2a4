"""The blocks hwtrain can generate, each with its configuration and golden twin.

A design is one hardware block built from one configuration. ``DESIGNS`` maps
the name users type (``hwtrain generate datapath ...``) to how to build it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import DatapathConfig, PrngConfig
from ..inference.config import InferenceConfig
from ..errors import HwtrainError
from .emit import manifest, to_verilog, write_rtl


@dataclass(frozen=True)
class Design:
    block: str                              # class name shared by the hdl block and its golden twin
    config_type: type
    build: Callable                         # config -> Amaranth component
    top_name: Callable                      # config -> Verilog module name
    bench: str | None = None                # cocotb module in sim/ that checks it
    fixed: dict = field(default_factory=dict)  # configuration values the design implies (filled in, or checked)
    synth_args: Callable = lambda cfg: ""   # config -> extra synth_<family> options its tables were measured with
    hardware: str = ""                      # the Amaranth component, module.Class
    golden: str = ""                        # its golden twin, module.Class
    bench_variant: Callable | None = None   # config -> (component, top) the bench needs (read-back ports)

    def resolve(self, which: str):
        """The class named by ``hardware`` or ``golden``."""
        import importlib
        module, _, cls = getattr(self, which).rpartition(".")
        return getattr(importlib.import_module(module), cls)


def _datapath_top(c: DatapathConfig) -> str:
    parts = [f"xnor_popcount_k{c.inputs}_n{c.neurons}_p{c.pipeline}", c.weights, c.popcount]
    if c.popcount_out:
        parts.append(f"pc{c.popcount_width}")
    parts.append(f"s{c.seed}")
    return "_".join(parts)


def _build_datapath(c: DatapathConfig):
    from ..hdl.datapath import XnorPopcountArray
    return XnorPopcountArray(c)


def _build_prng(c: PrngConfig):
    from ..hdl.prng import Xorshift32
    return Xorshift32(c.seed, c.lanes)


def _inference_top(c: InferenceConfig) -> str:
    impl = "_".join(s.replace(":", "") for s in c.impl)
    source = f"m{_file_digest(c.model)}" if c.model else f"s{c.seed}"
    classifier = f"_cp{c.classifier_pipeline}" if c.classifier_pipeline != 1 else ""
    return (f"mlp_{'_'.join(map(str, c.sizes))}_c{c.classes}_{impl}_{c.store}_{c.popcount}"
            f"{classifier}_{source}")


def _file_digest(path: str) -> str:
    import hashlib
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:8]
    except OSError as e:
        raise HwtrainError(f"cannot read model file {path}: {e.strerror}") from None


def _build_inference(c: InferenceConfig):
    from ..hdl.inference import InferenceCore
    return InferenceCore(c)


def _build_trainer(c):
    from ..hdl.trainer import OnlineTrainer
    return OnlineTrainer(c)


def _trainer_top(c) -> str:
    from ..hdl.trainer import top_name
    return top_name(c)


def _train_config():
    from ..golden.train.config import TrainConfig
    return TrainConfig


def _build_folded_trainer(c):
    from ..hdl.trainer_folded import FoldedTrainer
    return FoldedTrainer(c)


def _folded_trainer_top(c) -> str:
    from ..golden.trainer_folded import top_name
    return top_name(c)


def _folded_train_config():
    from ..golden.trainer_folded import FoldedTrainConfig
    return FoldedTrainConfig


DESIGNS: dict[str, Design] = {
    # Compressor and split popcounts map to LUT4s only (-nowidelut): docs/popcount.md's table.
    "datapath": Design("XnorPopcountArray", DatapathConfig, _build_datapath, _datapath_top,
                       bench="bench_datapath",
                       synth_args=lambda c: "" if c.popcount == "tree" else "-nowidelut",
                       hardware="hwtrain.hdl.datapath.XnorPopcountArray",
                       golden="hwtrain.golden.datapath.XnorPopcountArray"),
    "inference": Design("InferenceCore", InferenceConfig, _build_inference, _inference_top,
                        bench="bench_inference", hardware="hwtrain.hdl.inference.InferenceCore",
                        golden="hwtrain.golden.inference.InferenceCore"),
    "prng": Design("Xorshift32", PrngConfig, _build_prng,
                   lambda c: f"xorshift32_l{c.lanes}_s{c.seed}", bench="bench_prng",
                   hardware="hwtrain.hdl.prng.Xorshift32", golden="hwtrain.core.prng.Xorshift32"),
    # On-chip online training engines (TrainConfig with algorithm "cpr" / "bep", batch 1).
    "trainer_cpr": Design("OnlineTrainer", _train_config(), _build_trainer, _trainer_top,
                          bench="bench_trainer", fixed={"algorithm": "cpr", "batch": 1},
                          hardware="hwtrain.hdl.trainer.OnlineTrainer", golden="hwtrain.golden.trainer.OnlineTrainer"),
    "trainer_bep": Design("OnlineTrainer", _train_config(), _build_trainer, _trainer_top,
                          bench="bench_trainer", fixed={"algorithm": "bep", "batch": 1},
                          hardware="hwtrain.hdl.trainer.OnlineTrainer", golden="hwtrain.golden.trainer.OnlineTrainer"),
    # Folded PE x SIMD engine with a 32-bit word protocol (FoldedTrainConfig: TrainConfig + pe, simd;
    # docs/trainer_folded.md). CP+R and BEP.
    "trainer_cpr_folded": Design("FoldedTrainer", _folded_train_config(), _build_folded_trainer,
                                 _folded_trainer_top, bench="bench_trainer_folded",
                                 fixed={"algorithm": "cpr", "batch": 1},
                                 hardware="hwtrain.hdl.trainer_folded.FoldedTrainer",
                                 golden="hwtrain.golden.trainer_folded.FoldedGolden"),
    "trainer_bep_folded": Design("FoldedTrainer", _folded_train_config(), _build_folded_trainer,
                                 _folded_trainer_top, bench="bench_trainer_folded",
                                 fixed={"algorithm": "bep", "batch": 1},
                                 hardware="hwtrain.hdl.trainer_folded.FoldedTrainer",
                                 golden="hwtrain.golden.trainer_folded.FoldedGolden"),
}


def _ep_config():
    from ..golden.ep import EpConfig
    return EpConfig


def _build_ep(c, probe: bool = False):
    from ..hdl.ep import EpEngine
    return EpEngine(c, probe=probe)


def _ep_top(c, probe: bool = False) -> str:
    from ..hdl.ep import top_name
    return top_name(c, probe=probe)


def _bop_config():
    from ..golden.bop import BopConfig
    return BopConfig


def _build_bop(c):
    from ..hdl.bop import Bop
    return Bop(c)


def _annealer_config():
    from ..golden.annealer import AnnealerConfig
    return AnnealerConfig


def _build_annealer(c):
    from ..hdl.annealer import Annealer
    return Annealer(c)


def _annealer_top(c) -> str:
    import hashlib
    import json
    digest = hashlib.sha256(json.dumps(c.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
    return f"annealer_n{len(c.h)}_w{c.sweeps}x{len(c.betas)}_l{c.lut_depth}_s{c.seed}_{digest}"


DESIGNS.update({
    # Fully binarized EP with BOP (docs/ep.md); the bench reads the state back through the probe port.
    "ep": Design("EpEngine", _ep_config(), _build_ep, _ep_top, bench="bench_ep",
                 hardware="hwtrain.hdl.ep.EpEngine", golden="hwtrain.golden.ep.EpEngine",
                 bench_variant=lambda c: (_build_ep(c, probe=True), _ep_top(c, probe=True))),
    # The BOP momentum/flip unit alone (checked in the Amaranth simulator: tests/test_bop.py).
    "bop": Design("Bop", _bop_config(), _build_bop,
                  lambda c: f"bop_l{c.lanes}_r{c.rows}_m{c.mom_bits}_g{c.gamma_shift}_t{c.tau}",
                  hardware="hwtrain.hdl.bop.Bop", golden="hwtrain.golden.bop.Bop"),
    # Simulated-annealing Ising solver (docs/qubo.md); the configuration holds the problem.
    "annealer": Design("Annealer", _annealer_config(), _build_annealer, _annealer_top, bench="bench_annealer",
                       hardware="hwtrain.hdl.annealer.Annealer", golden="hwtrain.golden.annealer.Annealer"),
})


def design(name: str) -> Design:
    if name not in DESIGNS:
        raise HwtrainError(f"unknown design {name!r}; expected one of {', '.join(DESIGNS)}")
    return DESIGNS[name]


def generate(name: str, cfg, out_dir: Path, *, bench: bool = False) -> tuple[Path, dict]:
    """Emit the Verilog and manifest of design ``name`` for ``cfg`` into ``out_dir``
    (``bench``: the variant its bench drives, where it has one)."""
    d = design(name)
    if bench and d.bench_variant:
        core, top = d.bench_variant(cfg)
    else:
        core, top = d.build(cfg), d.top_name(cfg)
    text = to_verilog(core, top)
    info = manifest(d.block, top, cfg.to_dict(), text, design=name)
    return write_rtl(out_dir, top, text, info), info
