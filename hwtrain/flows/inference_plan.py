"""Automatic folding of an inference core: per hidden layer the implementation that reaches a
target rate on a device at the least estimated logic, or the fastest core that fits.

``plan(sizes, classes, device, rate=..., clock_mhz=...)``:

* **cycles** are exact: ``InferenceConfig.layer_cycles`` (the formulas the benches check clock
  for clock); a core takes one sample every ``max_l layer_cycles`` clocks, so a rate R at clock f
  allows each layer ``floor(f / R)`` clocks, and the layers are chosen independently;
* **resources** are an **estimate**: a linear model of per-layer structural counts
  (``features``) fitted by non-negative least squares to place-and-route runs of real cores
  (``benchmarks/inference_plan_calibration.py`` rewrites ``MODEL`` below from the sweep JSONs
  in benchmarks/results and records each run's leave-one-out error in ``MODEL["error"]``);
  block RAMs of the ``bram`` stores are counted from the memory shapes;
* **the clock** is an assumption (``clock_mhz``): what nextpnr reaches depends on the placement.
  The timing model is two rules from measured runs: PEs of at most ``MAX_SIMD`` inputs (the
  widest measured at >= 100 MHz), and
  folded layers get a popcount register every 3 compressor levels and, when wide, the issue
  copies (``:c8``), as the 784-128-128-128 MNIST core that routed at 102.67 MHz
  (docs/inference.md, "Session 20"); measure the chosen core with ``hwtrain sweep`` (the plan
  prints the command).

Candidates per layer: ``parallel:2`` (one clock, weights in the logic) and ``folded:PExSIMD``
for every PE dividing N and SIMD dividing K (``serial`` is ``folded`` with PE = N in cycles and is
left to the sweep). The weight store is the configuration's (one for the whole core): ``rom`` for
the fast ECP5 cores, ``bram`` when the weights do not fit in logic.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import HwtrainError, require
from ..inference.config import InferenceConfig
from ..hdl.fanout import BLOCK_MODES
from .trainer_plan import Device, _dot, device  # noqa: F401  (the ECP5 devices, shared with the trainer plan)

# A folded layer this wide (XNORs per clock) takes the issue copies: 1,024 lanes (8 x 128) without
# them routed at 83.49 MHz, the fold counter 8.2 ns from its ROM LUTs; 16 x 64 with them was not
# late in the 102.67 MHz core (docs/inference.md, "Automatic folding").
WIDE_LANES = 1024
LEVELS_PER_STAGE = 3
# The timing model's other half: a PE counts at most this many inputs per clock, the widest PE
# measured at >= 100 MHz. On the 784-128-128-128 MNIST core at 17 clocks per sample
# (docs/inference.md, "Automatic folding"): PEs of 98 and 64 inputs routed at 102.67 MHz, PEs of
# 784 inputs (8 x 784, the same XNORs per clock) at 68.99 MHz (a PE's ROM/XNOR LUTs and first
# compressor levels spread over too much of the die before its first register), and the two
# picks with 128-input PEs at 83.49 and 72.62 MHz.
MAX_SIMD = 98
COPY_GROUP = 8

# --- the resource model --------------------------------------------------------------
# BEGIN MODEL (rewritten by benchmarks/inference_plan_calibration.py; do not edit by hand)
MODEL = {'lut4': {'rom_luts': 1.248,
          'lanes': 2.3163,
          'const_bits': 1.0938,
          'acc_bits': 1.9065,
          'io_bits': 1.2746,
          'layer': 8.2397},
 'ff': {'const_bits': 0.1668,
        'acc_bits': 0.6661,
        'io_bits': 1.5039,
        'reg_bits': 0.9912,
        'pipe_bits': 0.1888,
        'copy_bits': 3.8381,
        'layer': 139.4714},
 'error': {'in_sample_max': {'lut4': 0.268, 'ff': 0.2871},
           'leave_one_out_max': {'lut4': 0.3201, 'ff': 0.3868},
           'points': 19}}
# END MODEL

FEATURES = ("rom_luts", "lanes", "const_bits", "acc_bits", "io_bits", "reg_bits", "pipe_bits", "copy_bits",
            "layer")
FEATURE_DOC = {
    "rom_luts": "ROM store: PE*SIMD*ceil(words/16), a LUT4 per weight bit per 16 words",
    "lanes": "folded layers: PE*SIMD, the XNORs and popcount inputs per clock",
    "const_bits": "parallel layers and the classifier: N*K weights folded into the logic",
    "acc_bits": "folded layers: PE*bitlen(K), the accumulators",
    "io_bits": "folded layers: K + 2N (the rotating input register, result and output registers; "
               "bram: + PE*SIMD, the read register); parallel: N*P pipeline bits",
    "reg_bits": "register store: N*K weight bits in a rotating chain",
    "pipe_bits": "folded layers: PE*SIMD*P, popcount register stages times the lanes they cut",
    "copy_bits": "issue copies: PE*bitlen(words) + 2*SIMD*ceil(PE/G)",
    "layer": "1 per layer and the classifier: control, output register, register slice",
}
FIT = {"lut4": ("rom_luts", "lanes", "const_bits", "acc_bits", "io_bits", "layer"),
       "ff": ("const_bits", "acc_bits", "io_bits", "reg_bits", "pipe_bits", "copy_bits", "layer")}


def layer_features(cfg: InferenceConfig, l: int) -> dict:
    li, k, n = cfg.layer_impls[l], cfg.sizes[l], cfg.sizes[l + 1]
    f = dict.fromkeys(FEATURES, 0)
    f["layer"] = 1
    if li.kind == "parallel":
        f["const_bits"] = n * k
        f["io_bits"] = n * li.pipeline
        return f
    pe = li.pe if li.kind == "folded" else n
    lanes, words = pe * li.simd, cfg.compute_cycles(l)
    store = cfg.store_for(l)
    f["lanes"] = lanes
    f["acc_bits"] = pe * k.bit_length()
    f["pipe_bits"] = lanes * li.pipeline
    f["io_bits"] = k + 2 * n + (lanes if store.startswith("bram") else 0)
    if store == "rom":
        f["rom_luts"] = lanes * -(-words // 16)
    elif store == "registers":
        f["reg_bits"] = n * k
    if li.copies:
        f["copy_bits"] = pe * max(words - 1, 1).bit_length() + 2 * li.simd * -(-pe // li.copies)
    return f


def features(cfg: InferenceConfig) -> dict:
    tot = dict.fromkeys(FEATURES, 0)
    for l in range(cfg.layers):
        for key, v in layer_features(cfg, l).items():
            tot[key] += v
    tot["const_bits"] += cfg.sizes[-1] * cfg.classes            # the classifier
    tot["layer"] += 1
    return tot


def block_rams(cfg: InferenceConfig) -> int:
    """DP16KD of the ``bram`` stores: PE*SIMD bits wide, one word per compute cycle."""
    total = 0
    for l, li in enumerate(cfg.layer_impls):
        if li.kind == "parallel" or not cfg.store_for(l).startswith("bram"):
            continue
        pe = li.pe if li.kind == "folded" else cfg.sizes[l + 1]
        width, depth = pe * li.simd, cfg.compute_cycles(l)
        words, bits = BLOCK_MODES[0]                      # a DP16KD at its widest
        total += -(-width // bits) * -(-depth // words)
    return total


def _model() -> dict:
    if MODEL is None:
        raise HwtrainError("the folding plan's resource model is not fitted yet: run "
                           "benchmarks/inference_plan_calibration.py")
    return MODEL


def estimate(cfg: InferenceConfig, model: dict | None = None) -> dict:
    """Estimated LUT4 and FF (fitted), DP16KD (counted) of the core."""
    model = model or _model()
    f = features(cfg)
    return {"lut4": round(_dot(model["lut4"], f)), "ff": round(_dot(model["ff"], f)),
            "ebr": block_rams(cfg)}


# --- fitting (benchmarks/inference_plan_calibration.py) ------------------------------
def fit(points: list[tuple[InferenceConfig, dict]]) -> tuple[dict, dict]:
    """Fit MODEL to ``points`` = [(cfg, measured row with lut4, ff[, name])]: non-negative least
    squares on relative error. Returns (model, report with each point's in-sample and
    leave-one-out error)."""
    from .trainer_plan import _nnls_rel
    feats = [features(c) for c, _ in points]

    def fit_on(idx):
        return {key: _nnls_rel([feats[i] for i in idx], [points[i][1][key] for i in idx], keys,
                               [0.0] * len(idx))
                for key, keys in FIT.items()}

    def rel(model, i):
        pred = estimate(points[i][0], model)
        return {k: round(pred[k] / points[i][1][k] - 1, 4) for k in FIT}

    idx = list(range(len(points)))
    model = fit_on(idx)
    names = [row.get("name", str(i)) for i, (_, row) in enumerate(points)]
    in_sample = {names[i]: rel(model, i) for i in idx}
    loo = {names[i]: rel(fit_on([j for j in idx if j != i]), i) for i in idx}
    worst = lambda t: {k: max(abs(v[k]) for v in t.values()) for k in FIT}   # noqa: E731
    model = {k: {kk: round(vv, 4) for kk, vv in v.items()} for k, v in model.items()}
    model["error"] = {"in_sample_max": worst(in_sample), "leave_one_out_max": worst(loo),
                      "points": len(points)}
    return model, {"in_sample": in_sample, "leave_one_out": loo, **model["error"]}


# --- search --------------------------------------------------------------------------
def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def layer_candidates(k: int, n: int, store: str, max_simd: int = MAX_SIMD) -> list[str]:
    """Implementation strings of one K -> N layer: parallel and every PE x SIMD folding, each
    folding with popcount registers every ``LEVELS_PER_STAGE`` compressor levels (the timing
    model: the 102.67 MHz core's layer 0 cuts its 12 levels into 4 stages) and, when wide, the
    issue copies; foldings whose registers do not fit in their compute cycles, and PEs of more than
    ``max_simd`` inputs, are left out."""
    from ..config import popcount_levels
    out = ["parallel:2"]
    for pe in _divisors(n):
        for simd in _divisors(k):
            if simd > max_simd:
                break
            cycles = (n // pe) * (k // simd)
            stages = max(1, -(-popcount_levels("compressor", simd) // LEVELS_PER_STAGE) - 1)
            copies = pe * simd >= WIDE_LANES and store == "rom" and pe >= COPY_GROUP
            if stages + 2 * copies > cycles:
                continue
            out.append(f"folded:{pe}x{simd}" + (f":p{stages}" if stages != 1 else "")
                       + (f":c{COPY_GROUP}" if copies else ""))
    return out


@dataclass(frozen=True)
class Plan:
    config: InferenceConfig
    estimate: dict
    device: Device
    clock_mhz: float

    @property
    def samples_per_s(self) -> float:
        return self.clock_mhz * 1e6 / self.config.cycles_per_sample

    @property
    def latency_ns(self) -> float:
        return self.config.latency * 1e3 / self.clock_mhz

    def fits(self, headroom: float = 0.0) -> bool:
        e, d = self.estimate, self.device
        return (e["lut4"] <= d.comb * (1 - headroom) and e["ff"] <= d.ff * (1 - headroom)
                and e["ebr"] <= d.dp16kd)


def _layer_options(base: InferenceConfig, l: int, model: dict, max_simd: int,
                   dev: Device) -> list[tuple[int, tuple, str]]:
    """(clocks, (estimated LUT4, FF), implementation) of every buildable candidate of layer ``l``
    that alone fits ``dev``."""
    out = []
    for impl in layer_candidates(base.sizes[l], base.sizes[l + 1], base.store, max_simd):
        impls = list(base.impl)
        impls[l] = impl
        try:
            cfg = InferenceConfig(base.sizes, base.classes, impl=tuple(impls), store=base.store,
                                  classifier_pipeline=base.classifier_pipeline,
                                  argmax_pipeline=base.argmax_pipeline)
        except HwtrainError:
            continue
        f = layer_features(cfg, l)
        cost = (_dot(model["lut4"], f), _dot(model["ff"], f))
        if cost[0] <= dev.comb and cost[1] <= dev.ff:
            out.append((cfg.layer_cycles(l), cost, impl))
    return out


def plan(sizes, classes: int, dev: Device, *, rate: float | None = None, clock_mhz: float = 100.0,
         store: str = "rom", headroom: float = 0.1, classifier_pipeline: int = 3,
         argmax_pipeline: str = "round", max_simd: int = MAX_SIMD) -> Plan:
    """The folding that reaches ``rate`` samples/s at ``clock_mhz`` with the least estimated
    logic, or (``rate`` None) the one with the fewest clocks per sample that fits ``dev`` with
    ``headroom`` (estimated LUT4 and FF under (1 - headroom) of the device)."""
    sizes = tuple(int(s) for s in sizes)
    require(len(sizes) >= 2, f"sizes need an input width and at least one hidden layer, got {list(sizes)}")
    require(clock_mhz > 0, f"clock must be > 0 MHz, got {clock_mhz}")
    require(rate is None or rate > 0, f"rate must be > 0 samples/s, got {rate}")
    model = _model()
    L = len(sizes) - 1
    base = InferenceConfig(sizes, classes, impl=("parallel:2",) * L, store=store,
                           classifier_pipeline=classifier_pipeline, argmax_pipeline=argmax_pipeline)

    require(max_simd >= 1, f"max_simd must be >= 1, got {max_simd}")
    options = [_layer_options(base, l, model, max_simd, dev) for l in range(L)]

    def at(budget: int) -> Plan | None:
        """The cheapest implementation of every layer within ``budget`` clocks (least estimated
        LUT4, then FF): the layers do not constrain each other."""
        impls = []
        for opts in options:
            fitting = [o for o in opts if o[0] <= budget]
            if not fitting:
                return None
            impls.append(min(fitting, key=lambda o: o[1])[2])
        cfg = InferenceConfig(sizes, classes, impl=tuple(impls), store=store,
                              classifier_pipeline=classifier_pipeline, argmax_pipeline=argmax_pipeline)
        return Plan(cfg, estimate(cfg, model), dev, clock_mhz)

    if rate is not None:
        budget = int(clock_mhz * 1e6 // rate)
        require(budget >= 1, f"{rate:,.0f} samples/s at {clock_mhz} MHz is more than one sample per clock")
        p = at(budget)
        require(p is not None, f"no folding of {'-'.join(map(str, sizes))} reaches {budget} clocks per sample "
                               f"({rate:,.0f} samples/s at {clock_mhz} MHz) within the {dev.name}")
        return p
    # fastest that fits: try the achievable clock counts from the fewest up
    budgets = sorted({o[0] for opts in options for o in opts})
    for budget in budgets:
        p = at(budget)
        if p is not None and p.fits(headroom):
            return p
    raise HwtrainError(f"no folding of {'-'.join(map(str, sizes))} fits the {dev.name} with "
                       f"{headroom:.0%} headroom (estimated)")
