"""Board build flow and command line without a board: refusals with numbers, design
files, baud rates; one real iCEBreaker bitstream of a tiny design (fast)."""

import json
from pathlib import Path

import pytest

from hwtrain.boards.build import BOARDS, BoardBuild, _utilisation_from_log, check_report, divisor_for
from hwtrain.boards.design import config_from_design
from hwtrain.errors import HwtrainError

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "boards" / "designs" / "tiny.json"


def result():
    return BoardBuild(board="icebreaker", device="iCE40UP5K-SG48", design="d", clock_mhz=12, baud=115200)


def test_refuses_a_design_that_misses_the_board_clock_with_the_numbers():
    report = {"fmax": {"clk": {"achieved": 9.87, "constraint": 12.0}},
              "utilization": {"ICESTORM_LC": {"used": 100, "available": 5280}}}
    with pytest.raises(HwtrainError, match=r"misses the 12 MHz clock of icebreaker: Fmax 9\.9 MHz"):
        check_report(result(), report, BOARDS["icebreaker"])


def test_refuses_a_design_that_does_not_fit_with_the_numbers():
    report = {"fmax": {"clk": {"achieved": 50.0, "constraint": 12.0}},
              "utilization": {"ICESTORM_LC": {"used": 6001, "available": 5280},
                              "ICESTORM_RAM": {"used": 2, "available": 30}}}
    with pytest.raises(HwtrainError, match=r"does not fit .* ICESTORM_LC 6001/5280$"):
        check_report(result(), report, BOARDS["icebreaker"])


def test_accepts_a_design_that_fits_and_meets_timing():
    r = result()
    check_report(r, {"fmax": {"clk": {"achieved": 34.2, "constraint": 12.0}},
                     "utilization": {"ICESTORM_LC": {"used": 1641, "available": 5280}}},
                 BOARDS["icebreaker"])
    assert r.fmax_mhz == 34.2 and r.utilization["ICESTORM_LC"]["used"] == 1641


def test_reads_utilisation_from_a_nextpnr_log():
    log = "Info: \t         ICESTORM_LC:    6641/   5280   125%\nInfo: \t        ICESTORM_RAM:       1/     30     3%\n"
    assert _utilisation_from_log(log) == {"ICESTORM_LC": {"used": 6641, "available": 5280},
                                          "ICESTORM_RAM": {"used": 1, "available": 30}}


def test_baud_rates():
    assert divisor_for(BOARDS["icebreaker"], 115200) == 104
    assert divisor_for(BOARDS["ulx3s"], 115200) == 217
    with pytest.raises(HwtrainError, match="too fast"):
        divisor_for(BOARDS["icebreaker"], 4_000_000)
    with pytest.raises(HwtrainError, match=r"% off"):
        divisor_for(BOARDS["icebreaker"], 2_500_000)


def test_design_files(tmp_path):
    cfg = config_from_design(str(TINY), impl="folded:2x4")
    assert cfg.sizes == (16, 8) and cfg.impl == ("folded:2x4",)
    with pytest.raises(HwtrainError, match="does not exist"):
        config_from_design(str(tmp_path / "nope.npz"))
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(HwtrainError, match="not valid JSON"):
        config_from_design(str(bad))


def test_board_cli_without_pyserial_port_fails_in_one_line(capsys):
    from hwtrain.commands import board as cli_board
    import argparse
    parser = argparse.ArgumentParser()
    cli_board.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["board", "info", "--port", "/dev/hwtrain-no-such-port"])
    with pytest.raises(HwtrainError, match="cannot open /dev/hwtrain-no-such-port|needs pyserial"):
        cli_board.run(args)


def test_icebreaker_bitstream_of_a_tiny_design(tmp_path):
    """About 25 s of CPU (yosys + nextpnr-ice40) once YoWASP's cache is warm."""
    import argparse

    from hwtrain.commands import build as cli_build
    parser = argparse.ArgumentParser()
    cli_build.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["build", "--board", "icebreaker", "--design", "inference", "--config", str(TINY),
                              "--out", str(tmp_path)])       # the registry design, as `hwtrain designs` lists it
    assert cli_build.run(args) == 0
    bitstream = tmp_path / "top.bin"
    assert bitstream.stat().st_size > 100_000          # a UP5K image is 104,090 bytes
    report = json.loads((tmp_path / "report_hwtrain.json").read_text())
    assert report["fmax_mhz"] >= 12 and 0 < report["utilization"]["ICESTORM_LC"]["used"] <= 5280
    assert report["spec"]["input_bits"] == 16 and report["spec"]["divisor"] == 104
    from hwtrain.flows.designs import config_for, design
    cfg = config_for("inference", json.loads(TINY.read_text()))
    assert report["design"] == design("inference").top_name(cfg)         # one module name, the registry's


def test_build_takes_the_registry_designs_that_have_a_board_top(capsys):
    from hwtrain.boards.build import board_designs
    from hwtrain.cli import main
    assert board_designs() == ["inference", "trainer_cpr", "trainer_bep", "trainer_cpr_folded", "trainer_bep_folded"]
    assert main(["build", "--board", "ulx3s", "--design", "logic", "--config", "{}"]) == 2
    assert ("design logic has no board top level; hwtrain build takes inference, trainer_cpr, trainer_bep, "
            "trainer_cpr_folded, trainer_bep_folded") in capsys.readouterr().err
    assert main(["designs"]) == 0
    rows = {line.split()[0]: line.split()[-1] for line in capsys.readouterr().out.splitlines()[1:] if line.strip()}
    assert rows["inference"] == rows["trainer_bep"] == "icebreaker,ulx3s" and rows["logic"] == rows["ep"] == "-"
