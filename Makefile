# neurodecode: two commands.
#   make demo   set up .venv, install, run the main job (EfficientNet-Lite0 layers vs human IT, monkey IT and
#               behaviour on the 92 Kriegeskorte images: RSA, noise ceilings, bootstrap CIs, topological RSA)
#   make test   set up .venv, install with the test and all extras (torch pinned by constraints.txt), run the tests
#   make run-NAME   run pipelines/NAME.yaml into out/NAME (e.g. make run-eeg_n170_decode)
#   make docs   build the documentation site into docs/_build/html (MkDocs, warnings are errors)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export NEURODECODE_DATA ?= $(abspath $(CURDIR)/../shared/data)
export HF_HUB_OFFLINE := 1
export MPLBACKEND := Agg
OUT ?= out/compare_layers_kriegeskorte92
PYTEST_ARGS ?=

.PHONY: setup demo demo-eeg demo-fmri demo-spikes test docs clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip >/dev/null
	$(PIP) install "torch==2.13.0"
	$(PIP) install -e ".[test,all]"
	$(PY) -c "import torch, sys; v = torch.__version__; sys.exit(0 if v.startswith('2.13.0') and torch.version.cuda is None else f'expected the CPU build of torch 2.13.0, got {v} (cuda={torch.version.cuda})')"
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(VENV)/bin/neurodecode run pipelines/compare_layers_kriegeskorte92.yaml --out $(OUT)
	@echo "results in $(OUT)/ (open $(OUT)/report.html)"

demo-eeg demo-fmri demo-spikes: demo-%: setup
	$(VENV)/bin/neurodecode run pipelines/$*_$(if $(filter eeg,$*),n170,$(if $(filter fmri,$*),haxby,m1))_preprocess.yaml --out out/$*

run-%: setup
	$(VENV)/bin/neurodecode run pipelines/$*.yaml --out out/$*

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

$(VENV)/.docs-installed: $(VENV)/.installed pyproject.toml
	$(PIP) install -e ".[docs]"
	touch $@

# MkDocs refuses a site folder inside docs/, so it builds into build/docs-site, then moves it
docs: $(VENV)/.docs-installed
	rm -rf build/docs-site
	$(VENV)/bin/mkdocs build --strict --site-dir build/docs-site
	rm -rf docs/_build/html && mkdir -p docs/_build && mv build/docs-site docs/_build/html
	@echo "documentation in docs/_build/html/index.html"

clean:
	rm -rf $(VENV) out .pytest_cache build/docs-site docs/_build
