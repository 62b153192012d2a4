# Two entry points for a fresh machine (Python >= 3.11, a C++ compiler, make):
#   make demo   on-chip training of digits in RTL beside the golden model, inference, synthesis (hwtrain demo)
#   make test   the test suite
# Both create .venv and install hwtrain with pinned tools on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
JOBS   ?= 2

.PHONY: demo test venv clean

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "hwtrain needs Python >= 3.11, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[test,plot,data,qubo,board,qonnx,dask]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/hwtrain demo

test: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) --durations=15 -q

clean:
	rm -rf build sim_build .pytest_cache
