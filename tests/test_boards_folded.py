"""The folded trainer on a board: the ECP5 PLL's divider search, the WORDS link in front of
FoldedTrainer through a UART in Verilator (cocotb), and the build flow's refusals."""

import dataclasses
import json

import pytest

from hwtrain.boards.pll import ecp5_pll
from hwtrain.errors import HwtrainError
from hwtrain.golden.trainer_folded import FoldedTrainConfig

# 20 inputs in words of 6 (one word holds 2), 7 neurons in groups of 3 (one left), 5-bit weights,
# reinforcement every 2 steps.
CFG = FoldedTrainConfig(algorithm="cpr", inputs=20, hidden=(7,), classes=4, hidden_bits=5, gamma=(7,),
                        r=0.25, p_r=0.5, batch=1, reinforce_every=2, pe=(3,), simd=(6,), seed=3)
DIVISOR, TIMEOUT = 4, 2000


def test_pll_parameters_are_ecppll_s():
    """The dividers Project Trellis' ecppll picks (25 MHz in): f_out = 25 x CLKFB_DIV / CLKI_DIV,
    VCO = f_out x CLKOP_DIV in 400..800 MHz, nearest 600 MHz on ties."""
    p = ecp5_pll(25_000_000, 100e6)
    assert (p.clki_div, p.clkfb_div, p.clkop_div, p.clkop_cphase) == (1, 4, 6, 2) and p.clkout_hz == 100_000_000
    p = ecp5_pll(25_000_000, 50e6)
    assert (p.clki_div, p.clkfb_div, p.clkop_div, p.clkop_cphase) == (1, 2, 12, 5)
    p = ecp5_pll(25_000_000, 80e6)
    assert p.clkout_hz == 80_000_000 and 400e6 <= p.vco_hz <= 800e6 and 25 / p.clki_div >= 3.125
    p = ecp5_pll(25_000_000, 133e6)                     # 25 / 3 x 16 = 133.33 MHz: 0.25 % off, accepted
    assert p.clkout_hz == 133_333_333


def test_pll_refuses_what_it_cannot_make_with_the_numbers():
    with pytest.raises(HwtrainError, match=r"cannot make 101 MHz from 25 MHz within 0\.5 %: nearest "
                                           r"100\.0000 MHz \(0\.99 % off"):
        ecp5_pll(25_000_000, 101e6)
    with pytest.raises(HwtrainError, match=r"makes 10-400 MHz; 500 MHz was asked for"):
        ecp5_pll(25_000_000, 500e6)


def test_build_clock_options_are_checked_before_any_work(capsys):
    from hwtrain.cli import main
    config = '{"algorithm":"cpr","inputs":64,"hidden":[32],"classes":10,"batch":1,"pe":[8],"simd":[16]}'
    assert main(["build", "--board", "ulx3s", "--design", "trainer_cpr_folded", "--config", config,
                 "--clock-mhz", "101"]) == 2
    assert "cannot make 101 MHz from 25 MHz within 0.5 %" in capsys.readouterr().err
    assert main(["build", "--board", "icebreaker", "--design", "trainer_cpr_folded", "--config", config,
                 "--clock-mhz", "48"]) == 2
    assert "icebreaker runs at its 12 MHz clock (hwtrain puts a PLL on ECP5 boards only)" in capsys.readouterr().err
    from hwtrain.boards.build import BOARDS, board_clock, build_board, divisor_for
    with pytest.raises(HwtrainError, match="unknown nextpnr router 'router3'; expected router1 or router2"):
        build_board("ulx3s", FoldedTrainConfig.from_dict(json.loads(config)), router="router3")
    assert board_clock(BOARDS["ulx3s"], None) == (25_000_000, None)
    hz, pll = board_clock(BOARDS["ulx3s"], 100)
    assert hz == 100_000_000 and pll.clkfb_div == 4 and divisor_for(BOARDS["ulx3s"], 115200, hz) == 868


def test_check_report_holds_the_pll_clock():
    from hwtrain.boards.build import BOARDS, BoardBuild, check_report
    r = BoardBuild(board="ulx3s", device="LFE5U-85F", design="d", clock_mhz=100, baud=115200, pll="EHXPLLL")
    report = {"fmax": {"$glbnet$clk": {"achieved": 87.3, "constraint": 100.0}},
              "utilization": {"TRELLIS_COMB": {"used": 100, "available": 83640}}}
    with pytest.raises(HwtrainError, match=r"misses the 100 MHz PLL clock of ulx3s: Fmax 87\.3 MHz.*"
                                           r"the PLL makes 85\.71 MHz below that Fmax: --clock-mhz 85\.71\)$"):
        check_report(r, report, BOARDS["ulx3s"])
    report["fmax"]["$glbnet$clk"]["constraint"] = 25.0    # a constraint nextpnr did not carry through the PLL
    with pytest.raises(HwtrainError, match=r"misses the 100 MHz PLL clock"):
        check_report(r, report, BOARDS["ulx3s"])
    report["fmax"]["$glbnet$clk"]["achieved"] = 104.5
    check_report(r, report, BOARDS["ulx3s"])
    assert r.fmax_mhz == 104.5


def test_words_spec_and_golden_model():
    """BoardModel with the golden word engine: the request's R words, padded when short."""
    from hwtrain.boards.design import FoldedWordsGolden, folded_spec
    from hwtrain.protocol import board as P
    from hwtrain.protocol.trainer_folded import OP_READ_REG, OP_WRITE_REG, REG_EVERY, REG_SAMPLES, header
    spec = folded_spec(CFG, clock_hz=100_000_000, divisor=DIVISOR, timeout_clocks=TIMEOUT)
    assert P.BoardSpec.from_info(spec.info_bytes()).command == P.WORDS
    model = P.BoardModel(spec, FoldedWordsGolden(CFG))
    reply = model.feed(P.encode_frame(P.WORDS, spec.encode_words(3, [header(OP_READ_REG, 0, REG_EVERY)])))
    assert reply == P.encode_frame(P.WORDS | P.REPLY, bytes([2, 0, 0, 0]) + bytes(8))
    assert model.counters["timeouts"] == 1 and model.counters["samples"] == 2
    with pytest.raises(HwtrainError, match="does not model writing 5 to register 0x40"):
        model.feed(P.encode_frame(P.WORDS, spec.encode_words(1, [header(OP_WRITE_REG, 0, REG_EVERY), 5, 0])))
    with pytest.raises(HwtrainError, match="at most 16383 words"):
        spec.encode_words(16384, [header(OP_READ_REG, 0, REG_SAMPLES)])


@pytest.fixture(scope="module")
def folded_board(tmp_path_factory):
    from hwtrain.boards.design import folded_link
    from hwtrain.flows.emit import to_verilog
    from hwtrain.flows.simulate import run_bench
    link, spec = folded_link(CFG, clock_hz=100_000_000, divisor=DIVISOR, timeout_clocks=TIMEOUT)
    path = tmp_path_factory.mktemp("board_folded") / "board_folded.v"
    path.write_text(to_verilog(link, "board_folded"))

    def run(golden_cfg=None, **params):
        extra = {"golden_config": golden_cfg.to_dict()} if golden_cfg else {}
        return run_bench(path, "board_folded", "bench_board_folded",
                         {"config": CFG.to_dict(), "divisor": DIVISOR, "timeout_clocks": TIMEOUT,
                          "max_payload": spec.max_payload, "seed": 1, **params, **extra})
    return run


def test_folded_trainer_trains_over_the_host_link(folded_board):
    """Two epochs of 12 samples through the UART (WORDS frames): predictions, every hidden weight,
    the counters and every byte the board sent equal the golden models'."""
    s = folded_board(samples=12, epochs=2)
    assert s["failed"] == 0 and s["mismatches"] == 0, s
    assert s["samples"] == 24 and s["trainer_counters"]["samples"] == 24 and s["trainer_counters"]["updates"] > 0
    assert s["stream_matches_model"] and s["info_matches"]
    assert s["board_counters"]["frame_errors"] == 5 and s["board_counters"]["timeouts"] == 1


def test_folded_board_bench_catches_a_golden_model_that_differs(folded_board):
    """Negative control: the golden twin is told another reinforcement probability."""
    s = folded_board(golden_cfg=dataclasses.replace(CFG, p_r=0.95), samples=12, epochs=1)
    assert s["failed"] == 1 and s["mismatches"] > 0


class ModelTransport:
    """A board made of the golden protocol model: what ``hwtrain board`` talks to in this test."""

    def __init__(self, model):
        self.model, self.baud, self.latency, self.pending = model, 115200.0, 0.0, bytearray()

    async def write(self, data):
        self.pending += self.model.feed(data)

    async def read(self, n, timeout):
        data, self.pending = bytes(self.pending[:n]), self.pending[n:]
        return data

    async def discard_input(self):
        self.pending.clear()


def test_board_train_drives_a_folded_trainer_beside_the_golden_model(tmp_path, monkeypatch, capsys):
    """`hwtrain board train --design <folded config>`: the folded host driver over WORDS frames,
    against a board simulated by BoardModel + the golden word engine (the RTL: the bench above)."""
    import json

    from hwtrain.boards import host as board_host
    from hwtrain.boards.design import FoldedWordsGolden, config_from_design, folded_spec
    from hwtrain.cli import main
    from hwtrain.protocol import board as P
    path = tmp_path / "folded.json"
    path.write_text(json.dumps({"algorithm": "cpr", "inputs": 64, "hidden": [12], "classes": 10, "batch": 1,
                                "hidden_bits": 5, "gamma": [6], "pe": [3], "simd": [16], "reinforce_every": 3}))
    cfg = config_from_design(str(path))
    assert type(cfg).__name__ == "FoldedTrainConfig"
    spec = folded_spec(cfg, clock_hz=100_000_000, divisor=868)
    boards = []

    def fake_open(port, baud=115200, golden_cfg=cfg):
        boards.append(board_host.Board(ModelTransport(P.BoardModel(spec, FoldedWordsGolden(golden_cfg)))))
        return boards[-1]
    monkeypatch.setattr(board_host, "open_board", fake_open)
    assert main(["board", "train", "--port", "sim", "--design", str(path), "--dataset", "digits",
                 "--limit", "40", "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "predictions equal to the golden trainer: 40/40" in out and "hidden weights equal to the golden trainer: yes" in out
    # negative control: a board whose engine trains with another reinforcement probability
    monkeypatch.setattr(board_host, "open_board",
                        lambda port, baud=115200: fake_open(port, baud, dataclasses.replace(cfg, p_r=0.95)))
    assert main(["board", "train", "--port", "sim", "--design", str(path), "--dataset", "digits",
                 "--limit", "40", "--epochs", "2"]) == 1
    assert "hidden weights equal to the golden trainer: NO" in capsys.readouterr().out


def test_host_link_bound_for_784_input_samples():
    """docs/host_protocol.md's numbers: 113 + 9 bytes per TRAIN of a 784-input sample."""
    from hwtrain.boards.design import folded_link_bound, folded_payload
    cfg = FoldedTrainConfig(algorithm="cpr", inputs=784, hidden=(135, 135), classes=10, batch=1,
                            reinforce_every=100, pe=(5, 5), simd=(112, 27))
    b = folded_link_bound(cfg, 115200)
    assert (b["request_bytes"], b["reply_bytes"], b["bytes_per_sample"]) == (113, 9, 122)
    assert round(b["samples_per_s"], 1) == 94.4 and round(folded_link_bound(cfg, 3_000_000)["samples_per_s"]) == 2459
    b = folded_link_bound(cfg, 3_000_000, samples_per_frame=9)
    assert b["request_bytes"] == 945 <= folded_payload(cfg) == 1024 and round(b["samples_per_s"]) == 2738


def test_ulx3s_top_level_puts_the_design_in_the_pll_clock():
    """The build plan (no tools run): an EHXPLLL with ecppll's dividers drives the design, the UART
    divisor is the PLL clock's, and the board clock is constrained for nextpnr to derive from."""
    from hwtrain.boards.build import BOARDS, board_clock, divisor_for
    from hwtrain.boards.design import folded_link
    from hwtrain.boards.top import BoardTop
    b = BOARDS["ulx3s"]
    hz, pll = board_clock(b, 62.5)
    link, spec = folded_link(CFG, clock_hz=hz, divisor=divisor_for(b, 115200, hz))
    assert spec.clock_hz == 62_500_000 and spec.divisor == 543
    plan = b.make_platform().build(BoardTop(link, pll), name="top", do_build=False)
    il, lpf = plan.files["top.il"], plan.files["top.lpf"]
    assert "EHXPLLL" in il and "SGSR" in il
    for name, value in (("CLKI_DIV", 2), ("CLKFB_DIV", 5), ("CLKOP_DIV", 10), ("CLKOP_CPHASE", 4)):
        assert f"parameter \\{name} {value}\n" in il, name
    assert 'FREQUENCY PORT "clk25_0__io" 25000000' in lpf
