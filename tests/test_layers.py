"""The layering of DESIGN.md holds: no module imports from a layer above its own.

    core      errors, config base, file formats, the shared PRNG and bit packing
    data      datasets, binarizers, fetch
    golden    golden models, their configurations, learning algorithms
    protocol  command words and frames
    hdl       Amaranth components (and board top levels)
    flows     registry, emit, simulate, synthesize, formal proofs, sweeps
    host      host drivers, board builds
    cli       the command line

Every module of the package must be placed by ``LAYER_OF``; a new folder or module
that is not fails here until it is given its layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hwtrain

LAYERS = ("core", "data", "golden", "protocol", "hdl", "flows", "host", "cli")

# Longest matching prefix wins.
LAYER_OF = {
    "hwtrain.__init__": "core",              # the package itself (exact)
    "hwtrain.errors": "core",
    "hwtrain.config": "core",
    "hwtrain.npzfile": "core",
    "hwtrain.core": "core",
    "hwtrain.data": "data",
    "hwtrain.golden": "golden",
    "hwtrain.inference": "golden",            # inference-core configuration and model file
    "hwtrain.logic": "golden",                # netlist format, trainer, pruning
    "hwtrain.logic.formal": "flows",
    "hwtrain.logic.reference_verilog": "flows",
    "hwtrain.qubo": "golden",
    "hwtrain.protocol": "protocol",
    "hwtrain.hdl": "hdl",
    "hwtrain.boards.top": "hdl",
    "hwtrain.boards.pll": "hdl",            # the ECP5 PLL primitive and its divider search
    "hwtrain.flows": "flows",
    "hwtrain.boards": "host",
    "hwtrain.benches": "host",                # cocotb benches: drive host drivers against the Verilog
    "hwtrain.trainer_host": "host",
    "hwtrain.trainer_folded_host": "host",
    "hwtrain.trainer_rnn_host": "host",
    "hwtrain.args": "cli",
    "hwtrain.cli": "cli",
    "hwtrain.commands": "cli",
}

ROOT = Path(hwtrain.__file__).parent


def _modules() -> dict[str, Path]:
    mods = {}
    for p in ROOT.rglob("*.py"):
        parts = ("hwtrain",) + p.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def layer(module: str) -> str | None:
    if module == "hwtrain":
        return LAYER_OF["hwtrain.__init__"]
    keys = [k for k in LAYER_OF if module == k or module.startswith(k + ".")]
    return LAYER_OF[max(keys, key=len)] if keys else None


def _imports(module: str, path: Path, mods: dict) -> set[str]:
    """hwtrain modules that ``module`` imports (at any depth of its code, lazy imports included)."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            subs = [f"{target}.{a.name}" for a in node.names]
            # `from pkg import module` imports the module; the package only when a name is not one
            names = subs + ([target] if not all(s in mods for s in subs) else [])
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out.update(n for n in names if n in mods and n != module)
    return out


def test_every_module_has_a_layer():
    unplaced = [m for m in _modules() if layer(m) not in LAYERS]
    assert not unplaced, f"modules without a layer in LAYER_OF: {unplaced}"


def test_no_upward_imports():
    mods = _modules()
    upward = []
    for m, path in sorted(mods.items()):
        for t in sorted(_imports(m, path, mods)):
            if LAYERS.index(layer(t)) > LAYERS.index(layer(m)):
                upward.append(f"{m} ({layer(m)}) imports {t} ({layer(t)})")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """Negative control: a core module that imported the command line would be caught."""
    fake = tmp_path / "errors.py"
    fake.write_text("from .cli import main\n")
    mods = _modules()
    assert "hwtrain.cli" in _imports("hwtrain.errors", fake, mods)
    assert LAYERS.index(layer("hwtrain.cli")) > LAYERS.index(layer("hwtrain.errors"))


@pytest.mark.parametrize("module, want", [("hwtrain.golden.train.mlp", "golden"),
                                          ("hwtrain.commands.train", "cli"),
                                          ("hwtrain.protocol.board", "protocol"),
                                          ("hwtrain.boards.host", "host")])
def test_layer_of(module, want):
    assert layer(module) == want
