"""Every design committed in rtl_out/ is exactly what `hwtrain generate` produces now."""

import json
from pathlib import Path

import pytest

from hwtrain.flows.designs import design, generate

RTL_OUT = Path(__file__).resolve().parents[1] / "rtl_out"
MANIFESTS = sorted(RTL_OUT.glob("*.json"))


def test_rtl_out_is_not_empty():
    assert MANIFESTS, "rtl_out/ holds no generated designs"


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: p.stem)
def test_committed_verilog_matches_generator(manifest, tmp_path):
    info = json.loads(manifest.read_text())
    d = design(info["design"])
    cfg = d.config_type(**info["config"])
    path, fresh = generate(info["design"], cfg, tmp_path)
    committed = manifest.with_suffix(".v").read_text()
    assert path.read_text() == committed, (
        f"{manifest.with_suffix('.v').name} differs from what the generator emits now; "
        f"regenerate it with: hwtrain generate {info['design']} --config <config>")
    assert fresh == info, f"manifest {manifest.name} is out of date"
