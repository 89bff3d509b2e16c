# neurodecode: two commands.
#   make demo   set up .venv, install, run the main job (EEG preprocessing pipeline on the Muse N170 data)
#   make test   set up .venv, install with test extras, run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export NEURODECODE_DATA ?= $(abspath $(CURDIR)/../shared/data)
export HF_HUB_OFFLINE := 1
export MPLBACKEND := Agg
OUT ?= out/eeg_n170_preprocess
PYTEST_ARGS ?=

.PHONY: setup demo test clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip >/dev/null
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e ".[test]"
	$(PY) -c "import torch, sys; v = torch.__version__; sys.exit(0 if v.startswith('2.13.0') and torch.version.cuda is None else f'expected the CPU build of torch 2.13.0, got {v} (cuda={torch.version.cuda})')"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/neurodecode run pipelines/eeg_n170_preprocess.yaml --out $(OUT)
	@echo "results in $(OUT)/ (open $(OUT)/report.html)"

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) out .pytest_cache
