"""Configuration of an inference core: layer sizes and one implementation per layer.

Implementations (``LayerImpl``), written as strings on the command line:

``parallel``            every neuron and every input at once (XnorPopcountArray):
                        one sample per clock.
``folded:PExSIMD``      FINN's MVAU scheme: PE neurons in parallel, SIMD inputs
                        per cycle; (N/PE)*(K/SIMD) compute cycles per sample.
``serial:SIMD``         bit-serial: all N neurons, SIMD (1 or a few) inputs per
                        cycle shifting through a register into up/down counters;
                        K/SIMD compute cycles, the smallest area.

Folded and serial layers take ``:pP`` after their sizes (``folded:64x98:p2``,
``serial:4:p1``): P pipeline registers inside each PE's XNOR/popcount, in front
of the accumulator (default: folded 1, serial 0). They add P cycles of latency
and no cycles per sample. ``:cG`` (folded, ROM store) adds two issue registers:
copies of the weight address and the input slice per G PEs, then of the address
per PE and the slice per G PEs again, so the wide ROM/XNOR stage reads registers
placed beside it instead of one address and one slice that fan out to every PE
(two more cycles of latency).

Weight storage for folded and serial layers (``store``): ``registers``
(rotating shift registers), ``rom`` (LUT ROM, asynchronous read), ``bram``
(block RAM, synchronous read, its output registered), ``bram_direct`` (block
RAM, synchronous read straight into the PEs: no output register, for iCE40,
where each register bit takes a logic cell of its own) or ``auto`` (registers
up to 4 Kibit, ROM up to 16 Kibit, ``bram`` beyond). Parallel layers fold their
weights into the logic.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..config import ConfigBase
from ..errors import HwtrainError, require

KINDS = ("parallel", "folded", "serial")
STORES = ("auto", "registers", "rom", "bram", "bram_direct")
AUTO_REGISTER_BITS = 4096
AUTO_ROM_BITS = 16384


DEFAULT_PIPELINE = {"parallel": 2, "folded": 1, "serial": 0}
ARGMAX_PIPELINES = ("none", "round", "compare", "split")


@dataclass(frozen=True)
class LayerImpl:
    """One hidden layer's implementation.

    ``pipeline``: parallel layers, the register stages of XnorPopcountArray
    (see DatapathConfig); folded and serial layers, the registers inside each
    PE's XNOR/popcount in front of its accumulator (hdl.inference.FoldedLayer).
    None takes the kind's default (``DEFAULT_PIPELINE``).
    """

    kind: str = "parallel"
    pe: int = 1
    simd: int = 1
    pipeline: int | None = None
    copies: int = 0            # folded: PEs per input-slice copy of the issue register (0: none)

    def __post_init__(self):
        if self.pipeline is None:
            object.__setattr__(self, "pipeline", DEFAULT_PIPELINE.get(self.kind, 0))

    @classmethod
    def parse(cls, text: str) -> "LayerImpl":
        """``parallel``, ``parallel:P`` (P pipeline stages), ``folded:PExSIMD[:pP][:cG]``,
        ``serial:SIMD[:pP]`` (P registers in front of the accumulators; G PEs per
        copy of the issue register)."""
        kind, _, arg = text.strip().partition(":")
        expected = ("expected parallel, parallel:STAGES, folded:PExSIMD[:pP][:cG] (e.g. folded:8x16, "
                    "folded:8x16:p2 or folded:64x98:p3:c8) or serial:SIMD[:pP]")
        require(kind in KINDS, f"unknown layer implementation {text!r}; {expected}")
        try:
            if kind == "parallel":
                return cls("parallel", pipeline=int(arg) if arg else None)
            arg, *options = arg.split(":")
            found = {}
            for opt in options:
                key, value = opt[:1], int(opt[1:])
                if key not in ("p", "c") or key in found or value < 0 or (key == "c" and kind != "folded"):
                    raise ValueError(opt)
                found[key] = value
            if kind == "folded":
                pe, _, simd = arg.partition("x")
                return cls("folded", pe=int(pe), simd=int(simd), pipeline=found.get("p"),
                           copies=found.get("c", 0))
            return cls("serial", simd=int(arg) if arg else 1, pipeline=found.get("p"))
        except ValueError:
            raise HwtrainError(f"cannot read layer implementation {text!r}; {expected}") from None

    @property
    def issue_registers(self) -> int:
        """Registers in front of the ROM/XNOR stage: 2 with ``:cG`` (a copy per G PEs, then
        one per PE: hdl.inference.ISSUE_REGISTERS), else 0."""
        return 2 if self.copies else 0

    def __str__(self) -> str:
        if self.kind == "parallel":
            return f"parallel:{self.pipeline}"
        p = f":p{self.pipeline}" if self.pipeline != DEFAULT_PIPELINE[self.kind] else ""
        p += f":c{self.copies}" if self.copies else ""
        return (f"folded:{self.pe}x{self.simd}" if self.kind == "folded" else f"serial:{self.simd}") + p


@dataclass(frozen=True)
class InferenceConfig(ConfigBase):
    """A binary MLP ``sizes[0] -> sizes[1] -> ... -> sizes[-1]`` plus a fixed
    +-1 classifier onto ``classes`` outputs.

    sizes       input width and every hidden layer width.
    classes     number of classes of the fixed classifier.
    impl        one implementation string per hidden layer (a single string
                applies to all layers).
    store       weight storage of folded/serial layers (see module doc).
    logits_out  also stream out the logits (2 * agreements - K_L per class).
    seed        PRNG seed for a random model when no model file is given.
    model       path of a model file from ``hwtrain train`` ("" = random model).
    classifier_pipeline  register stages of the classifier's popcounts (1 ..
                its DatapathConfig's max_pipeline); wide last layers need more
                than 1 for Fmax (the 784-input core's 256-input classifier).
    popcount    popcount structure of every layer: "compressor" (Dadda tree of
                full adders, threshold merged into the last adder; see
                docs/popcount.md), "split" (parallel layers: each neuron counts
                only the smaller of its +1/-1 input sets beside one shared
                popcount of the layer's input; other layers use "compressor")
                or "tree" (plain adder tree).
    argmax_pipeline  registers inside the argmax tournament over the class
                counts: "none" (combinational, the default), "round", "compare"
                or "split" (hdl.argmax); each adds its registers to the latency.
                The 10-class tournament alone was 22 MHz on iCE40.
    register_slices  a register slice (skid buffer) behind every hidden layer
                (default): no handshake path crosses a layer. Without them
                (False) each layer hands its result straight to the next: one
                cycle less latency per layer and two registers fewer per
                activation bit, for small devices (iCE40 UP5K).
    """

    sizes: tuple[int, ...]
    classes: int
    impl: tuple[str, ...] = ("parallel",)
    store: str = "auto"
    logits_out: bool = False
    seed: int = 1
    model: str = ""
    popcount: str = "compressor"
    classifier_pipeline: int = 1
    argmax_pipeline: str = "none"
    register_slices: bool = True

    def __post_init__(self):
        sizes = tuple(self.sizes) if not isinstance(self.sizes, str) else \
            tuple(_ints(self.sizes, "sizes"))
        object.__setattr__(self, "sizes", sizes)
        require(len(sizes) >= 2, f"sizes needs an input width and at least one layer, got {sizes}")
        for s in sizes:
            require(isinstance(s, int) and not isinstance(s, bool) and s >= 1,
                    f"every size must be a positive integer, got {sizes}")
        require(isinstance(self.classes, int) and self.classes >= 2,
                f"classes must be an integer >= 2, got {self.classes!r}")
        impl = (self.impl,) if isinstance(self.impl, str) else tuple(self.impl)
        if len(impl) == 1:
            impl = impl * self.layers
        require(len(impl) == self.layers,
                f"{len(impl)} layer implementations given for {self.layers} layers")
        object.__setattr__(self, "impl", tuple(str(LayerImpl.parse(s)) for s in impl))
        from ..config import NEURON_STRUCTURES, DatapathConfig
        require(self.popcount in NEURON_STRUCTURES,
                f"unknown popcount structure {self.popcount!r}; expected one of "
                f"{', '.join(NEURON_STRUCTURES)}")
        require(self.store in STORES, f"unknown weight store {self.store!r}; expected one of "
                                      f"{', '.join(STORES)}")
        require(isinstance(self.seed, int) and self.seed >= 0, f"seed must be >= 0, got {self.seed!r}")
        require(isinstance(self.register_slices, bool),
                f"register_slices must be true or false, got {self.register_slices!r}")
        require(self.argmax_pipeline in ARGMAX_PIPELINES,
                f"unknown argmax pipeline {self.argmax_pipeline!r}; expected one of "
                f"{', '.join(ARGMAX_PIPELINES)}")
        for l, li in enumerate(self.layer_impls):
            k, n = self.sizes[l], self.sizes[l + 1]
            if li.kind == "folded":
                require(li.pe >= 1 and n % li.pe == 0,
                        f"layer {l}: PE={li.pe} does not divide its {n} neurons "
                        f"(divisors: {_divisors(n)})")
            if li.kind in ("folded", "serial"):
                require(li.simd >= 1 and k % li.simd == 0,
                        f"layer {l}: SIMD={li.simd} does not divide its {k} inputs "
                        f"(divisors: {_divisors(k)})")
                from ..config import popcount_levels
                counting = "compressor" if self.popcount == "split" else self.popcount
                most = min(popcount_levels(counting, li.simd) + 1, self.compute_cycles(l))
                require(li.pipeline <= most,
                        f"layer {l}: {li.pipeline} pipeline registers do not fit: at most {most} "
                        f"(the PE popcount's level boundaries and the layer's compute cycles)")
                require(li.pipeline + li.issue_registers <= self.compute_cycles(l),
                        f"layer {l}: {li.pipeline} pipeline registers and the 2 issue registers (:c) "
                        f"exceed its {self.compute_cycles(l)} compute cycles")
            if li.copies:
                require(li.copies <= li.pe and self.store_for(l) == "rom",
                        f"layer {l}: :c{li.copies} needs the ROM weight store (--store rom; this "
                        f"layer's is {self.store_for(l)}) and at most PE={li.pe} PEs per copy")
            if li.kind == "parallel":
                try:
                    DatapathConfig(k, n, pipeline=li.pipeline, popcount_out=False,
                                   popcount=self.popcount)
                except HwtrainError as e:
                    raise HwtrainError(f"layer {l}: {e}") from None
        try:
            DatapathConfig(self.sizes[-1], self.classes, pipeline=self.classifier_pipeline)
        except HwtrainError as e:
            raise HwtrainError(f"classifier_pipeline: {e}") from None

    @property
    def layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def layer_impls(self) -> list[LayerImpl]:
        return [LayerImpl.parse(s) for s in self.impl]

    def store_for(self, layer: int) -> str:
        """Weight storage of a folded/serial layer, resolving ``auto`` by size."""
        if self.store != "auto":
            return self.store
        bits = self.sizes[layer] * self.sizes[layer + 1]
        return "registers" if bits <= AUTO_REGISTER_BITS else "rom" if bits <= AUTO_ROM_BITS else "bram"

    def compute_cycles(self, layer: int) -> int:
        """Folded/serial layers: (N/PE)*(K/SIMD) cycles that each present one slice."""
        li, k, n = self.layer_impls[layer], self.sizes[layer], self.sizes[layer + 1]
        pe = li.pe if li.kind == "folded" else n
        return (n // pe) * (k // li.simd)

    def layer_cycles(self, layer: int) -> int:
        """Cycles between two samples a layer accepts when never stalled.

        parallel: 1. folded: (N/PE)*(K/SIMD) compute cycles plus one cycle
        that hands the result over and loads the next input. serial: K/SIMD + 1.
        """
        if self.layer_impls[layer].kind == "parallel":
            return 1
        return self.compute_cycles(layer) + 1

    @property
    def cycles_per_sample(self) -> int:
        """Steady-state cycles per sample of the whole core: its slowest layer."""
        return max(self.layer_cycles(l) for l in range(self.layers))

    def layer_latency(self, layer: int) -> int:
        """Cycles from a layer taking a sample to its result being valid: parallel,
        its pipeline stages; folded/serial, layer_cycles + 1 + its pipeline registers
        (+ 2 for the issue registers of ``:cG``)
        (the last slice's count reaches the accumulator that much later)."""
        li = self.layer_impls[layer]
        return (li.pipeline if li.kind == "parallel"
                else self.layer_cycles(layer) + 1 + li.pipeline + li.issue_registers)

    @property
    def latency(self) -> int:
        """Cycles from the core taking a sample to its class being valid (no stalls):
        the layers, each with the register slice behind it (one cycle, if
        ``register_slices``), then the classifier's popcount registers, the argmax
        tournament's registers and the argmax register."""
        return (sum(self.layer_latency(l) + int(self.register_slices) for l in range(self.layers))
                + self.classifier_pipeline + self.argmax_registers + 1)

    @property
    def argmax_registers(self) -> int:
        """Registers inside the argmax tournament (``argmax_pipeline``): its
        ceil(log2 classes) rounds as ``hdl.argmax.tournament_registers`` counts them
        (the test suite checks that both agree)."""
        r = max(0, (self.classes - 1).bit_length())
        return {"none": 0, "round": max(0, r - 1), "compare": r,
                "split": max(0, 2 * r - 1)}[self.argmax_pipeline]

    def load_model(self):
        """The model this configuration describes: the model file, or random from ``seed``."""
        from .model import BinaryMLP
        return (BinaryMLP.load(self.model) if self.model else BinaryMLP.random(self)).check(self)

    @classmethod
    def complete(cls, values: dict) -> dict:
        """Fill ``sizes`` and ``classes`` from the model file when they are not given;
        the model path becomes absolute (benches and tools run in other folders)."""
        if values.get("model"):
            import os
            require(isinstance(values["model"], (str, os.PathLike)),
                    f"model must be the path of a model file, got {values['model']!r}")
            values = {**values, "model": os.path.abspath(values["model"])}
        if values.get("model") and ("sizes" not in values or "classes" not in values):
            from .model import BinaryMLP
            m = BinaryMLP.load(values["model"])
            values = {"sizes": m.sizes, "classes": m.classes, **values}
        return values



def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise HwtrainError(f"{what} must be comma-separated integers, got {text!r}") from None


def _divisors(k: int) -> list[int]:
    """The divisors of ``k`` in increasing order, in O(sqrt k): a size may be huge by mistake."""
    import math
    small = [d for d in range(1, math.isqrt(k) + 1) if k % d == 0]
    return small + [k // d for d in reversed(small) if d * d != k]
