"""Configuration objects: the single place where sizes and number formats are decided.

Both the golden model and the hardware generator of a block take the same
configuration; nothing else chooses a width.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field

from .errors import HwtrainError, require

POPCOUNT_STRUCTURES = ("tree", "compressor")
# Structures of a whole neuron (popcount and threshold compare): the popcounts,
# and "split", which never forms the neuron's count (docs/popcount.md).
NEURON_STRUCTURES = POPCOUNT_STRUCTURES + ("split",)
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
        return config_from_dict(cls, d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str):
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise HwtrainError(f"{cls.__name__} is not valid JSON: {e}") from None
        return cls.from_dict(d)


def _tuples(v):
    """JSON lists (at any depth) as tuples: configurations are frozen and hashable."""
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v


def _fits(value, hint) -> bool:
    """Whether a JSON value can be a field of type ``hint``. Scalars are checked
    exactly (bool is not an int, an int is a float); ``tuple[X, ...]`` checks the
    items of a list; anything else (bare ``tuple``, strings where a tuple is
    hinted) is left to the configuration's own checks."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple and isinstance(value, tuple):
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(args) == len(value) and all(_fits(v, a) for v, a in zip(value, args))
    return origin is not tuple or isinstance(value, (tuple, str))


def _hint_name(hint) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_hint_name(a) for a in typing.get_args(hint))
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        plural = {int: "integers", float: "numbers", bool: "true/false values", str: "strings"}
        return f"a list of {plural.get(args[0], _hint_name(args[0]))}" if args else "a list"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            type(None): "null"}.get(hint, getattr(hint, "__name__", str(hint)))


def config_from_dict(cls, d):
    """``cls(**d)`` for a configuration dataclass read from JSON, explained in one line
    when it does not fit: not an object, unknown or missing keys, a value of the
    wrong type; then the configuration's own checks run."""
    name = cls.__name__
    require(isinstance(d, dict), f"a {name} must be a JSON object, got {type(d).__name__}")
    fields = dataclasses.fields(cls)
    known = {f.name for f in fields}
    unknown = sorted(set(d) - known, key=str)
    require(not unknown, f"unknown {name} keys {unknown}; expected some of {sorted(known)}")
    missing = [f.name for f in fields if f.name not in d and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    require(not missing, f"{name} needs {', '.join(missing)}")
    hints = typing.get_type_hints(cls)
    d = {k: _tuples(v) for k, v in d.items()}
    for k, v in d.items():
        text = repr(v) if len(repr(v)) <= 60 else repr(v)[:57] + "..."
        require(_fits(v, hints[k]), f"{name} field {k} must be {_hint_name(hints[k])}, got {text}")
    try:
        return cls(**d)
    except TypeError as e:
        raise HwtrainError(f"bad {name}: {e}") from None


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


def heights_after(heights: list[int], plan: list[list[tuple[int, int]]]) -> list[int]:
    """Column heights of a bit heap after the stages of ``plan``."""
    h = list(heights)
    for stage in plan:
        new = [0] * (len(h) + 1)
        for c, hc in enumerate(h):
            fas, has = stage[c] if c < len(stage) else (0, 0)
            new[c] += hc - 2 * fas - has
            new[c + 1] += fas + has
        while new and new[-1] == 0:
            new.pop()
        h = new
    return h


def join_plans(heights: list[int], late_heights: list[int]):
    """Dadda stages of a heap before and after ``late_heights`` bits join it, once
    it is down to two rows (no stages after without late bits)."""
    before = dadda_plan(heights)
    if not any(late_heights):
        return before, []
    h = heights_after(heights, before)
    h = [(h[c] if c < len(h) else 0) + (late_heights[c] if c < len(late_heights) else 0)
         for c in range(max(len(h), len(late_heights)))]
    return before, dadda_plan(h)


@dataclass(frozen=True)
class SplitLayout:
    """Shape of one neuron of the ``split`` popcount (constant weights only).

    With P = popcount(x) shared by the layer, W1/W0 the inputs of weight +1/-1
    and S the smaller of the two (W1 on a tie), a neuron's agreement count is
    ``2*A + |W0| - P`` (S = W1) or ``2*A + P - |W0|`` (S = W0), where A counts
    the agreeing inputs of S only: each neuron compresses at most K//2 bits.
    ``count >= T`` becomes ``2*A + R + c' >= 2**m`` with R = ~P or P (``wp``
    bits) and the constant ``c' = c + 2**m`` in ``[0, 2**(m+1))``, so ``fire``
    is bit ``m`` of the sum (docs/popcount.md derives the bounds).

    ``heights`` is the heap before R joins: column 0 holds c'[0], column 1 the
    ``s_max`` bits of S plus c'[1], columns 2..m one bit of c' each. Every
    neuron of a layer has this same shape (S padded with zeros, every bit of c'
    present), so they all have the same depth and pipeline.
    """

    k: int

    @property
    def s_max(self) -> int:
        return self.k // 2

    @property
    def wp(self) -> int:
        return self.k.bit_length()

    @property
    def m(self) -> int:
        # 2**m > max(2A + R + c) and 2**m >= -min(c): see the class docstring.
        return max(2 * self.s_max + 2 ** self.wp - 1, self.k // 2 + 2 ** self.wp - 1).bit_length()

    @property
    def heights(self) -> list[int]:
        return [1, self.s_max + 1] + [1] * (self.m - 1)

    def plans(self):
        """(plan before R joins, plan after it): the Dadda stages of each part."""
        return join_plans(self.heights, [1] * self.wp)

    def constant(self, weights_row, threshold: int) -> tuple[bool, list[int], int]:
        """(S is W1, indices of S, c') for one neuron; ``weights_row`` in {0, 1}."""
        require(len(weights_row) == self.k and 0 <= threshold <= self.k + 1,
                f"a split neuron over K={self.k} inputs needs {self.k} weights and a threshold "
                f"in 0..{self.k + 1}, got {len(weights_row)} weights and {threshold}")
        w1 = [i for i, b in enumerate(weights_row) if int(b)]
        w0 = [i for i, b in enumerate(weights_row) if not int(b)]
        on_w1 = len(w1) <= len(w0)
        if on_w1:
            c = 1 + len(w0) - threshold - 2 ** self.wp
        else:
            c = -len(w0) - threshold
        c_off = c + 2 ** self.m
        require(0 <= c_off < 2 ** (self.m + 1), "split popcount constant out of range")
        return on_w1, (w1 if on_w1 else w0), c_off


def popcount_levels(structure: str, k: int) -> int:
    """Logic levels of a popcount over ``k`` bits, between which pipeline
    registers may go: adder levels of a ``tree``; reduction stages plus the
    final adder of a ``compressor``; for ``split``, the stages before and after
    the shared count joins plus the final adder."""
    if structure == "compressor":
        return len(dadda_plan([k])) + 1
    if structure == "split":
        before, after = SplitLayout(k).plans()
        return len(before) + len(after) + 1
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
                    ``popcount_out`` is off) or "split" (constant weights,
                    fire bit only: each neuron compresses only the smaller of
                    its +1/-1 input sets, the rest comes from one popcount of
                    the input shared by the layer). See docs/popcount.md.
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
        require(self.popcount in NEURON_STRUCTURES,
                f"unknown popcount structure {self.popcount!r}; expected one of "
                f"{', '.join(NEURON_STRUCTURES)}")
        require(self.popcount != "split" or (self.weights == "const" and not self.popcount_out),
                f"the split popcount needs constant weights and popcount_out off (it "
                f"never forms a neuron's count), got weights={self.weights!r}, "
                f"popcount_out={self.popcount_out}")
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
