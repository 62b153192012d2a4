"""Emitted Verilog of Xorshift32 vs the golden generator over 100,000 draws per lane."""

from hwtrain.config import PrngConfig


def test_hundred_thousand_draws_bit_exact(rtl_bench):
    cfg = PrngConfig(lanes=4, seed=12345)
    s = rtl_bench("prng", cfg, "bench_prng", samples=100_000, seed=3, p_out_stall=0.2)
    assert s["failed"] == 0 and s["mismatches"] == 0, s
    assert s["samples"] == 400_000
    assert s["cycles_stalled"] > 100_000          # the consumer really stalled
