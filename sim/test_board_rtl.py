"""The board top level (UART + protocol engine + inference core) in Verilator, driven by
the host driver through a cocotb UART model: bit-exact results, malformed frames,
resynchronisation; the board's whole byte stream equals the golden protocol model's."""

import pytest

from hwtrain.boards.design import inference_link
from hwtrain.flows.emit import to_verilog
from hwtrain.flows.simulate import run_bench
from hwtrain.inference import InferenceConfig

DIVISOR, TIMEOUT, MAX_PAYLOAD = 4, 400, 24


@pytest.mark.parametrize("cfg", [
    InferenceConfig(sizes=(16, 8), classes=4, impl=("serial:1",), logits_out=True, seed=2),
    InferenceConfig(sizes=(20, 12, 6), classes=3, impl=("folded:3x5", "parallel"), seed=7),
], ids=["serial-logits", "two-layer-class-only"])
def test_host_to_board_bit_exact(tmp_path, cfg):
    link, spec, _ = inference_link(cfg, clock_hz=100_000_000, divisor=DIVISOR,
                                   timeout_clocks=TIMEOUT, max_payload=MAX_PAYLOAD)
    path = tmp_path / "board_link.v"
    path.write_text(to_verilog(link, "board_link"))
    s = run_bench(path, "board_link", "bench_board",
                  {"config": cfg.to_dict(), "divisor": DIVISOR, "timeout_clocks": TIMEOUT,
                   "max_payload": MAX_PAYLOAD, "samples": 30, "seed": 3})
    assert s["failed"] == 0, s
    assert s["mismatches"] == 0 and s["samples"] == 35
    assert s["stream_matches_model"] and s["info_matches"]
    assert s["counters"]["samples"] == 35 and s["counters"]["crc_errors"] == 1
    # the truncated frame, and the stray SYNC in the garbage that starts a frame never finished
    assert s["counters"]["timeouts"] == 2 and s["counters"]["dropped_bytes"] == 4


def test_trainer_trains_over_the_host_link(tmp_path):
    """One epoch of on-chip CP+R training (40 digits samples) driven through the UART."""
    from hwtrain.boards.design import trainer_link
    from hwtrain.golden.train.config import TrainConfig
    cfg = TrainConfig(algorithm="cpr", inputs=64, hidden=(16,), classes=10, hidden_bits=6, gamma=(8,),
                      r=0.25, p_r=0.5, batch=1, seed=2)
    link, spec = trainer_link(cfg, clock_hz=100_000_000, divisor=DIVISOR, timeout_clocks=4000,
                              max_payload=128)
    path = tmp_path / "board_trainer.v"
    path.write_text(to_verilog(link, "board_trainer"))
    s = run_bench(path, "board_trainer", "bench_board",
                  {"engine": "trainer", "config": cfg.to_dict(), "divisor": DIVISOR,
                   "timeout_clocks": 4000, "max_payload": 128, "samples": 40})
    assert s["failed"] == 0 and s["mismatches"] == 0, s
    assert s["trainer_counters"]["samples"] == 40 and s["trainer_counters"]["updates"] > 0
    assert s["board_counters"]["crc_errors"] == 0 and s["board_counters"]["frame_errors"] == 1
