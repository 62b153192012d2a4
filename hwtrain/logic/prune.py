"""Output-preserving simplification of a layered Boolean network.

Steps, in one pass over the gates in id order (inputs before consumers):

1. every node is reduced to a *literal*: a constant 0/1, or (node, negated);
2. a gate's inputs are replaced by their literals: negations are absorbed into
   the gate's truth table, constants are substituted, and a gate that reads the
   same node twice becomes a function of one variable;
3. the resulting function is classified: constant -> constant literal (shared,
   no gate), depends on one input -> identity/negation literal of that input
   (no gate; consumers rewire), depends on both -> a gate (same layer as before);
4. structurally identical gates (same function, same inputs; commutative
   functions with inputs in either order) are merged;
5. outputs that resolve to a negation get one NOT gate (in the layer after its
   source), outputs that resolve to a constant share one constant gate (layer 0);
6. gates that do not reach an output are removed and ids renumbered.

Every step rewrites a node into a function of earlier nodes that equals it for
every input, so outputs are preserved exactly (tests check this on random and
exhaustive inputs, and formally with yosys).

Netlists with LUT layers (version 2) get step 6 only (:func:`prune_dead`): nodes
that do not reach an output are removed, an input a LUT's table ignores is
renamed node 0 (so its source can go), and ids are renumbered; tables are kept.
"""

from __future__ import annotations

import numpy as np

from .netlist import Layer, LutLayer, Netlist, TRUTH, op_from_truth

# A literal is an int: -1 const 0, -2 const 1, else 2*node + neg.
CONST0, CONST1 = -1, -2
_COMMUTATIVE = {op for op in range(16) if all(
    ((TRUTH[op] >> (2 * a + b)) & 1) == ((TRUTH[op] >> (2 * b + a)) & 1) for a in (0, 1) for b in (0, 1))}


def _truth_with(t: int, fa, fb) -> int:
    """Truth table over (x, y) of f(fa(x, y), fb(x, y)), with f given by truth table ``t``."""
    r = 0
    for x in (0, 1):
        for y in (0, 1):
            r |= ((t >> (2 * fa(x, y) + fb(x, y))) & 1) << (2 * x + y)
    return r


def _classify(t: int):
    """('const', v) | ('x', neg) | ('y', neg) | ('xy', t) for a truth table over (x, y)."""
    if t == 0:
        return ("const", 0)
    if t == 15:
        return ("const", 1)
    vals = [(t >> i) & 1 for i in range(4)]       # index 2x+y
    dep_x = vals[0] != vals[2] or vals[1] != vals[3]
    dep_y = vals[0] != vals[1] or vals[2] != vals[3]
    if dep_x and not dep_y:
        return ("x", vals[0] == 1)                 # f(0, .) = 1 -> negation
    if dep_y and not dep_x:
        return ("y", vals[0] == 1)
    return ("xy", t)


def _resolve_gate(op: int, la: int, lb: int):
    """Simplify gate ``op`` on literals ``la``, ``lb``.

    Returns ('lit', literal) when the gate vanishes, or ('gate', op', na, nb)
    for a real two-input gate on nodes na, nb.
    """
    t = TRUTH[op]
    # Constants first: substitute and express over the remaining literal(s).
    if la < 0 or lb < 0:
        if la < 0 and lb < 0:
            return ("lit", CONST1 if (t >> (2 * (la == CONST1) + (lb == CONST1))) & 1 else CONST0)
        if la < 0:
            ca = int(la == CONST1)
            t1 = _truth_with(t, lambda x, y: ca, lambda x, y: y)
            return _finish(t1, None, lb)
        cb = int(lb == CONST1)
        t1 = _truth_with(t, lambda x, y: x, lambda x, y: cb)
        return _finish(t1, la, None)
    na, nega = la >> 1, la & 1
    nb, negb = lb >> 1, lb & 1
    if na == nb:
        t1 = _truth_with(t, lambda x, y: x ^ nega, lambda x, y: x ^ negb)
        return _finish(t1, la & ~1, None)
    t1 = _truth_with(t, lambda x, y: x ^ nega, lambda x, y: y ^ negb)
    return _finish(t1, la & ~1, lb & ~1)


def _finish(t: int, lx, ly):
    kind, v = _classify(t)
    if kind == "const":
        return ("lit", CONST1 if v else CONST0)
    if kind == "x":
        return ("lit", lx ^ int(v))
    if kind == "y":
        return ("lit", ly ^ int(v))
    return ("gate", op_from_truth(v), lx >> 1, ly >> 1)


def prune_dead(netlist: Netlist) -> Netlist:
    """Remove the nodes no output depends on (any mix of gate and LUT layers)."""
    nl = netlist
    starts = nl.layer_starts()
    reads = [(layer.reads().copy(), layer.depends()) for layer in nl.layers]     # (ids, used), (n, k) each
    live = np.zeros(nl.nodes, dtype=bool)
    live[nl.outputs] = True
    for l in range(nl.depth - 1, -1, -1):
        ids, used = reads[l]
        ids[~used] = 0                              # ignored inputs name node 0 (as constants do)
        here = live[starts[l]:starts[l + 1]]
        live[ids[here][used[here]]] = True
    live[:nl.inputs] = True                         # input ids never change
    new_id = np.cumsum(live) - 1
    layers = []
    for l, layer in enumerate(nl.layers):
        keep = live[starts[l]:starts[l + 1]]
        if not keep.any():
            continue
        ids = new_id[reads[l][0][keep]]
        if isinstance(layer, LutLayer):
            layers.append(LutLayer(layer.table[keep], ids))
        else:
            layers.append(Layer(layer.op[keep], ids[:, 0], ids[:, 1]))
    meta = dict(nl.meta)
    meta["pruned_from_gates"] = nl.gates
    return Netlist(nl.inputs, layers, new_id[nl.outputs], nl.decoder, nl.encoder, meta)


def prune(netlist: Netlist, *, merge: bool = True) -> Netlist:
    """Return an equivalent, smaller netlist (see module docstring)."""
    nl = netlist
    if nl.has_luts:
        return prune_dead(nl)
    n_in = nl.inputs
    lit = np.empty(nl.nodes, dtype=np.int64)
    lit[:n_in] = 2 * np.arange(n_in)
    # New gates: lists of (layer, op, a_old_space_node, b_old_space_node); node ids
    # of new gates are recorded as "new id" in a separate space, mapped later.
    new_op, new_a, new_b, new_layer = [], [], [], []
    # Literal space for new gates: node index = n_in + position in new_* lists.
    seen: dict[tuple[int, int, int], int] = {}
    starts = nl.layer_starts()
    for l, layer in enumerate(nl.layers):
        ops, aa, bb = layer.op.tolist(), layer.a.tolist(), layer.b.tolist()
        base = starts[l]
        for g in range(len(ops)):
            res = _resolve_gate(ops[g], int(lit[aa[g]]), int(lit[bb[g]]))
            if res[0] == "lit":
                lit[base + g] = res[1]
                continue
            _, op, na, nb = res
            if op in _COMMUTATIVE and nb < na:
                na, nb = nb, na
            key = (op, na, nb)
            if merge and key in seen:
                lit[base + g] = 2 * seen[key]
                continue
            node = n_in + len(new_op)
            new_op.append(op), new_a.append(na), new_b.append(nb), new_layer.append(l)
            seen[key] = node
            lit[base + g] = 2 * node
    # Outputs: plain node, or a NOT gate in the layer after its source / a
    # constant gate in layer 0.
    out_nodes = []
    fix: dict[int, int] = {}
    for o in nl.outputs.tolist():
        v = int(lit[o])
        if v >= 0 and not v & 1:
            out_nodes.append(v >> 1)
            continue
        if v not in fix:
            src = 0 if v < 0 else v >> 1
            op = 0 if v == CONST0 else 15 if v == CONST1 else 12
            fix[v] = n_in + len(new_op)
            where = 0 if v < 0 else (0 if src < n_in else new_layer[src - n_in] + 1)
            new_op.append(op), new_a.append(src), new_b.append(src), new_layer.append(where)
        out_nodes.append(fix[v])
    # Dead logic: walk back from the outputs.
    n_new = n_in + len(new_op)
    op_arr = np.array(new_op, dtype=np.int64)
    a_arr = np.array(new_a, dtype=np.int64)
    b_arr = np.array(new_b, dtype=np.int64)
    live = np.zeros(n_new, dtype=bool)
    live[out_nodes] = True
    unary = {0, 15}
    for i in range(len(new_op) - 1, -1, -1):
        if live[n_in + i] and op_arr[i] not in unary:
            live[a_arr[i]] = True
            live[b_arr[i]] = True
    # Renumber layer by layer, keeping id order within a layer.
    layer_arr = np.array(new_layer, dtype=np.int64)
    keep = np.flatnonzero(live[n_in:])
    order = keep[np.argsort(layer_arr[keep], kind="stable")]
    new_id = np.full(n_new, -1, dtype=np.int64)
    new_id[:n_in] = np.arange(n_in)
    new_id[n_in + order] = n_in + np.arange(len(order))
    layers = []
    for l in range(int(layer_arr.max()) + 1 if layer_arr.size else 0):
        sel = order[layer_arr[order] == l]
        if sel.size == 0:
            continue
        ops = op_arr[sel]
        a = new_id[a_arr[sel]]
        b = new_id[b_arr[sel]]
        const = (ops == 0) | (ops == 15)
        a[const] = 0
        b[const] = 0
        layers.append(Layer(ops.astype(np.uint8), a, b))
    outputs = new_id[np.array(out_nodes, dtype=np.int64)]
    meta = dict(nl.meta)
    meta["pruned_from_gates"] = nl.gates
    return Netlist(n_in, layers, outputs, nl.decoder, nl.encoder, meta)
