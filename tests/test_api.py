"""One consistent public API: every name in every ``__all__`` resolves, packages list their sub-packages."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import neurodecode

ROOT = Path(neurodecode.__file__).parent


def _modules() -> list[str]:
    names = ["neurodecode"]
    for info in pkgutil.walk_packages([str(ROOT)], prefix="neurodecode."):
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            names.append(info.name)
    return sorted(names)


MODULES = _modules()
PACKAGES = sorted(m for m in MODULES if (ROOT / Path(*m.split(".")[1:]) / "__init__.py").exists())


@pytest.mark.parametrize("module", MODULES)
def test_every_public_name_resolves(module):
    mod = importlib.import_module(module)
    public = getattr(mod, "__all__", None)
    if public is None:
        pytest.skip(f"{module} has no __all__")
    assert len(public) == len(set(public)), f"{module}.__all__ has duplicates"
    missing = []
    for name in public:
        try:
            getattr(mod, name)
        except AttributeError as err:
            missing.append(f"{name} ({err})")
    assert not missing, f"{module}.__all__ lists names it cannot return: {missing}"


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_expose_their_subpackages(package):
    mod = importlib.import_module(package)
    folder = ROOT / Path(*package.split(".")[1:])
    subpackages = sorted(p.name for p in folder.iterdir() if (p / "__init__.py").exists()
                         and not p.name.startswith("_"))
    public = set(getattr(mod, "__all__", []))
    assert set(subpackages) <= public, f"{package} does not list {sorted(set(subpackages) - public)} in __all__"


def test_unknown_names_raise_attribute_error():
    for package in PACKAGES:
        with pytest.raises(AttributeError):
            getattr(importlib.import_module(package), "not_a_public_name")


def test_pipeline_run_accepts_a_shipped_pipeline_name_like_the_cli(tmp_path):
    from neurodecode import pipeline
    from neurodecode.errors import ConfigError

    # the name is resolved and the file loaded; the run then stops at the (deliberately) bad dask options
    with pytest.raises(ConfigError, match="not both"):
        pipeline.run("eeg_n170_preprocess", tmp_path / "out", scheduler="tcp://127.0.0.1:1", workers=1)
    with pytest.raises(ConfigError, match="no_such_pipeline"):
        pipeline.run("no_such_pipeline", tmp_path / "out2")


def test_functions_named_like_their_module_stay_functions():
    """``analysis.rdm`` is the function even after ``import neurodecode.analysis.rdm`` (lazy_loader's guard)."""
    import subprocess
    import sys

    script = (
        "import neurodecode.analysis.layers, neurodecode.analysis.rdm, neurodecode.analysis.compare\n"
        "import neurodecode.analysis as a\n"
        "import sys\n"
        "bad = [n for n in ('rdm', 'compare', 'similarity', 'predictivity', 'rdm_unbalanced')"
        " if not callable(getattr(a, n))]\n"
        "import neurodecode.decoding\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'mne', 'torch'})\n"
        "print(bad, heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "[]"], out.stdout
