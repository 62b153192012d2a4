"""``hwtrain ep``: the subcommand emits a manifest-carrying engine and refuses bad input in one line."""

import argparse
import json

import pytest

from hwtrain.commands.ep import add_parser
from hwtrain.errors import HwtrainError

TINY = '{"inputs": 5, "hidden": 3, "classes": 2, "replicas": 1, "free_steps": 2, "nudged_steps": 1}'


def _args(*argv):
    ap = argparse.ArgumentParser()
    add_parser(ap.add_subparsers())
    return ap.parse_args(["ep", *argv])


def test_generate_writes_verilog_and_manifest(tmp_path):
    a = _args("generate", "--config", TINY, "--probe", "--out-dir", str(tmp_path))
    assert a.func(a) == 0
    (v,) = tmp_path.glob("*.v")
    assert v.name.startswith("ep_d5_h3_c2x1") and "probe" in v.name
    assert f"module {v.stem}" in v.read_text()
    info = json.loads(v.with_suffix(".json").read_text())
    assert info["config"]["hidden"] == 3


@pytest.mark.parametrize("argv,msg", [
    (("train", "--config", '{"hiden": 3}'), "unknown EpConfig keys \\['hiden'\\]"),
    (("train", "--config", "{oops"), "not valid JSON"),
    (("train", "--config", TINY), "digits need inputs=64 and classes=10"),
    (("generate", "--config", "@/nonexistent/ep.json"), "cannot read configuration"),
])
def test_bad_input_is_one_line_error(argv, msg):
    a = _args(*argv)
    with pytest.raises(HwtrainError, match=msg):
        a.func(a)
