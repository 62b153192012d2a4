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


def test_thesis_configuration_on_mnist_shapes_and_errors():
    """--thesis-hidden starts from the thesis's recipe; --config overrides it; a digits
    run of a 784-input net is refused in one line."""
    from hwtrain.commands.ep import _config
    cfg = _config('{"batch": 1}', 300)
    assert (cfg.inputs, cfg.hidden, cfg.outputs, cfg.batch, cfg.nudge_mode) == (784, 300, 100, 1, "state")
    with pytest.raises(HwtrainError, match="unknown EpConfig keys \\['hiden'\\]"):
        _config('{"hiden": 3}', 300)
    a = _args("train", "--thesis-hidden", "16", "--epochs", "1")
    with pytest.raises(HwtrainError, match="digits need inputs=64 and classes=10, got inputs=784"):
        a.func(a)


def test_thesis_conversion_of_table_c2():
    """Table C.2 (784-8192-100) in integers: beta 2 -> nudge 128, gamma 2e-6 -> 2**-19,
    tau 2.5e-7 / 2e-7 -> 16 / 13 events (tau beta batch / gamma), lrBias 1e-7 -> 24
    fraction bits in state units; alpha per matrix 1/(2 sqrt(fan_in)) as powers of two."""
    from hwtrain.golden.ep import thesis_config
    c = thesis_config(8192)
    assert (c.nudge, c.gamma_shift, c.tau_hidden, c.tau_output, c.bias_frac) == (128, 19, 16, 13, 24)
    assert (c.free_steps, c.nudged_steps, c.batch, c.state_init, c.beta_sign) == (20, 10, 64, 63, "random")
    assert [thesis_config(n).in_shift_output for n in (256, 512, 1024, 2048, 8192)] == [1, 1, 0, 0, -1]
    assert c.in_shift == 0 and c.leak_free
