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
    top_name: Callable                      # config -> Verilog module name
    hardware: str = ""                      # the Amaranth component, module.Class
    golden: str = ""                        # its golden twin, module.Class
    build: Callable | None = None           # config -> Amaranth component (default: hardware(config))
    bench: str | None = None                # cocotb module in hwtrain/benches that checks it
    fixed: dict = field(default_factory=dict)  # configuration values the design implies (filled in, or checked)
    defaults: dict = field(default_factory=dict)  # values filled in when the configuration leaves them out
    synth_args: Callable = lambda cfg: ""   # config -> extra synth_ecp5 options its tables were measured with
    bench_variant: Callable | None = None   # config -> (component, top) the bench needs (read-back ports)
    # config, samples=, seed=, dataset=, data_path=, binarize=, out= -> the bench's own parameters
    # (stimulus files, expected latency); called before anything is emitted, so bad input stops there
    bench_params: Callable | None = None
    board: str = ""                         # module.function putting it behind a board's UART host link
                                            # (hwtrain build); "" = not buildable for a board
    floorplan: Callable | None = None       # config -> plan for synthesize(floorplan=) (hwtrain synth --floorplan)

    def resolve(self, which: str):
        """The class (or function) named by ``hardware``, ``golden`` or ``board``."""
        import importlib
        module, _, cls = getattr(self, which).rpartition(".")
        return getattr(importlib.import_module(module), cls)

    def make(self, cfg):
        """The Amaranth component of ``cfg``."""
        return self.build(cfg) if self.build else self.resolve("hardware")(cfg)


def _datapath_top(c: DatapathConfig) -> str:
    parts = [f"xnor_popcount_k{c.inputs}_n{c.neurons}_p{c.pipeline}", c.weights, c.popcount]
    if c.popcount_out:
        parts.append(f"pc{c.popcount_width}")
    parts.append(f"s{c.seed}")
    return "_".join(parts)


def _build_prng(c: PrngConfig):
    from ..hdl.prng import Xorshift32
    return Xorshift32(c.seed, c.lanes)


def _inference_top(c: InferenceConfig) -> str:
    impl = "_".join(s.replace(":", "") for s in c.impl)
    source = f"m{_file_digest(c.model)}" if c.model else f"s{c.seed}"
    classifier = f"_cp{c.classifier_pipeline}" if c.classifier_pipeline != 1 else ""
    # the defaults add nothing, so existing run folders keep their names
    argmax = f"_am{c.argmax_pipeline}" if c.argmax_pipeline != "none" else ""
    slices = "" if c.register_slices else "_noslices"
    logits = "_logits" if c.logits_out else ""
    return (f"mlp_{'_'.join(map(str, c.sizes))}_c{c.classes}_{impl}_{c.store}_{c.popcount}"
            f"{classifier}{argmax}{slices}{logits}_{source}")


def _file_digest(path: str) -> str:
    import hashlib
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:8]
    except OSError as e:
        raise HwtrainError(f"cannot read model file {path}: {e.strerror}") from None


def _trainer_top(c) -> str:
    from ..hdl.trainer import top_name
    return top_name(c)


def _train_config():
    from ..golden.train.config import TrainConfig
    return TrainConfig


def _folded_trainer_top(c) -> str:
    from ..golden.trainer_folded import top_name
    return top_name(c)


def _folded_train_config():
    from ..golden.trainer_folded import FoldedTrainConfig
    return FoldedTrainConfig


def _rnn_trainer_top(c) -> str:
    from ..golden.trainer_rnn import top_name
    return top_name(c)


def _rnn_train_config():
    from ..golden.trainer_rnn import RnnTrainConfig
    return RnnTrainConfig


def _build_rnn_trainer(c):
    """The engine, after plan()'s refusals (a refusal inside the constructor leaves an engine object
    that Amaranth reports as created but never used)."""
    from ..golden.trainer_rnn import plan
    from ..hdl.trainer_rnn import RnnTrainer
    plan(c)
    return RnnTrainer(c)


def _rnn_bench_params(c, *, samples: int, seed: int, dataset: str | None, data_path, binarize: str | None,
                      out: Path) -> dict:
    """bench_trainer_rnn's stimulus: one epoch over ``samples`` training sequences of a UCR set
    (``--dataset italy_power`` / ``japanese_vowels``) or of random sequences; refused here, before
    anything is emitted, when the set does not fit the configuration."""
    from ..golden.trainer_rnn import plan
    plan(c)                                            # the engine's own refusals first
    if binarize:
        raise HwtrainError("--binarize applies to image datasets; a UCR set is thermometer-coded per channel")
    if dataset:
        from ..data.presets import UCR_NAMES
        if dataset not in UCR_NAMES:
            raise HwtrainError(f"the RNN trainer trains on sequence datasets ({', '.join(UCR_NAMES)}), not {dataset}")
        from ..golden.trainer_rnn import sequence_data
        sequence_data(c, dataset, data_path, seed, 1)   # shape, classes and thermometer checked now
    return {"dataset": dataset or "random", "data_path": data_path, "n_train": samples, "epochs": 1}


INFERENCE_LINK = "hwtrain.boards.design.inference_link"
TRAINER_LINK = "hwtrain.boards.design.trainer_link"
FOLDED_LINK = "hwtrain.boards.design.folded_link"          # the word-stream host link (WORDS)

DESIGNS: dict[str, Design] = {
    # Compressor and split popcounts map to LUT4s only (-nowidelut): docs/popcount.md's table.
    "datapath": Design("XnorPopcountArray", DatapathConfig, _datapath_top,
                       hardware="hwtrain.hdl.datapath.XnorPopcountArray",
                       golden="hwtrain.golden.datapath.XnorPopcountArray", bench="bench_datapath",
                       synth_args=lambda c: "" if c.popcount == "tree" else "-nowidelut"),
    "inference": Design("InferenceCore", InferenceConfig, _inference_top,
                        hardware="hwtrain.hdl.inference.InferenceCore",
                        golden="hwtrain.golden.inference.InferenceCore", bench="bench_inference",
                        board=INFERENCE_LINK),
    "prng": Design("Xorshift32", PrngConfig, lambda c: f"xorshift32_l{c.lanes}_s{c.seed}",
                   hardware="hwtrain.hdl.prng.Xorshift32", golden="hwtrain.core.prng.Xorshift32",
                   build=_build_prng, bench="bench_prng"),
    # On-chip online training engines (TrainConfig with algorithm "cpr" / "bep", batch 1).
    "trainer_cpr": Design("OnlineTrainer", _train_config(), _trainer_top,
                          hardware="hwtrain.hdl.trainer.OnlineTrainer",
                          golden="hwtrain.golden.trainer.OnlineTrainer", bench="bench_trainer",
                          fixed={"algorithm": "cpr", "batch": 1}, board=TRAINER_LINK),
    "trainer_bep": Design("OnlineTrainer", _train_config(), _trainer_top,
                          hardware="hwtrain.hdl.trainer.OnlineTrainer",
                          golden="hwtrain.golden.trainer.OnlineTrainer", bench="bench_trainer",
                          fixed={"algorithm": "bep", "batch": 1}, board=TRAINER_LINK),
    # Folded PE x SIMD engine with a 32-bit word protocol (FoldedTrainConfig: TrainConfig + pe, simd;
    # docs/trainer_folded.md). CP+R and BEP, online (batch 1, the default) or in mini-batches.
    "trainer_cpr_folded": Design("FoldedTrainer", _folded_train_config(), _folded_trainer_top,
                                 hardware="hwtrain.hdl.trainer_folded.FoldedTrainer",
                                 golden="hwtrain.golden.trainer_folded.FoldedGolden",
                                 bench="bench_trainer_folded", fixed={"algorithm": "cpr"}, defaults={"batch": 1},
                                 board=FOLDED_LINK),
    "trainer_bep_folded": Design("FoldedTrainer", _folded_train_config(), _folded_trainer_top,
                                 hardware="hwtrain.hdl.trainer_folded.FoldedTrainer",
                                 golden="hwtrain.golden.trainer_folded.FoldedGolden",
                                 bench="bench_trainer_folded", fixed={"algorithm": "bep"}, defaults={"batch": 1},
                                 board=FOLDED_LINK),
    # On-chip BEP-TT: a many-to-one binary RNN trained online (batch 1, the default) or in mini-batches
    # (RnnTrainConfig: TrainConfig + simd; docs/trainer_rnn.md; plan() refuses what cannot be built).
    "trainer_bep_tt": Design("RnnTrainer", _rnn_train_config(), _rnn_trainer_top,
                             hardware="hwtrain.hdl.trainer_rnn.RnnTrainer",
                             golden="hwtrain.golden.trainer_rnn.RnnGolden", bench="bench_trainer_rnn",
                             fixed={"algorithm": "bep_tt"}, defaults={"batch": 1}, bench_params=_rnn_bench_params,
                             build=_build_rnn_trainer),
}


def _ep_config():
    from ..golden.ep import EpConfig
    return EpConfig


def _ep_top(c, probe: bool = False) -> str:
    from ..hdl.ep import top_name
    return top_name(c, probe=probe)


def _ep_probe(c):
    from ..hdl.ep import EpEngine
    return EpEngine(c, probe=True), _ep_top(c, probe=True)


def _ep_bram_config():
    from ..hdl.ep_bram import EpBramConfig
    return EpBramConfig


def _ep_bram_top(c, probe: bool = False) -> str:
    from ..hdl.ep_bram import top_name
    return top_name(c, probe=probe)


def _ep_bram_probe(c):
    from ..hdl.ep_bram import EpBramEngine
    return EpBramEngine(c, probe=True), _ep_bram_top(c, probe=True)


def _bop_config():
    from ..golden.bop import BopConfig
    return BopConfig


def _annealer_config():
    from ..golden.annealer import AnnealerConfig
    return AnnealerConfig


def _digest(*parts) -> str:
    """First 8 hex digits of the SHA-256 of ``parts`` (bytes, or JSON-able values)."""
    import hashlib
    import json
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else json.dumps(p, sort_keys=True).encode())
    return h.hexdigest()[:8]


def _annealer_top(c) -> str:
    return f"annealer_n{len(c.h)}_w{c.sweeps}x{len(c.betas)}_l{c.lut_depth}_s{c.seed}_{_digest(c.to_dict())}"


def _logic_config():
    from ..golden.logic import LogicCoreConfig
    return LogicCoreConfig


def _build_logic(c):
    from ..hdl.logic_serial import logic_core
    return logic_core(c)


def _logic_floorplan(c):
    """The image floorplan of a logic net (hwtrain.flows.floorplan): every registered node locked
    where its inputs are; the net's inputs must be a square image (times its thermometer levels)."""
    from .floorplan import net_floorplan
    if c.register_every != "lut4" or not c.register_encoder:
        raise HwtrainError("--floorplan image locks the registered nodes: it needs register_every lut4 and "
                           f"register_encoder (got register_every {c.register_every!r}, register_encoder "
                           f"{c.register_encoder})")
    return net_floorplan(c.load_netlist())


def _logic_top(c) -> str:
    """``logic_<netlist stem>_r<register_every>_<head>_<flow>_<digest of the netlist and options>``."""
    import re
    try:
        content = Path(c.netlist).read_bytes()
    except OSError as e:
        raise HwtrainError(f"cannot read netlist file {c.netlist}: {e.strerror}") from None
    options = {k: v for k, v in c.to_dict().items() if k != "netlist"}
    stem = re.sub(r"[^A-Za-z0-9_]", "_", Path(c.netlist).stem)
    return f"logic_{stem}_r{c.register_every}_{c.head}_{c.flow}_{_digest(content, options)}"


def _logic_bench_params(c, *, samples: int, seed: int, dataset: str | None, data_path, binarize: str | None,
                        out: Path) -> dict:
    """Stimulus of bench_logic: a dataset's whole test split (raw features, or the encoded bits
    when the core takes them), else ``samples`` random inputs; the expected latency."""
    import numpy as np
    from ..golden.logic import LogicNetwork as Golden
    from ..hdl.logic_serial import logic_core
    nl = c.load_netlist()
    core = logic_core(c, nl)                           # refuses bad pipelining options before any work
    for part in (core, getattr(core, "core", None), getattr(core, "encoder", None)):
        if part is not None:
            part._MustUse__silence = True              # asked for its latency only, never elaborated
    enc, labels = nl.encoder, None
    if binarize:
        raise HwtrainError("--binarize applies to binary-MLP designs; a logic netlist encodes its "
                           "features with its own thermometer")
    if dataset:
        from ..logic.datasets import DATASETS, dataset_features
        if dataset not in DATASETS:
            raise HwtrainError(f"logic networks run on {', '.join(DATASETS)}, not {dataset}")
        if enc is None:
            raise HwtrainError(f"--dataset needs a netlist with a thermometer encoder; {c.netlist} has none "
                               f"(without --dataset, random input bits are used)")
        d, _, _, x = dataset_features(dataset, data_path)
        if x.shape[1] != enc.features or int(x.max()).bit_length() > enc.feature_bits:
            raise HwtrainError(f"{dataset} has {x.shape[1]} features of up to {int(x.max()).bit_length()} bits, "
                               f"the netlist's encoder takes {enc.features} of {enc.feature_bits} bits")
        labels = [int(v) for v in d.y_test]
    elif c.serial or core.raw:
        x = np.random.default_rng(seed).integers(0, 1 << enc.feature_bits, (samples, enc.features))
    else:
        x = np.random.default_rng(seed).integers(0, 2, (samples, nl.inputs))
    if dataset and not (c.serial or core.raw):
        x = Golden(nl).encode(x)
    out.mkdir(parents=True, exist_ok=True)
    inputs = (out / f"{dataset or 'random'}_inputs.npy").resolve()
    np.save(inputs, x)
    return {"netlist": c.netlist, "inputs": str(inputs), "raw": bool(c.serial) or core.raw,
            "counts_out": c.counts_out, "register_every": c.register_every, "latency": core.latency,
            "serial": c.serial, "period": core.period if c.serial else 1, "labels": labels}


DESIGNS.update({
    # Fully binarized EP with BOP (docs/ep.md); the bench reads the state back through the probe port.
    "ep": Design("EpEngine", _ep_config(), _ep_top, hardware="hwtrain.hdl.ep.EpEngine",
                 golden="hwtrain.golden.ep.EpEngine", bench="bench_ep", bench_variant=_ep_probe),
    # The same engine with W1, W2 and their momenta in block RAM, folded by simd / simd_hidden (docs/ep.md).
    "ep_bram": Design("EpBramEngine", _ep_bram_config(), _ep_bram_top, hardware="hwtrain.hdl.ep_bram.EpBramEngine",
                      golden="hwtrain.golden.ep.EpEngine", bench="bench_ep_bram", bench_variant=_ep_bram_probe),
    # The BOP momentum/flip unit alone (checked in the Amaranth simulator: tests/test_bop.py).
    "bop": Design("Bop", _bop_config(),
                  lambda c: f"bop_l{c.lanes}_r{c.rows}_m{c.mom_bits}_g{c.gamma_shift}_t{c.tau}",
                  hardware="hwtrain.hdl.bop.Bop", golden="hwtrain.golden.bop.Bop"),
    # Simulated-annealing Ising solver (docs/qubo.md); the configuration holds the problem.
    "annealer": Design("Annealer", _annealer_config(), _annealer_top, hardware="hwtrain.hdl.annealer.Annealer",
                       golden="hwtrain.golden.annealer.Annealer", bench="bench_annealer"),
    # A learned Boolean network from a netlist file, pipelined as the options say (docs/logic.md).
    # The pipelined head's submodules are kept apart and mapped to LUT4s (README's issue-20 table).
    "logic": Design("LogicNetwork", _logic_config(), _logic_top, hardware="hwtrain.hdl.logic.LogicNetwork",
                    golden="hwtrain.golden.logic.LogicNetwork", build=_build_logic, bench="bench_logic",
                    bench_params=_logic_bench_params, floorplan=_logic_floorplan,
                    synth_args=lambda c: "-nowidelut -noflatten" if c.head in ("pipelined", "fused") else ""),
})


def design(name: str) -> Design:
    if name not in DESIGNS:
        raise HwtrainError(f"unknown design {name!r}; expected one of {', '.join(DESIGNS)}")
    return DESIGNS[name]


def config_for(name: str, values: dict):
    """The configuration of design ``name`` from ``values`` (a JSON object and options): the
    values the design implies filled in or checked, missing and unknown keys named, then the
    configuration's own checks."""
    import dataclasses
    from ..config import config_from_dict
    d = design(name)
    values = dict(values)
    for key, want in d.fixed.items():
        if key in values and values[key] != want:
            raise HwtrainError(f"design {name} needs {key}={want!r}, the configuration says "
                               f"{key}={values[key]!r}")
        values.setdefault(key, want)
    for key, value in d.defaults.items():
        values.setdefault(key, value)
    if hasattr(d.config_type, "complete"):
        values = d.config_type.complete(values)
    fields = dataclasses.fields(d.config_type)
    missing = [f.name for f in fields if f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING and f.name not in values]
    if missing:
        raise HwtrainError(f"{name} needs " + ", ".join(f"--{m.replace('_', '-')}" for m in missing))
    unknown = sorted(set(values) - {f.name for f in fields})
    if unknown:
        raise HwtrainError(f"unknown configuration keys {unknown} for {name}")
    return config_from_dict(d.config_type, values)      # value types, then the configuration's own checks


PORT_STYLES = ("native", "axis")


def generate(name: str, cfg, out_dir: Path, *, bench: bool = False, ports: str = "native") -> tuple[Path, dict]:
    """Emit the Verilog and manifest of design ``name`` for ``cfg`` into ``out_dir``
    (``bench``: the variant its bench drives, where it has one; ``ports="axis"``: AXI4-Stream
    port names around the core, top ``<top>_axis``, every port described in the manifest)."""
    d = design(name)
    if ports not in PORT_STYLES:
        raise HwtrainError(f"unknown port style {ports!r}; expected one of {', '.join(PORT_STYLES)}")
    if bench and d.bench_variant:
        core, top = d.bench_variant(cfg)
    else:
        core, top = d.make(cfg), d.top_name(cfg)
    extra = {}
    if ports == "axis":
        from .axis import AxisWrapper, timing
        wrapper = AxisWrapper(core)
        extra["ports"] = wrapper.ports(timing(name, cfg, core))
        core, top = wrapper, f"{top}_axis"
    text = to_verilog(core, top)
    info = manifest(d.block, top, cfg.to_dict(), text, design=name, **extra)
    return write_rtl(out_dir, top, text, info), info
