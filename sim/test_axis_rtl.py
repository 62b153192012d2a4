"""`generate --ports axis`: a hand-written Verilog top instantiates the core by its AXI4-Stream
names only (s_axis_t*, m_axis_t*, aclk, aresetn) and the words it answers, packed from the
golden model through the manifest's payload layout, come out bit-exact under random
back-pressure, with AXI's rules kept and the manifest's latency measured."""

from hwtrain.core import bits
from hwtrain.flows.designs import config_for, generate
from hwtrain.flows.simulate import run_bench
from hwtrain.golden.inference import InferenceCore
from hwtrain.benches.streams import random_bits

# A user's top: its own port names, the core reached only through the manifest's names.
USER_TOP = """
module user_top(clk, rst_n, din, din_valid, din_ready, dout, dout_valid, dout_ready);
  input clk, rst_n;
  input [{iw}:0] din;   input din_valid;   output din_ready;
  output [{ow}:0] dout; output dout_valid; input dout_ready;
  {core} u_core (
    .aclk(clk), .aresetn(rst_n),
    .s_axis_tdata(din), .s_axis_tvalid(din_valid), .s_axis_tready(din_ready),
    .m_axis_tdata(dout), .m_axis_tvalid(dout_valid), .m_axis_tready(dout_ready));
endmodule
"""


def _pack(fields: list[dict], values: dict) -> int:
    """A TDATA word from field values, at the offsets the manifest gives."""
    word = 0
    for f in fields:
        v = values[f["name"]]
        if "array" in f:
            stride = f["array"]["stride"]
            for i, e in enumerate(v):
                word |= (int(e) & ((1 << stride) - 1)) << (f["offset"] + i * stride)
        else:
            word |= (int(v) & ((1 << f["width"]) - 1)) << f["offset"]
    return word


def test_axis_core_from_hand_written_top(tmp_path):
    cfg = config_for("inference", {"sizes": (24, 12), "classes": 3, "impl": ("folded:4x8",),
                                   "logits_out": True, "seed": 3})
    path, info = generate("inference", cfg, tmp_path / "rtl", ports="axis")
    ports = {s["name"]: s for s in info["ports"]["signals"]}
    assert set(ports) == {"aclk", "aresetn", "s_axis_tdata", "s_axis_tvalid", "s_axis_tready",
                          "m_axis_tdata", "m_axis_tvalid", "m_axis_tready"}
    assert ports["aresetn"]["active"] == "low" and ports["s_axis_tdata"]["width"] % 8 == 0
    assert info["ports"]["latency_cycles"] == cfg.latency
    assert info["ports"]["cycles_per_sample"] == cfg.cycles_per_sample > 1

    x = random_bits(24, 40, seed=9)
    cls, logits = InferenceCore(cfg, cfg.load_model())(x)
    layout = ports["m_axis_tdata"]["payload"]
    assert [f["name"] for f in layout] == ["cls", "logits"]
    expected = [_pack(layout, {"cls": c, "logits": lg}) for c, lg in zip(cls, logits)]
    inputs = [int(v) for v in bits.to_int(bits.pack(x), 24)]

    top = tmp_path / "user_top.v"
    top.write_text(USER_TOP.format(iw=ports["s_axis_tdata"]["width"] - 1,
                                   ow=ports["m_axis_tdata"]["width"] - 1, core=info["top"])
                   + path.read_text())
    names = dict(clk="clk", resetn="rst_n", s_data="din", s_valid="din_valid", s_ready="din_ready",
                 m_data="dout", m_valid="dout_valid", m_ready="dout_ready")
    s = run_bench(top, "user_top", "bench_axis",
                  {"names": names, "inputs": inputs, "expected": expected, "seed": 4,
                   "latency": info["ports"]["latency_cycles"],
                   "cycles_per_sample": info["ports"]["cycles_per_sample"],
                   "p_in_stall": 0.3, "p_out_stall": 0.3}, work_dir=tmp_path / "sim")
    assert s["failed"] == 0 and s["mismatches"] == 0, s
    assert s["samples"] == 2 * len(inputs) and not s["rule_violations"]
    assert s["latency_cycles"] == cfg.latency and s["m_axis_tvalid_in_reset"] == 0
