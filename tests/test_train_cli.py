"""`hwtrain train` entry point (cli_train.add_parser / run) end to end on a tiny run."""

import argparse
import json

import numpy as np

from hwtrain.commands import train as cli_train
from hwtrain.golden.train.model import load_model


def test_train_cli_writes_model_json_and_plot(tmp_path, capsys):
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd")
    cli_train.add_parser(sub)
    out = tmp_path / "m.npz"
    args = ap.parse_args(["train", "-a", "bep", "-d", "random_prototypes", "--hidden", "15,15", "--epochs", "2",
                          "--online", "--batch", "50", "--n-train", "600", "--n-test", "100", "-o", str(out), "--json", str(tmp_path / "h.json"),
                          "--plot", str(tmp_path / "c.png")])
    assert cli_train.run(args) == 0
    assert "epoch   2" in capsys.readouterr().out
    tr = load_model(out)
    assert tr.cfg.batch == 1 and tr.cfg.reinforce_every == 50 and tr.epoch == 2
    hist = json.loads((tmp_path / "h.json").read_text())["history"]
    assert len(hist) == 2 and 0.0 <= hist[-1]["test_acc"] <= 1.0
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert np.array_equal(tr.H[0] % 2, np.ones_like(tr.H[0]))
