"""Bad input on every command: exit status 2 and one line on stderr that says what was
wrong; never a traceback, a silent acceptance or work that starts and is then lost.

Every case must fail before any long work (training, emission, simulation, synthesis):
the whole table runs in a few seconds.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hwtrain.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Fixture files: a valid model and netlist, and files of the wrong kind."""
    from hwtrain.golden.train import make_trainer
    from hwtrain.golden.train.config import TrainConfig
    from hwtrain.golden.train.model import save_model
    from hwtrain.logic.netlist import random_netlist

    d = tmp_path_factory.mktemp("bad_input")
    save_model(d / "model.npz", make_trainer(TrainConfig("cpr", 64, (16,), 10, batch=1)))
    random_netlist(8, [12, 10], 2, seed=1).save(str(d / "net.json"))
    np.savez(d / "empty.npz")
    (d / "random.bin").write_bytes(np.random.default_rng(1).integers(0, 256, 400, dtype=np.uint8).tobytes())
    (d / "empty.bin").write_bytes(b"")
    (d / "notjson.json").write_text("{bad")
    (d / "list.json").write_text("[1, 2]")
    (d / "cpr.json").write_text(json.dumps({"algorithm": "cpr", "inputs": 64, "hidden": [16],
                                            "classes": 10, "batch": 1}))
    (d / "adir").mkdir()
    return {"dir": d / "adir", "model": d / "model.npz", "net": d / "net.json", "empty_npz": d / "empty.npz",
            "random": d / "random.bin", "empty": d / "empty.bin", "notjson": d / "notjson.json",
            "list_json": d / "list.json", "cpr_json": d / "cpr.json", "missing": d / "missing.npz",
            "tmp": d}


# (command line with {placeholders} from `files`, text the one-line error must contain)
CASES = [
    # --- the registry verbs: generate / verify / synth / sweep -------------------------------
    ("generate datapath --inputs -1 --neurons 2", "inputs (K) must be a positive integer"),
    ("generate datapath --inputs abc --neurons 2", "invalid int value: 'abc'"),
    ("generate datapath --config '{{\"inputs\": \"abc\", \"neurons\": 2}}'", "field inputs must be an integer"),
    ("generate trainer_bep --config {cpr_json}", "trainer_bep needs algorithm='bep'"),
    ("generate trainer_cpr --config {cpr_json} --batch 4", "needs batch=1"),
    ("generate datapath --config {notjson}", "is not valid JSON"),
    ("generate datapath --config {list_json}", "must hold a JSON object"),
    ("generate datapath --config {dir}", "is a folder, expected a JSON file"),
    ("generate datapath --config {missing}", "cannot read configuration"),
    ("generate datapath --inputs 8 --neurons 2 --out {random}", "is a file, expected a folder"),
    ("generate nosuchdesign", "invalid choice: 'nosuchdesign'"),
    ("synth datapath --inputs 8 --neurons 2 --freq -5", "--freq: must be in (0.0, 2000.0], got -5"),
    ("synth datapath --inputs 8 --neurons 2 --freq 0", "--freq: must be in (0.0"),
    ("synth datapath --inputs 8 --neurons 2 --tool-timeout 0", "--tool-timeout: must be in [1.0"),
    ("sweep --sizes 16,8 --classes 4 --tool-timeout x", "--tool-timeout: "),
    ("synth datapath --inputs 8 --neurons 2 --json {dir}", "is a folder, expected a file name"),
    ("synth datapath --inputs 8 --neurons 2 --target xc7", "unknown target 'xc7'"),
    ("verify datapath --inputs 8 --neurons 2 --stall 1.5", "--stall: must be in [0.0, 1.0)"),
    ("verify datapath --inputs 8 --neurons 2 --samples 0", "--samples: must be >= 1"),
    ("verify datapath --inputs 8 --neurons 2 --dataset nonexistent", "invalid choice: 'nonexistent'"),
    ("verify datapath --inputs 8 --neurons 2 --dataset digits", "--dataset applies to designs that classify"),
    ("verify datapath --inputs 8 --neurons 2 --sim modelsim", "unknown simulator 'modelsim'"),
    ("verify inference --model {empty_npz} --dataset digits", "is not an hwtrain model file"),
    ("verify inference --model {dir} --dataset digits", "is a directory, expected an hwtrain model file"),
    ("verify inference --model {net} --dataset digits", "is not an hwtrain model file"),
    ("verify inference --model {random} --dataset digits", "is not an hwtrain model file"),
    ("verify inference --model {missing} --dataset digits", "no such file"),
    ("verify inference --model {model} --dataset italy_power --data-path {dir}", "ItalyPowerDemand"),
    ("verify inference --model {model} --dataset fashion_mnist --data-path {random}",
     "must be a directory of the FashionMNIST IDX files, got the file"),
    ("verify inference --model {model} --impl bogus:3", "unknown layer implementation 'bogus:3'"),
    ("sweep --model {model} --variant bogus:3", "unknown layer implementation 'bogus:3'"),
    ("sweep --model {model} --out {random}", "is a file, expected a folder"),
    ("sweep --model {model} --json {dir}", "is a folder, expected a file name"),
    ("qubo train --json {dir}", "is a folder, expected a file name"),
    ("ep train --json {dir}", "is a folder, expected a file name"),
    # --- hwtrain train -------------------------------------------------------------------------
    ("train --epochs -3 -d digits", "--epochs: must be >= 1, got -3"),
    ("train --epochs 0 -d digits", "--epochs: must be >= 1, got 0"),
    ("train --batch 0 -d digits", "--batch: must be >= 1"),
    ("train --hidden 0 -d digits", "--hidden: must be >= 1"),
    ("train --hidden abc -d digits", "--hidden: expected an integer, got 'abc'"),
    ("train --hidden 100000000 -d digits", "GiB, more than half of this machine's"),
    ("train --bits 1 -d digits", "--bits: must be in [2, 24]"),
    ("train --bits 99 -d digits", "--bits: must be in [2, 24]"),
    ("train --p-r 2 -d digits", "--p-r: must be in [0.0, 1.0]"),
    ("train --nu -1 -a bep -d digits", "--nu: must be in [0.0, 1.0]"),
    ("train --r -0.5 -d digits", "--r: must be >= 0.0"),
    ("train --flip 1.5", "--flip: must be in [0.0, 1.0]"),
    ("train --n-train 0", "--n-train: must be >= 1"),
    ("train --gamma 0 -d digits", "--gamma: must be >= 1"),
    ("train -d digits --gamma 7 --hidden 16", "gamma=7 does not divide layer 1 of size 16"),
    ("train -d digits -o {dir}", "is a folder, expected a file name"),
    ("train -d digits --plot {dir}", "--plot: "),
    ("train -d digits --json {random}/h.json", "is a file, not a folder"),
    ("train -d nonexistent", "invalid choice: 'nonexistent'"),
    ("train -d fashion_mnist --data-path {random}", "must be a directory of the FashionMNIST IDX files"),
    ("train -d fashion_mnist --data-path {tmp}/nope", "--data-path"),
    ("train -d italy_power --cv 1", "--cv must be 0 (the official split) or a number of folds >= 2"),
    ("train -d italy_power --cv 3 --fold 5", "--fold must be below --cv 3"),
    ("train -d italy_power --fold 2", "--fold needs --cv"),
    ("train -a bep_tt -d digits", "bep_tt needs a sequence dataset"),
    ("train -d digits --window 0", "--window: must be >= 1"),
    ("train -d digits --binarize bogus", "unknown --binarize 'bogus'"),
    ("import qonnx {random} -o {tmp}/q.npz", "as ONNX"),
    ("import qonnx {dir} -o {tmp}/q.npz", "is a folder, expected a file"),
    ("verify inference --model {model} --dataset digits --binarize thermo:0", "--binarize"),
    # --- hwtrain trainer -----------------------------------------------------------------------
    ("trainer plan --config {{bad", "inline configuration is not valid JSON"),
    ("trainer plan --config @{missing}", "cannot read configuration"),
    ("trainer plan --config @{dir}", "is a folder, expected a JSON file"),
    ("trainer plan --config '{{\"algorithm\":\"cpr\",\"inputs\":64,\"hidden\":[16],\"classes\":10,"
     "\"batch\":1,\"bogus\":1}}'", "unknown TrainConfig keys ['bogus']"),
    ("trainer rtl --config @{cpr_json} --epochs 0", "--epochs: must be >= 1, got 0"),
    ("trainer rtl --config @{cpr_json} --stall 2", "--stall: must be in [0.0, 1.0)"),
    ("trainer rtl --config @{cpr_json} --n-train 0", "--n-train: must be >= 1"),
    ("trainer rtl --config @{cpr_json} --json {dir}", "is a folder, expected a file name"),
    # --- hwtrain ep ----------------------------------------------------------------------------
    ("ep train --epochs 0", "--epochs: must be >= 1, got 0"),
    ("ep train --config '{{\"hidden\":-1}}'", "hidden"),
    ("ep train --config [1]", "must hold a JSON object, got list"),
    ("generate ep --out {random}", "is a file, expected a folder"),
    ("verify bop", "bop has no cocotb bench"),
    ("generate ep --hidden 0", "hidden must be an integer >= 1"),
    # --- hwtrain logic -------------------------------------------------------------------------
    ("logic info {dir}", "is a folder, expected a file"),
    ("logic info {random}", "netlist is not valid JSON"),
    ("logic info {empty}", "netlist is not valid JSON"),
    ("logic info {model}", "not an hwtrain netlist"),
    ("logic info {missing}", "no such file"),
    ("logic train --widths 0 -o {tmp}/n.json", "--widths: must be >= 1"),
    ("logic train --widths abc -o {tmp}/n.json", "--widths: expected an integer"),
    ("logic train --steps 0 -o {tmp}/n.json", "--steps: must be >= 1"),
    ("logic train --levels 0 -o {tmp}/n.json", "--levels: must be >= 1"),
    ("logic train --batch 0 -o {tmp}/n.json", "--batch: must be >= 1"),
    ("logic train --lr -1 -o {tmp}/n.json", "--lr: must be > 0.0"),
    ("logic train --connections local --window 0 -o {tmp}/n.json", "--window: must be >= 1"),
    ("logic train --connections local --window 4,0 -o {tmp}/n.json", "--window: must be >= 1"),
    ("logic train --connections local --widths 40,40,40 --window 4,2 -o {tmp}/n.json",
     "window: 2 radii for 3 layers"),
    ("logic train --connections nearby -o {tmp}/n.json", "invalid choice: 'nearby'"),
    ("logic train -o {dir}", "is a folder, expected a file name"),
    ("logic train -o {tmp}/n.txt", "a netlist file ends in .json or .npz"),
    ("logic train --dataset iris -o {tmp}/n.json", "invalid choice: 'iris'"),
    ("generate logic --netlist {net} --register-every -1", "register_every must be a non-negative integer"),
    ("generate logic --netlist {net} --register-every lut3", "register_every must be a non-negative integer or 'lut4'"),
    ("generate logic --netlist {net} --head bogus", "head must be one of comb, pipelined, fused, got 'bogus'"),
    ("generate logic --netlist {net} --out {random}", "is a file, expected a folder"),
    ("generate logic --netlist {missing}", "does not exist"),
    ("generate logic --netlist {model}", "not an hwtrain netlist"),
    ("generate logic", "logic needs --netlist"),
    ("verify logic --netlist {net} --register-after 5", "register_after must name gate layers 0..1"),
    ("verify logic --netlist {net} --dataset digits", "--dataset needs a netlist with a thermometer encoder"),
    ("verify logic --netlist {net} --binarize median", "--binarize applies to binary-MLP designs"),
    ("generate logic --netlist {net} --serial 2", "a serial input encodes features: the netlist needs a thermometer"),
    ("generate logic --netlist {net} --serial -1", "serial must be a number of features per beat"),
    ("verify logic --netlist {net} --serial 2 --encoded", "serial takes raw features"),
    ("synth logic --netlist {net} --serial 2 --register-encoder", "leave register_encoder off"),
    ("synth logic --netlist {net} --flow eager", "flow must be one of stall, credit"),
    ("synth logic --netlist {net} --floorplan image", "it needs register_every lut4 and register_encoder"),
    ("synth logic --netlist {net} --register-every lut4 --register-encoder --floorplan image",
     "8 input bits are not a square image"),
    ("synth logic --netlist {net} --floorplan image --target ice40", "locks cells on the ECP5 LFE5U-85F, not on ice40"),
    ("synth datapath --inputs 8 --neurons 2 --floorplan image", "design datapath has no floorplan"),
    ("synth logic --netlist {net} --floorplan grid", "invalid choice: 'grid'"),
    ("logic eval {net} --dataset iris", "invalid choice: 'iris'"),
    ("logic eval {model}", "not an hwtrain netlist"),
    ("logic prune {net} -o {dir}", "is a folder, expected a file name"),
    ("logic prove {net} --out {random}", "is a file, expected a folder"),
    ("logic import-difflogic {empty_npz} --classes 10 --inputs 8 -o {tmp}/n.json", "no layer0_a array"),
    ("logic import-difflogic {random} --classes 10 --inputs 8 -o {tmp}/n.json",
     "is not a .npz of difflogic layers"),
    ("logic import-difflogic {model} --classes 0 --inputs 8 -o {tmp}/n.json", "--classes: must be >= 2"),
    # --- hwtrain qubo --------------------------------------------------------------------------
    ("qubo build --classes 0,11 -o {tmp}/q.bqm", "classes must be distinct digits 0..9"),
    ("qubo build --classes 0,0 -o {tmp}/q.bqm", "classes must be distinct digits 0..9"),
    ("qubo build --hidden abc -o {tmp}/q.bqm", "--hidden must be comma-separated integers"),
    ("qubo build --hidden 0 -o {tmp}/q.bqm", "layer sizes must be positive"),
    ("qubo build --samples 0 -o {tmp}/q.bqm", "--samples: must be >= 1"),
    ("qubo build -o {dir}", "is a folder, expected a file name"),
    ("qubo solve {random}", "is not a dimod BQM file"),
    ("qubo solve {dir}", "is a folder, expected a file"),
    ("qubo solve {missing}", "no such file"),
    ("qubo train --sweeps 0", "--sweeps: must be >= 1"),
    ("qubo train --restarts 0", "--restarts: must be >= 1"),
    ("qubo train --keep 1.5 --dropout-rounds 1", "--keep: must be in (0.0, 1.0]"),
    ("qubo train --dropout-rounds -1", "--dropout-rounds: must be >= 0"),
    ("qubo train -o {dir}", "is a folder, expected a file name"),
    # --- hwtrain build / board -----------------------------------------------------------------
    ("build --board ulx3s --design {empty_npz}", "is not an hwtrain model file"),
    ("build --board ulx3s --design {dir}", "is a directory"),
    ("build --board ulx3s --design {missing}", "does not exist"),
    ("build --board ulx3s --design {random}", "is not an hwtrain model file"),
    ("build --board ulx3s --design {notjson}", "is not valid JSON"),
    ("build --board ulx3s --design {model} --baud 0", "--baud: must be >= 1, got 0"),
    ("build --board ulx3s --design {model} --baud -9600", "--baud: must be >= 1"),
    ("build --board ulx3s --design {model} --impl bogus", "unknown layer implementation 'bogus'"),
    ("build --board ulx3s --design {model} --out {random}", "is a file, expected a folder"),
    ("build --board de10 --design {model}", "invalid choice: 'de10'"),
    ("build --board ulx3s --design inference", "--design inference needs --config"),
    ("build --board ulx3s --design ep --config {{}}", "design ep has no board top level"),
    ("build --board ulx3s --design trainer_cpr --config {cpr_json} --impl serial:1",
     "--impl, --store and --logits apply to the inference design"),
    ("build --board ulx3s --design {model} --config {cpr_json}", "--config goes with a registry --design"),
    ("board info --port /dev/nonexistent-tty", "cannot open /dev/nonexistent-tty"),
    ("board info --port /dev/null --baud 0", "--baud: must be >= 1"),
    ("board infer --port /dev/null --inputs {missing}", "no such file"),
    ("board infer --port /dev/null --dataset digits --limit 0", "--limit: must be >= 1"),
    ("board train --port /dev/null --design {model} --epochs 0", "--epochs: must be >= 1"),
]


@pytest.mark.parametrize("line, message", CASES, ids=[c[0][:60] for c in CASES])
def test_bad_input_is_one_clear_line(line, message, files, capsys, monkeypatch):
    monkeypatch.chdir(files["tmp"])                      # nothing lands in the checkout
    argv = shlex.split(line.format(**{k: str(v) for k, v in files.items()}))
    t = time.monotonic()
    status = main(argv)
    seconds = time.monotonic() - t
    err = capsys.readouterr().err
    assert status == 2, f"exit {status}, stderr {err!r}"
    assert err.count("\n") == 1 and err.endswith("\n"), f"not one line: {err!r}"
    assert "error: " in err and "Traceback" not in err
    assert message in err, f"expected {message!r} in {err!r}"
    assert seconds < 20, f"refused only after {seconds:.1f} s: the check comes after long work"


def test_no_output_lands_in_the_checkout(files):
    """The cases above run in a scratch folder: none of them wrote a model or netlist there."""
    assert not any(p.suffix in (".npz", ".json", ".bqm") and p.stem in ("model", "n", "q")
                   for p in files["tmp"].iterdir() if p not in files.values())


def test_output_folders_are_created_and_the_model_comes_first(files, capsys, monkeypatch):
    """A missing output folder is created; the model is written before plots and JSON."""
    monkeypatch.chdir(files["tmp"])
    out = files["tmp"] / "new" / "deeper"
    assert main(["train", "-d", "digits", "--hidden", "8", "--epochs", "1", "-q",
                 "-o", str(out / "m.npz"), "--json", str(out / "j" / "h.json")]) == 0
    assert (out / "m.npz").is_file() and json.loads((out / "j" / "h.json").read_text())["history"]


def test_bad_input_table_has_a_negative_control(files, capsys):
    """The check can fail: a valid command does not exit 2."""
    assert main(["generate", "datapath", "--inputs", "8", "--neurons", "2",
                 "--out", os.fspath(files["tmp"] / "rtl")]) == 0


BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _handles_errors(text: str) -> bool:
    """A script's ``__main__`` block goes through ``errors.run_main``, or only calls the command line's
    ``main`` (which prints HwtrainError as one line itself)."""
    tail = text[text.rindex('if __name__ == "__main__":'):]
    return "run_main(main" in tail or ("from hwtrain.cli import main" in text and "main(argv)" in text)


@pytest.mark.parametrize("script", sorted(p.name for p in BENCHMARKS.glob("*.py")))
def test_benchmark_scripts_turn_hwtrain_errors_into_one_line(script):
    """Every benchmark script: a missing dataset or a bad option ends in one line, not a traceback."""
    assert _handles_errors((BENCHMARKS / script).read_text())


def test_benchmark_error_check_has_a_negative_control():
    assert not _handles_errors('def main():\n    pass\n\n\nif __name__ == "__main__":\n    raise SystemExit(main())\n')


def test_benchmark_without_its_dataset_is_one_line(tmp_path):
    """A benchmark whose dataset is not fetched (an empty data cache) says which fetch to run, in
    one line, exit 2, before any work."""
    env = {**os.environ, "HWTRAIN_DATA": str(tmp_path / "empty")}
    r = subprocess.run([sys.executable, str(BENCHMARKS / "trainer_folded_synth.py"), "--nets", "784",
                        "--samples", "10", "--no-synth"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("trainer_folded_synth.py: error: ") and "hwtrain data fetch fashion_mnist" in r.stderr
