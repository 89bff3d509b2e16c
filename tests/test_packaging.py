"""An installable library: torch as a range, generative pieces in an extra, the exact pin only for CI."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_torch_is_a_range_and_generative_is_an_extra():
    deps = {Requirement(d).name: Requirement(d) for d in _project()["dependencies"]}
    torch = deps["torch"]
    assert not any(s.operator == "==" for s in torch.specifier) and torch.specifier.contains("2.5.1")
    assert torch.specifier.contains("2.13.0")
    assert "diffusers" not in deps and "transformers" not in deps
    extras = _project()["optional-dependencies"]
    assert {Requirement(d).name for d in extras["generative"]} >= {"diffusers", "transformers"}
    assert any("generative" in d for d in extras["all"])


def test_ci_keeps_the_exact_cpu_pin():
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text().split()
    makefile = (ROOT / "Makefile").read_text()
    assert "PIP_CONSTRAINT" in makefile and '".[test,all]"' in makefile


def test_generative_without_the_extra_names_the_pip_install():
    code = ("import sys; sys.modules['diffusers'] = None; sys.modules['transformers'] = None\n"
            "import neurodecode, neurodecode.models\n"  # the rest of the library still imports
            "try:\n    import neurodecode.generative\nexcept ImportError as err:\n    print(err)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    message = out.stdout.strip()
    assert message.count("\n") == 0 and 'pip install "neurodecode[generative]"' in message
    assert "diffusers and transformers" in message
