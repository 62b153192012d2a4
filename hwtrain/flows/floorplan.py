"""Floorplans: cells locked on the die in the mapped netlist, before nextpnr places the rest.

``image_floorplan`` is for a learned Boolean network with local connections
(docs/logic.md, "Local connections") registered after every LUT layer
(``register_every="lut4"``, ``register_encoder=True``): each node reads nodes of
the previous layer near its own position on the image, so the net is a stack of
images. Left to itself, nextpnr's HeAP placer (out of context there is no pin to
anchor it) folds that stack: on the 5 x 5,500 MNIST net the later layers' inputs
travelled 13-16 tiles on average against 9-10 for the first ones, and the
encoder bits 21. The floorplan lays the image over the whole die instead and puts
every node where its inputs are, all layers of one place side by side:

* each encoder bit sits at its pixel (the bit's feature, row-major over ``shape``);
* each node's position is the mean of its inputs' positions, layer by layer
  (found through the mapped netlist: a node is a flip-flop whose input is a LUT4
  reading other nodes' flip-flops);
* the positions are made legal row by row: the nodes are split over the die's
  logic rows in order of their row position, then over each row's slots in order
  of their column position, each at the free slot nearest to where it wants to be.

A node takes one LUT and its flip-flop (``SLICEx.K0``/``FF0`` or ``K1``/``FF1``)
in slices A and C of every tile whose column is not a multiple of 4. Slices B
and D and every fourth column stay free for what the placer still places: the
GroupSum head, the encoder's input registers, the FIFO's LUT RAM (which needs
slices A-C of one tile). A net with more nodes than those 31,280 slots leaves
every 8th column free instead (36,720 slots), or every 16th (39,440). Locked
cells carry nextpnr's ``BEL`` attribute.

Only the ECP5 LFE5U-85F's grid is known here: logic tiles at columns 2-124 and
rows 2-93 except the block-RAM rows (row % 12 == 10).
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from ..errors import HwtrainError, require
from ..logic.netlist import Netlist

#: LFE5U-85F logic-tile grid (nextpnr's X/Y): columns and rows that hold slices.
ECP5_85F_COLUMNS = tuple(range(2, 125))
ECP5_85F_ROWS = tuple(y for y in range(2, 94) if y % 12 != 10)

_SLICES = ("A", "C")          # slices a node may take (two nodes each)
_FREE_EVERY = (4, 8, 16)      # every 4th column is left to the placer (8th, 16th for larger nets)


def square_image(nl: Netlist) -> tuple[int, int]:
    """The square image a net's inputs are (28 x 28 MNIST, 8 x 8 digits), thermometer levels aside."""
    levels = nl.encoder.levels if nl.encoder is not None else 1
    side = math.isqrt(nl.inputs // levels)
    require(side * side * levels == nl.inputs, f"floorplan image: the netlist's {nl.inputs} input bits are not "
                                               f"a square image times {levels} thermometer level(s)")
    return side, side


def encoder_pixels(nl: Netlist, shape: tuple[int, int]) -> np.ndarray:
    """(row, column) of each bit of the net's encoder register, in its order: the input bits
    some node or output reads (as :class:`hwtrain.hdl.logic.LogicNetwork` registers them),
    input bit ``f * levels + t`` on feature ``f``, features row-major over ``shape``."""
    levels = nl.encoder.levels if nl.encoder is not None else 1
    h, w = shape
    require(h * w * levels == nl.inputs,
            f"floorplan: a {h} x {w} image with {levels} thermometer level(s) is {h * w * levels} input "
            f"bits, the netlist has {nl.inputs}")
    bits = np.flatnonzero(nl.last_use()[:nl.inputs] >= 0)
    return np.stack(np.divmod(bits // levels, w), axis=1)


def node_positions(nl: Netlist, shape: tuple[int, int]) -> np.ndarray:
    """(row, column) of every node of ``nl`` on its ``shape`` image, as the floorplan places them:
    an input bit at its feature's pixel (row-major), a gate or LUT node at the mean of the nodes
    its function depends on (a constant node at the image's centre)."""
    levels = nl.encoder.levels if nl.encoder is not None else 1
    h, w = shape
    require(h * w * levels == nl.inputs, f"node positions: a {h} x {w} image with {levels} thermometer "
                                         f"level(s) is {h * w * levels} input bits, the netlist has {nl.inputs}")
    pos = np.empty((nl.nodes, 2))
    pos[:nl.inputs] = np.stack(np.divmod(np.arange(nl.inputs) // levels, w), axis=1)
    for layer, start in zip(nl.layers, nl.layer_starts()):
        dep = layer.depends()
        n = dep.sum(axis=1)
        p = (pos[layer.reads()] * dep[..., None]).sum(axis=1) / np.maximum(n, 1)[:, None]
        p[n == 0] = ((h - 1) / 2, (w - 1) / 2)
        pos[start:start + len(layer)] = p
    return pos


def _morton(rows: np.ndarray, cols: np.ndarray, bits: int) -> np.ndarray:
    key = np.zeros(len(rows), dtype=np.int64)
    for b in range(bits):
        key |= ((rows >> b) & 1) << (2 * b + 1) | ((cols >> b) & 1) << (2 * b)
    return key


def morton_outputs(nl: Netlist, shape: tuple[int, int] | None = None) -> Netlist:
    """``nl`` with each class's output bits in Morton (Z) order of their nodes' image positions
    (:func:`node_positions`). The GroupSum counts, and so every prediction, are unchanged (a
    popcount does not depend on the order of its bits); the head's adder tree joins consecutive
    bits first, so in this order its lower levels join nodes that the floorplan puts near one
    another instead of along a whole image row. ``shape``: default :func:`square_image`."""
    shape = square_image(nl) if shape is None else shape
    pos = node_positions(nl, shape)[nl.outputs]
    grid = np.clip(np.round(pos * 16), 0, (1 << 12) - 1).astype(np.int64)    # 1/16 pixel, images to 256 px
    key = _morton(grid[:, 0], grid[:, 1], 12)
    c, g = nl.classes, nl.group_size
    order = np.argsort(key[:c * g].reshape(c, g), axis=1, kind="stable") + (np.arange(c) * g)[:, None]
    outputs = np.concatenate([nl.outputs[order.ravel()], nl.outputs[c * g:]])
    return Netlist(nl.inputs, nl.layers, outputs, nl.decoder, encoder=nl.encoder,
                   meta={**nl.meta, "head_order": "morton"})


def net_floorplan(nl: Netlist):
    """:func:`image_floorplan` of a logic net whose inputs are a square image (:func:`square_image`)."""
    shape = square_image(nl)
    return image_floorplan(encoder_pixels(nl, shape), shape)


def image_floorplan(pixels: np.ndarray, shape: tuple[int, int], *, core: str | None = None):
    """A floorplan for :func:`hwtrain.flows.synth.synthesize`: locks the nodes of a registered
    local logic net (module docstring). ``pixels``: :func:`encoder_pixels`; ``core``: the
    hierarchy prefix of the net's cells in the mapped netlist (default: found from the net's
    encoder register ``...gates.pipe_enc``, e.g. ``core.gates.`` in the out-of-context harness).
    Returns ``plan(netlist) -> dict``."""
    pixels = np.asarray(pixels)

    def plan(netlist: dict) -> dict:
        return lock_image_nodes(netlist, pixels, shape, core=core)
    return plan


def _nets(cells: dict) -> tuple[dict, Counter]:
    driver, fanout = {}, Counter()
    for name, cell in cells.items():
        for port, bits in cell["connections"].items():
            out = cell["port_directions"].get(port) == "output"
            for b in bits:
                if isinstance(b, int):
                    if out:
                        driver[b] = name
                    else:
                        fanout[b] += 1
    return driver, fanout


def lock_image_nodes(netlist: dict, pixels: np.ndarray, shape: tuple[int, int], *,
                     core: str | None = None) -> dict:
    """Set ``BEL`` on the node LUTs and flip-flops of ``netlist`` (a flat yosys JSON of ECP5
    cells, module ``top``), in place. Returns counts: nodes locked, and those left to the
    placer (flip-flops that read no other node). ``core``: as :func:`image_floorplan`."""
    mod = netlist["modules"].get("top")
    require(mod is not None, "floorplan: the netlist has no module 'top'")
    cells = mod["cells"]
    if core is None:
        found = [n[:-len("pipe_enc")] for n, v in mod["netnames"].items()
                 if n.endswith("gates.pipe_enc") and len(v["bits"]) == len(pixels)]
        core = found[0] if len(found) == 1 else "core.gates."
    enc = mod["netnames"].get(core + "pipe_enc")
    if enc is None or len(enc["bits"]) != len(pixels):
        raise HwtrainError(f"floorplan image: no encoder register {core}pipe_enc of {len(pixels)} bits in the "
                           f"mapped netlist; it needs a logic net with register_encoder and "
                           f"register_every='lut4'")
    driver, fanout = _nets(cells)
    h, w = shape
    pos = {b: (float(r), float(c)) for b, (r, c) in zip(enc["bits"], pixels.tolist())}

    # every flip-flop of the net (the valid chain aside) and what its input reads
    ffs = [n for n, c in cells.items() if c["type"] == "TRELLIS_FF" and n.startswith(core)
           and not n.startswith(core + "valid") and c["connections"]["Q"][0] not in pos]
    q_bits = {cells[f]["connections"]["Q"][0] for f in ffs} | set(pos)
    reads = {}
    for f in ffs:
        d = cells[f]["connections"]["DI"][0]
        lut = driver.get(d)
        if lut is not None and cells[lut]["type"] == "LUT4":
            src = [cells[lut]["connections"][p][0] for p in "ABCD"]
            if fanout[d] != 1:          # the LUT feeds more than its flip-flop: leave it to the placer
                lut = None
        else:
            lut, src = None, [d]
        reads[f] = (lut, [b for b in src if b in q_bits])
    # a flip-flop that reads no node holds a constant: it stays with the placer, and out of the means
    constant = {cells[f]["connections"]["Q"][0] for f in ffs if not reads[f][1]}
    reads = {f: (lut, [b for b in src if b not in constant]) for f, (lut, src) in reads.items()}

    nodes = []                          # (flip-flop, LUT or None, (row, column)), layer by layer
    todo = [f for f in ffs if reads[f][1]]
    while todo:
        left = []
        for f in todo:
            lut, src = reads[f]
            if all(b in pos for b in src):
                p = np.mean([pos[b] for b in src], axis=0)
                pos[cells[f]["connections"]["Q"][0]] = tuple(p)
                nodes.append((f, lut, p))
            else:
                left.append(f)
        if len(left) == len(todo):      # the rest reads flip-flops outside the net
            break
        todo = left

    rows = ECP5_85F_ROWS
    n = len(nodes)
    for every in _FREE_EVERY:
        cols = np.array([x for x in ECP5_85F_COLUMNS if x % every])
        per_row = len(cols) * len(_SLICES) * 2
        if n <= per_row * len(rows):
            break
    else:
        raise HwtrainError(f"floorplan image: {n} nodes do not fit the {per_row * len(rows)} node slots of "
                           f"the LFE5U-85F floorplan")
    if not n:
        return {"locked": 0, "left_to_placer": len(ffs), "free_column_every": every}
    want = np.array([p for _, _, p in nodes])
    want_row = (want[:, 0] + 0.5) / h
    want_x = cols[0] + (want[:, 1] + 0.5) * (cols[-1] - cols[0] + 1) / w
    slot_x = np.repeat(cols, len(_SLICES) * 2)
    slot_slice = np.tile(np.repeat(np.arange(len(_SLICES)), 2), len(cols))
    slot_k = np.tile([0, 1], len(cols) * len(_SLICES))
    order = np.argsort(want_row, kind="stable")
    counts = np.diff(np.round(np.linspace(0, n, len(rows) + 1)).astype(int))
    start = 0
    for y, k in zip(rows, counts.tolist()):
        idx = order[start:start + k]
        start += k
        idx = idx[np.argsort(want_x[idx], kind="stable")]
        near = np.searchsorted(slot_x, want_x[idx])
        prev = -1
        for i, ni in enumerate(idx.tolist()):
            # the nearest slot that keeps the row's order and leaves room for the nodes after it
            j = max(prev + 1, min(int(near[i]), len(slot_x) - (k - i)))
            prev = j
            f, lut, _ = nodes[ni]
            tile = f"X{slot_x[j]}/Y{y}/SLICE{_SLICES[slot_slice[j]]}"
            cells[f]["attributes"]["BEL"] = f"{tile}.FF{slot_k[j]}"
            if lut is not None:
                cells[lut]["attributes"]["BEL"] = f"{tile}.K{slot_k[j]}"
    return {"locked": n, "left_to_placer": len(ffs) - n, "free_column_every": every}
