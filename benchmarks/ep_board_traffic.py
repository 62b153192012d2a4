"""What the thesis's 784-8192-100 EP network would need on a board: memory traffic per training sample (issue 21).

On paper, from the block-RAM engine's access pattern (docs/ep.md, "Block-RAM engine"):
per sample one sweep of W1 (the hidden drives), T + K sweeps of W2 (one per time step),
and one BOP pass that reads and writes every weight and momentum. The question is what
goes to external memory when W1/M1 (6.4 M synapses) do not fit the LFE5U-85F's 3.7 Mbit
of block RAM, and what rate the ULX3S's SDRAM (one AS4C32M16SB: 32 MB, 16-bit bus) then
allows. Three schedules:

``online``      the engine as built (BOP after every sample), W1, M1 and M2 in SDRAM, W2 on chip;
``batch``       the thesis's mini-batches of ``--batch``: per sample only the drive sweep reads
                W1; the batch's gradient is formed at BOP time from the snapshots of its samples
                (inputs, free and nudged activations: ``batch x (D + 2 H + 2 O)`` bits, kept
                on chip), so BOP reads and writes W1/M1/M2 once per batch;
``batch, W1 on chip``  the bound if the weights fitted on chip (momenta only in SDRAM).

Every number is printed with the formula's inputs and written to ``--out`` with the command.

    .venv/bin/python benchmarks/ep_board_traffic.py --out benchmarks/results/ep_board_traffic.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from hwtrain.hdl.ep_bram import EpBramConfig, cycles_per_sample

# LFE5U-85F: 208 DP16KD of 18 Kbit (16 Kbit of data at x32/x36 widths counted as 18 Kbit with parity)
EBR_BITS = 208 * 18 * 1024


def traffic(D: int, H: int, O: int, T: int, K: int, mom_bits: int, batch: int) -> dict:
    """Bytes per training sample that cross the SDRAM bus, per schedule, and on-chip bits left."""
    w1, w2 = D * H, H * O                         # weight bits (= synapses)
    m1, m2 = w1 * mom_bits, w2 * mom_bits         # momentum bits
    snap = batch * (D + 2 * H + 2 * O)            # a batch's snapshots, bits
    B = 1 / 8
    online = {"drive (read W1)": w1 * B, "steps (W2 on chip)": 0.0,
              "BOP read+write W1, M1, M2": 2 * (w1 + m1 + m2) * B}
    batched = {"drive (read W1)": w1 * B, "steps (W2 on chip)": 0.0,
               "BOP read+write W1, M1, M2, per batch / batch": 2 * (w1 + m1 + m2) * B / batch}
    onchip = {"BOP read+write M1, M2, per batch / batch": 2 * (m1 + m2) * B / batch}
    return {
        "bits": {"W1": w1, "W2": w2, "M1": m1, "M2": m2, "batch_snapshots": snap, "ebr_bits": EBR_BITS},
        "on_chip_bits": {"online": w2 + H * 16, "batch": w2 + snap + H * 16, "batch, W1 on chip": w1 + w2 + snap},
        "bytes_per_sample": {"online": online, "batch": batched, "batch, W1 on chip": onchip},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=784)
    ap.add_argument("--hidden", type=int, default=8192)
    ap.add_argument("--outputs", type=int, default=100, help="output neurons (10 classes x 10 replicas)")
    ap.add_argument("--T", type=int, default=20)
    ap.add_argument("--K", type=int, default=10)
    ap.add_argument("--mom-bits", type=int, default=8, help="the engine's momentum width (8: MNIST engine)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--sdram-mhz", type=float, default=143.0, help="AS4C32M16SB-7: 143 MHz")
    ap.add_argument("--bus-bits", type=int, default=16)
    ap.add_argument("--efficiency", type=float, default=0.8,
                    help="share of SDRAM clocks that move data (refresh, row opens, turnarounds)")
    ap.add_argument("--simd", default="49,64", help="the engine's S1,S2 (W1 input bits, W2 hidden neurons per word)")
    ap.add_argument("--clock-mhz", type=float, default=100.0, help="the engine's clock (issue 21's 100 MHz)")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    try:
        s1, s2 = (int(v) for v in a.simd.split(","))
    except ValueError:
        ap.error(f"--simd takes two integers S1,S2, got {a.simd!r}")
    if min(a.inputs, a.hidden, a.outputs, a.T, a.K, a.mom_bits, a.batch, a.bus_bits) < 1 \
            or not (0 < a.efficiency <= 1) or a.sdram_mhz <= 0:
        ap.error("sizes, widths and the batch must be >= 1, 0 < efficiency <= 1, sdram-mhz > 0")
    t = traffic(a.inputs, a.hidden, a.outputs, a.T, a.K, a.mom_bits, a.batch)
    # the engine's own clocks per training sample at this folding (docs/ep.md, "Clocks per sample")
    cfg = EpBramConfig(inputs=a.inputs, hidden=a.hidden, classes=a.outputs // 10, replicas=10, free_steps=a.T,
                       nudged_steps=a.K, mom_bits=a.mom_bits, simd=s1, simd_hidden=s2)
    clocks = cycles_per_sample(cfg, train=True)
    compute = a.clock_mhz * 1e6 / clocks
    bw = a.sdram_mhz * 1e6 * a.bus_bits / 8 * a.efficiency        # bytes/s
    rows = []
    for sched, parts in t["bytes_per_sample"].items():
        total = sum(parts.values())
        on = t["on_chip_bits"][sched]
        rows.append({"schedule": sched, "bytes_per_sample": total, "parts": parts,
                     "on_chip_bits": on, "fits_on_chip": on <= EBR_BITS,
                     "memory_samples_per_s": bw / total, "samples_per_s": min(bw / total, compute),
                     "epoch_60k_s": 60_000 / min(bw / total, compute)})
    print(f"784-input EP, {a.inputs}-{a.hidden}-{a.outputs}, T {a.T} K {a.K}, {a.mom_bits}-bit momenta, "
          f"SDRAM {a.bus_bits} bits x {a.sdram_mhz:g} MHz x {a.efficiency:g} = {bw / 1e6:.0f} MB/s")
    b = t["bits"]
    print(f"W1 {b['W1'] / 8e6:.2f} MB, M1 {b['M1'] / 8e6:.2f} MB, W2 {b['W2'] / 8e6:.3f} MB, "
          f"M2 {b['M2'] / 8e6:.3f} MB; block RAM {EBR_BITS / 8e6:.2f} MB")
    print(f"the engine's compute at simd {s1}x{s2}: {clocks:,} clocks per training sample, "
          f"{compute:,.0f} samples/s at {a.clock_mhz:g} MHz")
    print("| schedule | MB per training sample | on-chip Mbit (of 3.83) | SDRAM-bound samples/s | samples/s "
          "(with the compute bound) | 60k epoch | 50 epochs |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['schedule']} | {r['bytes_per_sample'] / 1e6:.3f} | {r['on_chip_bits'] / 1e6:.2f}"
              f"{'' if r['fits_on_chip'] else ' (does not fit)'} | {r['memory_samples_per_s']:,.0f} | "
              f"{r['samples_per_s']:,.0f} | "
              f"{r['epoch_60k_s'] / 60:.1f} min | {50 * r['epoch_60k_s'] / 3600:.1f} h |")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        cmd = " ".join(shlex.quote(x) for x in [".venv/bin/python", "benchmarks/ep_board_traffic.py",
                                                 *(argv if argv is not None else sys.argv[1:])])
        a.out.write_text(json.dumps({"command": cmd, "args": {k: str(v) for k, v in vars(a).items()},
                                     "sdram_bytes_per_s": bw, "engine_clocks_per_sample": clocks,
                                     "engine_samples_per_s": compute, **t, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    from hwtrain.errors import run_main
    raise SystemExit(run_main(main, "ep_board_traffic.py"))
