"""``hwtrain ep train`` and ``hwtrain generate ep``: the engine with its manifest; bad input in one line."""

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


def test_engine_is_generated_through_the_registry(tmp_path):
    """`hwtrain generate ep` (the registry) emits the engine with its manifest."""
    from hwtrain.cli import main
    assert main(["generate", "ep", "--config", TINY, "--out", str(tmp_path)]) == 0
    (v,) = tmp_path.glob("*.v")
    assert v.name.startswith("ep_d5_h3_c2x1") and "probe" not in v.name
    assert f"module {v.stem}" in v.read_text()
    info = json.loads(v.with_suffix(".json").read_text())
    assert info["config"]["hidden"] == 3 and info["design"] == "ep"


@pytest.mark.parametrize("argv,msg", [
    (("train", "--config", '{"hiden": 3}'), "unknown EpConfig keys \\['hiden'\\]"),
    (("train", "--config", "{oops"), "not valid JSON"),
    (("train", "--config", TINY), "digits need inputs=64 and classes=10"),
    (("train", "--config", "@/nonexistent/ep.json"), "cannot read configuration"),
])
def test_bad_input_is_one_line_error(argv, msg):
    a = _args(*argv)
    with pytest.raises(HwtrainError, match=msg):
        a.func(a)
