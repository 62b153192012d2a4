"""An independent Verilog construction of a netlist, for formal equivalence checks.

It shares nothing with hwtrain.hdl.logic but the netlist and the port names: one
``assign`` per gate or LUT written from its truth table (sum of minterms), each class count as a plain ``+`` of its output bits, the argmax as a
linear scan (strict ``>``, so the lowest index wins ties), and the same stream
handshake with one output register (the ``register_every = 0`` pipeline).
"""

from __future__ import annotations

import itertools

from .netlist import LutLayer, Netlist, lut_value


def _minterms(table: int, names: list[str]) -> str:
    """A LUT's sum of minterms; a gate is the 2-input LUT whose table is its function id
    (``gate_value(op, a, b) == lut_value(op, (a, b))``)."""
    terms = []
    for bits in itertools.product((0, 1), repeat=len(names)):
        if lut_value(table, bits):
            terms.append("(" + " & ".join(("" if v else "~") + n for v, n in zip(bits, names)) + ")")
    return " | ".join(terms) if terms else "1'b0"


def reference_verilog(nl: Netlist, *, name: str = "logic_ref", raw: bool | None = None,
                      counts_out: bool = True) -> str:
    raw = nl.encoder is not None if raw is None else raw
    iw = max(1, (nl.classes - 1).bit_length())
    g = nl.group_size
    cw = max(1, g.bit_length())
    if raw:
        enc = nl.encoder
        in_w = enc.features * enc.feature_bits
    else:
        in_w = nl.inputs
    out_w = iw + (cw * nl.classes if counts_out else 0)
    lines = [f"module {name}(input wire clk, input wire rst,",
             f"  input wire [{in_w - 1}:0] i__payload, input wire i__valid, output wire i__ready,",
             f"  output reg [{out_w - 1}:0] o__payload, output reg o__valid, input wire o__ready);",
             f"  wire n [0:{nl.nodes - 1}];"]
    if raw:
        fb = enc.feature_bits
        for f in range(enc.features):
            for t in range(enc.levels):
                lines.append(f"  assign n[{f * enc.levels + t}] = i__payload[{f * fb + fb - 1}:{f * fb}] > "
                             f"{fb}'d{int(enc.thresholds[f, t])};")
    else:
        for i in range(nl.inputs):
            lines.append(f"  assign n[{i}] = i__payload[{i}];")
    node = nl.inputs
    for layer in nl.layers:
        if isinstance(layer, LutLayer):
            for t, ins in zip(layer.table.tolist(), layer.ins.tolist()):
                lines.append(f"  assign n[{node}] = {_minterms(t, [f'n[{i}]' for i in ins])};")
                node += 1
            continue
        for o, x, y in zip(layer.op.tolist(), layer.a.tolist(), layer.b.tolist()):
            lines.append(f"  assign n[{node}] = {_minterms(o, [f'n[{x}]', f'n[{y}]'])};")
            node += 1
    outs = nl.outputs.tolist()
    for c in range(nl.classes):
        terms = " + ".join(f"{cw}'d0 + n[{j}]" if i == 0 else f"n[{j}]"
                           for i, j in enumerate(outs[c * g:(c + 1) * g]))
        lines.append(f"  wire [{cw - 1}:0] cnt{c} = {terms};")
    lines.append(f"  reg [{iw - 1}:0] best; reg [{cw - 1}:0] bestc;")
    lines.append("  always @* begin")
    lines.append("    best = 0; bestc = cnt0;")
    for c in range(1, nl.classes):
        lines.append(f"    if (cnt{c} > bestc) begin best = {c}; bestc = cnt{c}; end")
    lines.append("  end")
    if counts_out:
        payload = "{" + ", ".join([f"cnt{c}" for c in reversed(range(nl.classes))] + ["best"]) + "}"
    else:
        payload = "best"
    lines += ["  assign i__ready = ~o__valid | o__ready;",
              "  initial begin o__valid = 0; o__payload = 0; end",
              "  always @(posedge clk) begin",
              "    if (rst) begin o__valid <= 0; o__payload <= 0; end",
              f"    else if (i__ready) begin o__valid <= i__valid; o__payload <= {payload}; end",
              "  end", "endmodule", ""]
    return "\n".join(lines)
