"""Configuration objects: the single place where sizes and number formats are decided.

Both the golden model and the hardware generator of a block take the same
configuration; nothing else chooses a width.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from .errors import HwtrainError, require

POPCOUNT_STRUCTURES = ("tree", "compressor")
WEIGHT_MODES = ("const", "port")


class ConfigBase:
    """JSON round trips shared by every configuration dataclass.

    Tuple fields become JSON lists and come back as tuples; unknown keys, bad
    JSON and wrong argument types are explained in one line.
    """

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict):
        name = cls.__name__
        require(isinstance(d, dict), f"a {name} must be a JSON object, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        require(not unknown, f"unknown {name} keys {unknown}; expected some of {sorted(known)}")
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        try:
            return cls(**d)
        except TypeError as e:
            raise HwtrainError(f"bad {name}: {e}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str):
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise HwtrainError(f"{cls.__name__} is not valid JSON: {e}") from None
        return cls.from_dict(d)


def tree_levels(k: int) -> int:
    """Adder levels of a pairwise tree over ``k`` bits: ceil(log2 k)."""
    return max(k - 1, 0).bit_length()


def dadda_plan(heights: list[int]) -> list[list[tuple[int, int]]]:
    """Full/half adders of each stage of a Dadda tree over a bit heap.

    ``heights[c]`` is the number of bits of weight ``2**c``. Each stage brings
    every column down to the next Dadda height (2, 3, 4, 6, 9, 13, ...) using
    as few adders as it can; ``plan[s][c] = (full adders, half adders)``. The
    tree stops at two rows, which one carry-propagate adder sums. A half adder
    costs as much as a full adder on a LUT fabric but removes no bit, so an odd
    excess takes one more full adder rather than a half adder when bits allow.
    """
    h = list(heights)
    plan = []
    while h and max(h) > 2:
        d = 2
        while d * 3 // 2 < max(h):
            d = d * 3 // 2
        stage, new, carry_in = [], [0] * (len(h) + 1), 0
        for c, hc in enumerate(h):
            excess = max(hc + carry_in - d, 0)
            fas = min((excess + 1) // 2, hc // 3)
            has = 1 if excess > 2 * fas and hc - 3 * fas >= 2 else 0
            stage.append((fas, has))
            new[c] = hc - 2 * fas - has + carry_in
            carry_in = fas + has
        new[len(h)] = carry_in
        while new and new[-1] == 0:
            new.pop()
        plan.append(stage)
        h = new
    return plan


def popcount_levels(structure: str, k: int) -> int:
    """Logic levels of a popcount over ``k`` bits, between which pipeline
    registers may go: adder levels of a ``tree``; reduction stages plus the
    final adder of a ``compressor``."""
    if structure == "compressor":
        return len(dadda_plan([k])) + 1
    return tree_levels(k)


def _positive_int(name: str, value) -> None:
    require(isinstance(value, int) and not isinstance(value, bool) and value >= 1,
            f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class DatapathConfig(ConfigBase):
    """An array of N XNOR/popcount neurons over K binary inputs.

    inputs          K, the number of binary inputs per neuron.
    neurons         N, the number of neurons evaluated in parallel.
    pipeline        register stages from input to output (>= 1); the output is
                    valid ``pipeline`` cycles after the input was accepted.
    popcount_width  bits of each popcount; at least ``K.bit_length()``.
    popcount_out    also stream out every neuron's popcount, not only its bit.
    weights         "const": weights and thresholds are baked into the logic
                    (inference); "port": they are input ports (trainers).
    popcount        popcount structure: "tree" (pairwise adder tree, the reference)
                    or "compressor" (Dadda tree of full adders, then one carry
                    chain; the threshold compare merged into it when
                    ``popcount_out`` is off). See docs/popcount.md.
    seed            master seed of the shared PRNG for random parameters.
    """

    inputs: int
    neurons: int
    pipeline: int = 2
    popcount_width: int | None = None
    popcount_out: bool = True
    weights: str = "const"
    popcount: str = "tree"
    seed: int = 1

    def __post_init__(self):
        _positive_int("inputs (K)", self.inputs)
        _positive_int("neurons (N)", self.neurons)
        _positive_int("pipeline (register stages)", self.pipeline)
        need = self.inputs.bit_length()
        if self.popcount_width is None:
            object.__setattr__(self, "popcount_width", need)
        _positive_int("popcount_width", self.popcount_width)
        require(self.popcount_width >= need,
                f"popcount_width {self.popcount_width} cannot hold a count of up to "
                f"K={self.inputs} (needs {need} bits)")
        require(self.weights in WEIGHT_MODES,
                f"unknown weight mode {self.weights!r}; expected one of {', '.join(WEIGHT_MODES)}")
        require(self.popcount in POPCOUNT_STRUCTURES,
                f"unknown popcount structure {self.popcount!r}; expected one of "
                f"{', '.join(POPCOUNT_STRUCTURES)}")
        require(self.pipeline <= self.max_pipeline,
                f"pipeline of {self.pipeline} stages is too deep for K={self.inputs}: a "
                f"{self.popcount} popcount has {self.max_pipeline - 1} register positions plus "
                f"the output register (at most {self.max_pipeline})")
        require(isinstance(self.seed, int) and self.seed >= 0,
                f"seed must be a non-negative integer, got {self.seed!r}")

    @property
    def max_pipeline(self) -> int:
        """Deepest pipeline: a register at every popcount level boundary (the
        inputs, each adder level) plus the output register."""
        return popcount_levels(self.popcount, self.inputs) + 2

    @property
    def threshold_width(self) -> int:
        """Bits of a threshold: it ranges over 0..K+1 (K+1 means 'never fire')."""
        return (self.inputs + 1).bit_length()


@dataclass(frozen=True)
class PrngConfig(ConfigBase):
    """``lanes`` independent xorshift32 generators seeded from master ``seed``."""

    lanes: int = 1
    seed: int = 1

    def __post_init__(self):
        _positive_int("lanes", self.lanes)
        require(isinstance(self.seed, int) and self.seed >= 0,
                f"seed must be a non-negative integer, got {self.seed!r}")
