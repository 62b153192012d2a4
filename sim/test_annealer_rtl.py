"""Emitted Verilog of the annealer vs the golden annealer: energy after every sweep and the
final spins, with a stalling consumer (Verilator through cocotb)."""

from hwtrain.flows.emit import manifest, to_verilog, write_rtl
from hwtrain.flows.simulate import run_bench
from hwtrain.golden.annealer import Annealer, AnnealerConfig, IsingProblem, Schedule
from hwtrain.hdl.annealer import Annealer as HdlAnnealer

def test_annealer_trace_and_spins_bit_exact(tmp_path):
    p = IsingProblem.random(24, 21, jmax=15)
    cfg = AnnealerConfig.make(p, Schedule.geometric(p, 12, 3, lut_depth=64), seed=77)
    top = "annealer_n24_test"
    path = write_rtl(tmp_path, top, to_verilog(HdlAnnealer(cfg), top),
                     manifest("Annealer", top, cfg.to_dict(), ""))
    s = run_bench(path, top, "bench_annealer", {"config": cfg.to_dict(), "seed": 5, "p_out_stall": 0.5})
    assert s["failed"] == 0 and s["mismatches"] == 0, s
    assert s["samples"] == 1 + 12 * 3
    _, want = Annealer(p, cfg.schedule(), cfg.seed).run()
    assert s["trace"] == want[0].tolist()
    assert len(set(s["trace"])) > 3                       # the anneal really moved
    assert s["cycles"] > s["samples"] * (2 * 24 + 1)       # the stalls really cost cycles
