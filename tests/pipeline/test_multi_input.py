"""Named data sources, steps with several inputs, plugins, folders and globs in `files:`."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import yaml

from neurodecode.errors import BadInputError, ConfigError
from neurodecode.pipeline import load_config, run

PLUGIN = textwrap.dedent('''
    """A user's plugin: one loader reading a folder/glob of .txt number files, one two-input op."""
    import os
    from pathlib import Path

    import numpy as np
    import xarray as xr

    from neurodecode.pipeline import register_loader, register_op

    CALLS = []


    @register_loader("test.read_numbers", many=True, replace=True)
    def read_numbers(source, *, scale: float = 1.0, offsets: str | os.PathLike | None = None):
        """Read one number per .txt file (a folder, a glob or a list of files)."""
        import glob
        if isinstance(source, list):
            paths = [Path(p) for p in source]
        elif any(c in str(source) for c in "*?["):
            paths = sorted(Path(p) for p in glob.glob(str(source), recursive=True))
        else:
            paths = sorted(Path(source).rglob("*.txt"))
        values = np.array([float(p.read_text()) for p in paths]) * scale
        if offsets is not None:
            values = values + float(Path(offsets).read_text())
        CALLS.append(str(source))
        return xr.DataArray(values, dims="stimulus", coords={"stimulus": [p.stem for p in paths]})


    @register_op("test.weighted_sum", n_data_args=2, replace=True)
    def weighted_sum(left, right, *, weight: float = 1.0):
        """left + weight * right, matched by stimulus."""
        left, right = xr.align(left, right, join="inner")
        return left + weight * right
''')


def _write_numbers(folder, values, sub=""):
    target = folder / sub if sub else folder
    target.mkdir(parents=True, exist_ok=True)
    for name, value in values.items():
        (target / f"{name}.txt").write_text(str(value))


@pytest.fixture(autouse=True)
def _forget_test_plugins():
    """The plugin registers test ops; remove them (and the import record) so other tests see the real registry."""
    yield
    from neurodecode.pipeline import plugins
    from neurodecode.pipeline.ops import LOADERS, OPS

    OPS.unregister("test.weighted_sum")
    LOADERS.unregister("test.read_numbers")
    for key in [k for k in plugins._LOADED if k.endswith("my_ops.py")]:
        plugins._LOADED.pop(key)


@pytest.fixture()
def project(tmp_path):
    (tmp_path / "my_ops.py").write_text(PLUGIN)
    _write_numbers(tmp_path / "a", {"s1": 1, "s2": 2}, sub="x")
    _write_numbers(tmp_path / "a", {"s3": 3}, sub="y")
    _write_numbers(tmp_path / "b", {"s1": 10, "s2": 20, "s3": 30, "s4": 40})
    (tmp_path / "offset.txt").write_text("0.5")
    cfg = {
        "name": "two_inputs",
        "plugins": ["my_ops.py"],
        "data": {
            "left": {"files": ["a"], "loader": "test.read_numbers"},
            "right": {"files": ["b/*.txt"], "loader": "test.read_numbers",
                      "params": {"scale": 2.0, "offsets": "offset.txt"}},
        },
        "steps": [{"id": "total", "op": "test.weighted_sum", "inputs": {"left": "left", "right": "right"},
                   "params": {"weight": 0.5}}],
        "outputs": {"save": ["total"], "report": False},
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return tmp_path, path, cfg


def test_named_sources_and_inputs_run(project):
    root, path, _ = project
    res = run(path, root / "out", progress=False)
    total = res.open("total")
    assert list(total["stimulus"].values) == ["s1", "s2", "s3"]  # the folder is searched recursively
    # left + 0.5 * (2 * right + 0.5)
    np.testing.assert_allclose(total.values, [1 + 0.5 * 20.5, 2 + 0.5 * 40.5, 3 + 0.5 * 60.5])
    manifest = json.loads((root / "out" / "manifest.json").read_text())
    assert set(manifest["inputs"]["sources"]) == {"left", "right"}
    names = {f["name"] for f in manifest["inputs"]["files"]}
    assert any(n.startswith("param:offsets") for n in names)  # a path parameter is an input file too
    assert manifest["plugins"] == ["my_ops.py"]


def test_cache_key_covers_every_input(project):
    root, path, _ = project
    run(path, root / "out", progress=False)
    again = run(path, root / "out", progress=False)
    assert again.cache_hits == ["total"]
    (root / "b" / "s2.txt").write_text("21")  # the second input changes: the step reruns
    third = run(path, root / "out", progress=False)
    assert third.cache_hits == []
    np.testing.assert_allclose(third.open("total").sel(stimulus="s2"), 2 + 0.5 * 42.5)
    (root / "offset.txt").write_text("1.5")  # a file given as a loader parameter changes
    assert run(path, root / "out", progress=False).cache_hits == []


def test_inputs_must_name_the_op_arguments(project):
    root, path, cfg = project
    cfg["steps"][0]["inputs"] = {"left": "left", "rihgt": "right"}
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "steps[0].inputs.rihgt: op 'test.weighted_sum' has no input 'rihgt' (did you mean 'right'?)" in str(err.value)
    cfg["steps"][0]["inputs"] = {"left": "left", "right": "nowhere"}
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="steps\\[0\\].inputs.right: no earlier step 'nowhere'.*data sources: left, right"):
        load_config(path)
    cfg["steps"][0].pop("inputs")
    cfg["steps"][0]["input"] = "left"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="takes several inputs"):
        load_config(path)


def test_bad_plugin_and_mixed_data_forms(project):
    root, path, cfg = project
    cfg["plugins"] = ["missing_ops.py"]
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="plugins: no such file"):
        load_config(path)
    (root / "broken.py").write_text("raise RuntimeError('boom')\n")
    cfg["plugins"] = ["broken.py"]
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="importing .*broken.py.* failed: RuntimeError: boom"):
        load_config(path)
    cfg["plugins"] = ["my_ops.py"]
    cfg["data"] = {"dataset": "haxby2001", "left": {"files": ["a"], "loader": "test.read_numbers"}}
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match="mixes source keys"):
        load_config(path)


def test_glob_and_folder_errors(project):
    root, path, cfg = project
    cfg["data"]["right"]["files"] = ["b/*.csv"]
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(BadInputError, match="data.right.files\\[0\\]: the pattern 'b/\\*.csv' matches no file"):
        run(path, root / "out", progress=False)
    (root / "empty").mkdir()
    cfg["data"]["right"]["files"] = ["empty"]
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(BadInputError, match="holds no file"):
        run(path, root / "out", progress=False)


def test_single_source_still_reads_as_data(project):
    root, path, cfg = project
    cfg["data"] = {"files": ["b"], "loader": "test.read_numbers"}
    cfg["steps"] = [{"id": "total", "op": "test.weighted_sum", "inputs": {"left": "data", "right": "data"}}]
    path.write_text(yaml.safe_dump(cfg))
    res = run(path, root / "out2", progress=False)
    np.testing.assert_allclose(res.open("total").values, [20, 40, 60, 80])


def test_entry_points_register_plugins(monkeypatch, tmp_path):
    """An installed package's entry point (group neurodecode.ops) is imported when the registry is first used."""
    import importlib.metadata as md
    import sys

    from neurodecode.pipeline import plugins
    from neurodecode.pipeline.ops import OPS

    (tmp_path / "nd_ep_plugin.py").write_text(textwrap.dedent('''
        from neurodecode.pipeline import register_op

        @register_op("ep.double", replace=True)
        def double(x):
            """x * 2"""
            return x * 2
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = md.EntryPoint(name="nd_ep_plugin", value="nd_ep_plugin", group="neurodecode.ops")
    real = md.entry_points
    monkeypatch.setattr(md, "entry_points", lambda **kw: [ep] if kw.get("group") == "neurodecode.ops" else real(**kw))
    monkeypatch.setattr(plugins, "_ENTRY_POINTS_DONE", set())
    plugins.load_entry_points("neurodecode.ops")
    assert "ep.double" in OPS
    OPS.unregister("ep.double")
    sys.modules.pop("nd_ep_plugin", None)
