"""The image floorplan (hwtrain.flows.floorplan) on a small hand-made mapped netlist."""

import re

import numpy as np
import pytest

from hwtrain.errors import HwtrainError
from hwtrain.flows.floorplan import (ECP5_85F_ROWS, encoder_pixels, image_floorplan, lock_image_nodes,
                                      morton_outputs, node_positions)
from hwtrain.flows.synth import synthesize
from hwtrain.logic.netlist import GroupSum, Layer, Netlist, Thermometer

H, W = 4, 4


def _ff(q, d):
    return {"type": "TRELLIS_FF", "attributes": {}, "port_directions": {"DI": "input", "Q": "output"},
            "connections": {"DI": [d], "Q": [q]}}


def _lut(z, ins):
    return {"type": "LUT4", "attributes": {}, "connections": {"A": [ins[0]], "B": [ins[1]], "C": [ins[2]],
            "D": [ins[3]], "Z": [z]}, "port_directions": {**{p: "input" for p in "ABCD"}, "Z": "output"}}


def _net(h=H, w=W, enc_prefix="core.encoder.", per_pixel=1, shuffle=False):
    """Two layers of h x w nodes on an h x w image, each reading the 2 x 2 block at its pixel (clipped);
    a constant node; a node whose LUT also feeds another cell; the encoder flip-flops (``enc_prefix``).
    ``per_pixel`` nodes per pixel and layer (node ``k * per_pixel + j``); ``shuffle``: cells in random order."""
    H, W = h, w
    cells, bit = {}, iter(range(100, 100_000))
    enc = [next(bit) for _ in range(H * W)]
    for k, q in enumerate(enc):
        cells[f"{enc_prefix}pipe_enc_{k}"] = _ff(q, next(bit))
    prev = enc
    for l in range(2):
        out = []
        for n in range(H * W * per_pixel):
            r, c = divmod(n // per_pixel, W)
            ins = [prev[(min(r + dr, H - 1) * W + min(c + dc, W - 1)) * (per_pixel if l else 1)]
                   for dr in (0, 1) for dc in (0, 1)]
            z, q = next(bit), next(bit)
            cells[f"lut_l{l}_{n}"] = _lut(z, ins)
            cells[f"core.gates.l{l}_{n}_TRELLIS_FF"] = _ff(q, z)
            out.append(q)
        prev = out
    cells["core.gates.const_TRELLIS_FF"] = _ff(next(bit), "0")
    cells["core.gates.valid_l0"] = _ff(next(bit), enc[0])
    cells["other_reader"] = _lut(next(bit), [cells["lut_l1_0"]["connections"]["Z"][0], "0", "0", "0"])
    if shuffle:
        names = list(cells)
        np.random.default_rng(1).shuffle(names)
        cells = {n: cells[n] for n in names}
    return {"modules": {"top": {"cells": cells, "netnames": {"core.gates.pipe_enc": {"bits": enc}}}}}


def _pixels():
    return np.stack(np.divmod(np.arange(H * W), W), axis=1)


def _bel(cell):
    m = re.fullmatch(r"X(\d+)/Y(\d+)/SLICE([A-D])\.(K|FF)([01])", cell["attributes"]["BEL"])
    assert m, cell["attributes"]["BEL"]
    return int(m[1]), int(m[2]), m[3], m[4], int(m[5])


def test_every_node_is_locked_legally_beside_its_lut():
    net = _net()
    got = lock_image_nodes(net, _pixels(), (H, W))
    cells = net["modules"]["top"]["cells"]
    assert got == {"locked": 32, "left_to_placer": 1, "free_column_every": 4}                  # the constant node
    bels = [c["attributes"]["BEL"] for c in cells.values() if "BEL" in c["attributes"]]
    assert len(bels) == 32 + 31 and len(set(bels)) == len(bels)       # lut_l1_0 also feeds other_reader
    assert "BEL" not in cells["lut_l1_0"]["attributes"] and "BEL" not in cells["other_reader"]["attributes"]
    for name in ("core.gates.const_TRELLIS_FF", "core.gates.valid_l0", "core.encoder.pipe_enc_0"):
        assert "BEL" not in cells[name]["attributes"]
    for l in range(2):
        for k in range(H * W):
            x, y, s, kind, i = _bel(cells[f"core.gates.l{l}_{k}_TRELLIS_FF"])
            assert kind == "FF" and s in "AC" and x % 4 and 2 <= x <= 124 and y in ECP5_85F_ROWS
            if (l, k) != (1, 0):
                assert _bel(cells[f"lut_l{l}_{k}"]) == (x, y, s, "K", i)   # the LUT in front, same slice
    # the image is laid over the die: left to right, top to bottom
    xy = {k: _bel(cells[f"core.gates.l0_{k}_TRELLIS_FF"])[:2] for k in range(H * W)}
    assert xy[0][0] < xy[1][0] < xy[2][0] < xy[3][0] and xy[0][1] < xy[4][1] < xy[8][1] < xy[12][1]
    assert abs(xy[5][0] - _bel(cells["core.gates.l1_5_TRELLIS_FF"])[0]) < 40


def test_a_crowded_image_gets_distinct_slots_in_order():
    """16 x 16 pixels, 2 layers of 3 nodes per pixel, cells in random order: several nodes want each
    slot; the encoder flip-flops are named like the net's."""
    h = w = 16
    net = _net(h, w, enc_prefix="core.gates.", per_pixel=3, shuffle=True)
    pixels = np.stack(np.divmod(np.arange(h * w), w), axis=1)
    assert lock_image_nodes(net, pixels, (h, w)) == {"locked": 6 * h * w, "left_to_placer": 1,
                                                   "free_column_every": 4}
    cells = net["modules"]["top"]["cells"]
    bels = [c["attributes"]["BEL"] for c in cells.values() if "BEL" in c["attributes"]]
    assert len(bels) == 12 * h * w - 1 and len(set(bels)) == len(bels)
    assert not any("BEL" in cells[f"core.gates.pipe_enc_{k}"]["attributes"] for k in range(h * w))
    # along each die row the nodes keep their image columns' order
    row = {}
    for n in range(h * w * 3):
        x, y = _bel(cells[f"core.gates.l0_{n}_TRELLIS_FF"])[:2]
        row.setdefault(y, []).append((n // 3 % w, x))
    assert all([x for _, x in sorted(v)] == sorted(x for _, x in v) for v in row.values())


def test_a_larger_net_leaves_fewer_columns_free():
    """32,768 nodes do not fit slices A and C of 3 columns in 4 (31,280 slots): every 8th column is free."""
    h = w = 64
    net = _net(h, w, enc_prefix="core.gates.", per_pixel=4)
    pixels = np.stack(np.divmod(np.arange(h * w), w), axis=1)
    got = lock_image_nodes(net, pixels, (h, w))
    assert got == {"locked": 8 * h * w, "left_to_placer": 1, "free_column_every": 8}
    cells = net["modules"]["top"]["cells"]
    xs = {_bel(c)[0] for c in cells.values() if "BEL" in c["attributes"]}
    assert any(x % 4 == 0 for x in xs) and not any(x % 8 == 0 for x in xs)
    bels = [c["attributes"]["BEL"] for c in cells.values() if "BEL" in c["attributes"]]
    assert len(set(bels)) == len(bels)
    too_big = _net(h, w, enc_prefix="core.gates.", per_pixel=5)
    with pytest.raises(HwtrainError, match="40960 nodes do not fit the 39440 node slots"):
        lock_image_nodes(too_big, pixels, (h, w))


def test_the_net_is_found_under_any_harness():
    """Behind the reset-less wrapper the net's cells are harness.core.gates.*: found from its encoder register."""
    net = _net()
    mod = net["modules"]["top"]
    mod["cells"] = {("harness." + n if n.startswith("core.") else n): c for n, c in mod["cells"].items()}
    mod["netnames"] = {"harness." + n: v for n, v in mod["netnames"].items()}
    assert lock_image_nodes(net, _pixels(), (H, W)) == {"locked": 32, "left_to_placer": 1, "free_column_every": 4}


def test_a_netlist_without_the_encoder_register_is_refused():
    net = _net()
    del net["modules"]["top"]["netnames"]["core.gates.pipe_enc"]
    with pytest.raises(HwtrainError, match="no encoder register core.gates.pipe_enc of 16 bits"):
        lock_image_nodes(net, _pixels(), (H, W))
    with pytest.raises(HwtrainError, match="no encoder register"):
        image_floorplan(_pixels()[:5], (H, W))(_net())


def test_encoder_pixels_follow_the_read_bits_and_levels():
    # 3 x 2 image, 2 levels: 12 input bits; the gates read bits 0, 3, 5, 11 (feature 0, 1, 2, 5)
    enc = Thermometer(np.tile([[3, 9]], (6, 1)), 4)
    nl = Netlist(12, [Layer(np.array([1, 1]), np.array([0, 5]), np.array([3, 11]))], [12, 13], GroupSum(2),
                 encoder=enc)
    assert encoder_pixels(nl, (3, 2)).tolist() == [[0, 0], [0, 1], [1, 0], [2, 1]]
    with pytest.raises(HwtrainError, match="a 2 x 2 image with 2 thermometer level"):
        encoder_pixels(nl, (2, 2))


def test_a_floorplan_on_ice40_is_refused_before_synthesis(tmp_path):
    with pytest.raises(HwtrainError, match="a floorplan locks cells on the ECP5"):
        synthesize(None, "x", target="ice40", work_dir=tmp_path, floorplan=lambda n: {})
    assert not any(tmp_path.iterdir())


def test_the_registry_gives_logic_nets_their_floorplan(tmp_path):
    """`hwtrain synth logic --floorplan image`: the design's floorplan maps the netlist's read input bits
    onto its square image and locks the mapped net's nodes."""
    from hwtrain.flows.designs import design
    from hwtrain.golden.logic import LogicCoreConfig
    path = tmp_path / "net.json"
    Netlist(16, [Layer(np.full(8, 6), np.arange(8), np.arange(8, 16))], np.arange(16, 24), GroupSum(2)).save(str(path))
    plan = design("logic").floorplan(LogicCoreConfig(netlist=str(path), register_every="lut4", register_encoder=True))
    assert plan(_net()) == {"locked": 32, "left_to_placer": 1, "free_column_every": 4}
    assert design("datapath").floorplan is None


def test_node_positions_are_the_means_of_what_each_node_depends_on():
    # 2 x 2 image, 2 levels (8 input bits); gate 8 reads bits 0 (pixel 0,0) and 7 (pixel 1,1); gate 9
    # is constant (op 0: depends on nothing); gate 10 = pass-through of a (op 3) reads 8 and 9
    nl = Netlist(8, [Layer(np.array([1, 0]), np.array([0, 2]), np.array([7, 3])),
                     Layer(np.array([3, 3]), np.array([8, 9]), np.array([9, 8]))], [10, 11], GroupSum(2),
                 encoder=Thermometer(np.tile([[3, 9]], (4, 1)), 4))
    pos = node_positions(nl, (2, 2))
    assert pos[:8].tolist() == [[0, 0], [0, 0], [0, 1], [0, 1], [1, 0], [1, 0], [1, 1], [1, 1]]
    assert pos[8:].tolist() == [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]
    with pytest.raises(HwtrainError, match="a 3 x 3 image with 2 thermometer level"):
        node_positions(nl, (3, 3))


def test_morton_order_permutes_each_class_and_keeps_every_count():
    """A local net on an 8 x 8 image whose outputs are in raster order, interleaved over 2 classes: each
    class keeps its own output bits, now in Z order (a 2 x 2 block of pixels before the next block), and
    the golden class counts of random images are unchanged."""
    from hwtrain.golden.logic import LogicNetwork as Golden
    rng = np.random.default_rng(5)
    n = 64
    layer = Layer(rng.integers(1, 15, n), np.arange(n), rng.permutation(n))   # node k reads pixel k and another
    out = np.concatenate([np.arange(n, 2 * n, 2), np.arange(n + 1, 2 * n, 2)])  # class c: pixels of parity c
    nl = Netlist(n, [Layer(np.full(n, 3), np.arange(n), np.arange(n)), layer], out + n, GroupSum(2))
    m = morton_outputs(nl, (8, 8))
    g = nl.group_size
    for c in range(2):
        assert sorted(m.outputs[c * g:(c + 1) * g]) == sorted(nl.outputs[c * g:(c + 1) * g])
    pos = node_positions(nl, (8, 8))[m.outputs[:g]]
    key = [(int(r * 16), int(q * 16)) for r, q in pos]
    z = [sum(((r >> b) & 1) << (2 * b + 1) | ((q >> b) & 1) << (2 * b) for b in range(12)) for r, q in key]
    assert z == sorted(z) and m.outputs[:g].tolist() != nl.outputs[:g].tolist()
    assert m.meta["head_order"] == "morton"
    x = rng.integers(0, 2, (300, n))
    a, b = Golden(nl).output_bits(x), Golden(m).output_bits(x)
    assert not np.array_equal(a, b)
    for c in range(2):
        assert np.array_equal(a[:, c * g:(c + 1) * g].sum(1), b[:, c * g:(c + 1) * g].sum(1))
