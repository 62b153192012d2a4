"""Emitted Verilog of LogicNetwork vs the golden evaluator (cocotb + Verilator).

A small network is trained on digits (sklearn), pruned, emitted with the
thermometer encoder in its fast form (issue 20: registers packed for LUT4s,
encoder register, pipelined compressor popcounts and tournament, free-running
pipeline with the credit-counted output FIFO), and the whole
digits test split (360 images) streams through with random stalls on both
sides; every predicted class and every GroupSum count is compared with the
golden model, and the first output must come ``dut.latency`` cycles after the
input (the latency formula). A corner shape (odd widths, 7 classes of 3 bits,
the other tournament pipeline, the stall flow, random features) runs through the registry
(``hwtrain verify logic``). A LUT4-node net (netlist version 2) trained on digits runs the
whole test split through the fast pipeline. Each has a negative control on the same Verilator build. The earlier variants (``register_every`` 0/1/2/3,
combinational head) are covered by tests/test_logic_hdl.py (Amaranth
simulation with stalls) and the formal proof (tests/test_logic_formal.py).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from hwtrain.data import load_digits
from hwtrain.flows.emit import manifest, to_verilog, write_rtl
from hwtrain.flows.simulate import run_bench
from hwtrain.golden.logic import LogicNetwork as Golden
from hwtrain.hdl.logic import LogicNetwork
from hwtrain.logic.netlist import Thermometer
from hwtrain.logic.prune import prune
from hwtrain.logic.train import LogicTrainConfig, LogicTrainer


FAST = dict(register_every="lut4", register_encoder=True, head="pipelined", flow="credit")

#: Verilog text -> path written once: a negative control then runs on the same
#: file, which Verilator's make finds up to date (no second build).
_WRITTEN: dict[str, object] = {}


def emit_and_run(tmp_path, nl, x, *, register_every, raw=True, counts_out=True, labels=None,
                 golden_nl=None, p_stall=0.3, seed=1, top=None, **hw):
    dut = LogicNetwork(nl, raw=raw, register_every=register_every, counts_out=counts_out, **hw)
    top = top or f"logic_r{register_every}"
    text = to_verilog(dut, top)
    if text not in _WRITTEN:
        _WRITTEN[text] = write_rtl(tmp_path / "rtl", top, text, manifest("LogicNetwork", top, nl.summary(), text))
    path = _WRITTEN[text]
    net = tmp_path / "net.npz"
    (golden_nl or nl).save(net)
    np.save(tmp_path / "x.npy", x)
    return run_bench(path, top, "bench_logic", {
        "netlist": str(net), "inputs": str(tmp_path / "x.npy"), "raw": raw, "counts_out": counts_out,
        "register_every": register_every, "latency": dut.latency, "seed": seed,
        "p_in_stall": p_stall, "p_out_stall": p_stall,
        "labels": None if labels is None else [int(v) for v in labels]})


@pytest.fixture(scope="module")
def digits_net():
    d = load_digits()
    enc = Thermometer.uniform(64, 3, 5, 0, 16)
    bits = lambda x: (x.astype(np.int64)[:, :, None] > enc.thresholds[None]).reshape(len(x), -1)
    cfg = LogicTrainConfig(widths=(300, 300), tau=6.0, steps=150, batch=64, eval_every=50, patience=30)
    res = LogicTrainer(enc.bits, 10, cfg, enc).fit(bits(d.x_train), d.y_train, bits(d.x_test), d.y_test)
    return d, prune(res.netlist)


def test_whole_digits_test_split_bit_exact(tmp_path, digits_net):
    d, nl = digits_net
    x = d.x_test.astype(np.int64)
    s = emit_and_run(tmp_path, nl, x, labels=d.y_test, **FAST)
    assert s["failed"] == 0 and s["mismatches"] == 0, s
    assert s["samples"] == len(x) + 64
    dut = LogicNetwork(nl, **FAST)
    assert s["latency_cycles"] == dut.latency == 3 + len(dut.boundaries) + sum(dut.head_registers)
    acc = Golden(nl).accuracy(x, d.y_test)
    assert s["rtl_accuracy"] == pytest.approx(acc, abs=0)
    assert acc > 0.5   # a trained network, far above chance (0.1)


def test_bench_catches_a_model_that_differs(tmp_path, digits_net):
    """Negative control: the golden side gets a netlist with one output gate inverted."""
    d, nl = digits_net
    other = copy.deepcopy(nl)
    last = other.layers[-1]
    last.op[:] = 15 - last.op          # negate every gate of the last layer
    x = d.x_test[:40].astype(np.int64)
    s = emit_and_run(tmp_path, nl, x, golden_nl=other, p_stall=0.0, **FAST)   # same build
    assert s["failed"] == 1 and s["mismatches"] > 0


def test_corner_shape_through_the_registry_bit_exact_and_negative_control(tmp_path, capsys):
    """Odd widths, 7 classes of 3 bits, skip connections, the ``compare`` tournament, random
    features: ``hwtrain verify logic`` (the registry design, its bench parameters, its verdict),
    then the same Verilog against a golden model whose groups are read in another order."""
    import json

    from hwtrain.cli import main
    from hwtrain.flows.designs import design
    from hwtrain.golden.logic import LogicCoreConfig
    from hwtrain.logic.netlist import random_netlist
    enc = Thermometer(np.array([[0, 3, 9], [5, 6, 7], [1, 2, 14], [15, 15, 15], [8, 0, 4]]), 4)
    nl = prune(random_netlist(enc.bits, [27, 19, 21], 7, seed=3, skip=True, encoder=enc))
    nl.save(tmp_path / "corner.json")
    options = ["--register-every", "1", "--register-encoder", "--head", "pipelined",
               "--argmax-pipeline", "compare"]
    assert main(["verify", "logic", "--netlist", str(tmp_path / "corner.json"), *options, "--samples", "150",
                 "--out", str(tmp_path / "run"), "--json", str(tmp_path / "v.json")]) == 0
    assert "BIT-EXACT: 214 outputs compared with the golden model, 0 differ" in capsys.readouterr().out
    s = json.loads((tmp_path / "v.json").read_text())
    cfg = LogicCoreConfig(str(tmp_path / "corner.json"), register_every=1, register_encoder=True,
                          head="pipelined", argmax_pipeline="compare")
    assert s["config"] == cfg.to_dict() and s["mismatches"] == 0
    assert s["latency_cycles"] == s["expected_latency_cycles"] > 1     # measured = LogicNetwork.latency
    other = copy.deepcopy(nl)
    other.outputs = other.outputs[::-1].copy()          # same gates, groups read in another order
    other.save(tmp_path / "other.json")
    params = design("logic").bench_params(cfg, samples=150, seed=7, dataset=None, data_path=None, binarize=None,
                                          out=tmp_path / "run")
    verilog = next((tmp_path / "run").glob("logic_corner_*.v"))
    s = run_bench(verilog, verilog.stem, "bench_logic",
                  {**params, "netlist": str(tmp_path / "other.json"), "seed": 7, "p_in_stall": 0.0,
                   "p_out_stall": 0.0}, work_dir=tmp_path / "run" / "sim")        # same build
    assert s["failed"] == 1 and s["mismatches"] > 0


def test_lut4_net_digits_test_split_bit_exact_and_negative_control(tmp_path):
    """LUT4 nodes (netlist version 2) trained on digits, the whole test split through the fast
    pipeline; the control gives the golden side the net with every output table inverted."""
    d = load_digits()
    enc = Thermometer.uniform(64, 3, 5, 0, 16)
    bits = lambda x: (x.astype(np.int64)[:, :, None] > enc.thresholds[None]).reshape(len(x), -1)
    cfg = LogicTrainConfig(widths=(150, 100), tau=4.0, steps=100, batch=64, eval_every=50, lr=0.05,
                           connections="local", window=2, image_shape=(8, 8), lut=4)
    nl = prune(LogicTrainer(enc.bits, 10, cfg, enc).fit(bits(d.x_train), d.y_train, bits(d.x_test),
                                                         d.y_test).netlist)
    assert nl.has_luts
    x = d.x_test.astype(np.int64)
    s = emit_and_run(tmp_path, nl, x, labels=d.y_test, top="logic_lut4", **FAST)
    assert s["failed"] == 0 and s["mismatches"] == 0, s
    assert s["latency_cycles"] == LogicNetwork(nl, **FAST).latency
    assert s["rtl_accuracy"] == Golden(nl).accuracy(x, d.y_test) > 0.5
    other = copy.deepcopy(nl)
    other.layers[-1].table = ~other.layers[-1].table & np.uint64(0xFFFF)
    s = emit_and_run(tmp_path, nl, x[:40], golden_nl=other, p_stall=0.0, top="logic_lut4", **FAST)
    assert s["failed"] == 1 and s["mismatches"] > 0
