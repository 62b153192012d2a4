"""pytest drivers for the cocotb benches: emitted Verilog, Verilator, golden model."""

import pytest

from hwtrain.flows.designs import generate
from hwtrain.flows.simulate import run_bench


@pytest.fixture
def rtl_bench(tmp_path):
    """Emit ``design`` for ``cfg`` and run its bench; returns the bench summary."""

    def run(design_name, cfg, bench, **params):
        path, info = generate(design_name, cfg, tmp_path)
        return run_bench(path, info["top"], bench, {"config": cfg.to_dict(), **params})

    return run
