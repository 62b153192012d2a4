"""Emitted Verilog of LogicNetwork vs the golden evaluator (cocotb + Verilator).

A small network is trained on digits (sklearn), pruned, emitted with the
thermometer encoder and a register after every layer, and the whole digits test
split (360 images) streams through with random stalls on both sides; every
predicted class and every GroupSum count is compared with the golden model.
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


def emit_and_run(tmp_path, nl, x, *, register_every, raw=True, counts_out=True, labels=None,
                 golden_nl=None, p_stall=0.3, seed=1):
    dut = LogicNetwork(nl, raw=raw, register_every=register_every, counts_out=counts_out)
    top = f"logic_r{register_every}"
    text = to_verilog(dut, top)
    path = write_rtl(tmp_path / "rtl", top, text, manifest("LogicNetwork", top, nl.summary(), text))
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
    s = emit_and_run(tmp_path, nl, x, register_every=1, labels=d.y_test)
    assert s["failed"] == 0 and s["mismatches"] == 0, s
    assert s["samples"] == len(x) + 64
    assert s["latency_cycles"] == 1 + nl.depth
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
    s = emit_and_run(tmp_path, nl, x, register_every=1, golden_nl=other, p_stall=0.0)
    assert s["failed"] == 1 and s["mismatches"] > 0
