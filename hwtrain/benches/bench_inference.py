"""cocotb bench: an InferenceCore's RTL against its golden twin, class and logits of every sample."""

from __future__ import annotations

import cocotb
import numpy as np

from hwtrain.core import bits
from hwtrain.golden.inference import InferenceCore
from hwtrain.inference.config import InferenceConfig
from streams import bench_params, random_bits, reset, stream_through, write_summary


def decode(cfg: InferenceConfig, word: int) -> tuple[int, list[int]]:
    cw = (cfg.classes - 1).bit_length()
    cls = word & ((1 << cw) - 1)
    if not cfg.logits_out:
        return cls, []
    lw = cfg.sizes[-1].bit_length() + 1
    raw = [(word >> (cw + c * lw)) & ((1 << lw) - 1) for c in range(cfg.classes)]
    return cls, [v - (1 << lw) if v >> (lw - 1) else v for v in raw]


@cocotb.test()
async def bit_exact(dut):
    p = bench_params()
    cfg = InferenceConfig.from_dict(p["config"])
    golden = InferenceCore(cfg, cfg.load_model())
    if p.get("inputs_file"):
        x = np.load(p["inputs_file"]) > 0
    else:
        x = random_bits(cfg.sizes[0], p["samples"], p["seed"])
    want_cls, want_logits = golden(x)
    payloads = bits.to_int(bits.pack(x), cfg.sizes[0])
    await reset(dut)

    outs, stalled_cycles, _ = await stream_through(
        dut, payloads, p_in_stall=p["p_in_stall"], p_out_stall=p["p_out_stall"], seed=p["seed"],
        max_cycles=(len(payloads) + 10) * (cfg.cycles_per_sample + cfg.latency) * 20)
    n_free = min(len(payloads), 32)
    free_outs, free_cycles, first_out = await stream_through(
        dut, payloads[:n_free], max_cycles=(n_free + 10) * (cfg.cycles_per_sample + cfg.latency))

    mismatches = []
    got_cls = []
    for s, word in enumerate(outs + free_outs):
        src = s if s < len(outs) else s - len(outs)
        cls, logits = decode(cfg, word)
        if s < len(outs):
            got_cls.append(cls)
        if cls != want_cls[src] or (cfg.logits_out and logits != want_logits[src].tolist()):
            mismatches.append({"sample": src, "class": cls, "want_class": int(want_cls[src]),
                               "logits": logits, "want_logits": want_logits[src].tolist()})
    expected_free = cfg.latency + (n_free - 1) * cfg.cycles_per_sample + 1
    summary = {
        "design": "InferenceCore", "config": cfg.to_dict(),
        "samples": len(outs) + len(free_outs), "mismatches": len(mismatches),
        "first_mismatches": mismatches[:3],
        "latency_cycles": first_out, "expected_latency_cycles": cfg.latency,
        "cycles_unstalled": free_cycles, "samples_unstalled": n_free,
        "expected_cycles_unstalled": expected_free,
        "cycles_per_sample": cfg.cycles_per_sample, "cycles_stalled": stalled_cycles,
    }
    if p.get("labels_file"):
        y = np.load(p["labels_file"])
        summary["rtl_accuracy"] = float(np.mean(np.array(got_cls) == y))
        summary["golden_accuracy"] = float(np.mean(want_cls == y))
    write_summary(p, summary)
    assert not mismatches, f"{len(mismatches)} samples differ from the golden model: {mismatches[:2]}"
    assert first_out == cfg.latency, f"latency {first_out} cycles, formula says {cfg.latency}"
    assert free_cycles == expected_free, \
        f"{n_free} samples took {free_cycles} cycles, formula says {expected_free}"
