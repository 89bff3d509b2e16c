"""Option parameters are checked at validation: registry names (``checks.OneOf``) and ``Literal`` sets (issue 13, 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from neurodecode.cli import main
from neurodecode.pipeline.checks import EstimatorName, OneOf, RdmCompareMethod, ScoringName

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"


def _pipeline(tmp_path, name: str, step: int, **params) -> str:
    cfg = yaml.safe_load((PIPELINES / name).read_text())
    cfg["steps"][step]["params"].update(params)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.mark.parametrize("name", ["compare_layers_cichy92.yaml", "compare_layers_kriegeskorte92.yaml"])
def test_shipped_pipelines_still_validate(name, capsys):
    assert main(["validate", str(PIPELINES / name)]) == 0
    assert ": OK" in capsys.readouterr().out


def test_misspelt_comparison_method_is_caught_with_the_registry(tmp_path, capsys):
    path = _pipeline(tmp_path, "compare_layers_cichy92.yaml", 1, method="spearmann")
    assert main(["validate", path]) == 2
    err = capsys.readouterr().err
    assert "steps[1].params.method" in err and "unknown RDM comparison method 'spearmann'" in err
    assert "did you mean 'spearman'" in err and "known: spearman, pearson" in err and "kendall" in err


def test_rdm_method_and_pooling_are_caught(tmp_path, capsys):
    path = _pipeline(tmp_path, "compare_layers_cichy92.yaml", 0, method="corelation", pooling="mean")
    assert main(["validate", path]) == 2
    err = capsys.readouterr().err
    assert "unknown RDM method 'corelation' (did you mean 'correlation'?)" in err
    assert "unknown pooling 'mean'" in err and "flatten, avg, cls, random_projection, pca" in err


def test_activation_method_cka_is_caught(tmp_path, capsys):
    # `method: cka`, the example: the registry has linear_cka, debiased_cka and rbf_cka
    cfg = {"name": "p", "data": {"images": {"dataset": "kriegeskorte92", "select": {"part": "images"}},
                                 "brain": {"dataset": "cichy92_fmri"}},
           "steps": [{"id": "sim", "op": "rsa.layer_similarity", "inputs": {"images": "images", "brain": "brain"},
                      "params": {"models": ["efficientnet_lite0"], "metric": "cka"}}]}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unknown activation comparison method 'cka'" in err and "debiased_cka" in err and "procrustes" in err
    cfg["steps"][0]["params"]["metric"] = "perm_procrustes"  # an alias is a registered name
    path.write_text(yaml.safe_dump(cfg))
    assert main(["validate", str(path)]) == 0


def test_fixed_option_sets_are_literals(tmp_path, capsys):
    path = _pipeline(tmp_path, "reconstruct_simulated92.yaml", 2, source="clip")
    cfg = yaml.safe_load(Path(path).read_text())
    assert cfg["steps"][2]["op"] == "generative.reconstruct"
    assert main(["validate", path]) == 2
    err = capsys.readouterr().err
    assert "steps[2].params.source" in err and "'ridge' or 'brain_clip'" in err


def test_registry_is_read_when_checked():
    names = ["alpha", "beta"]
    marker = OneOf(lambda: names, "thing")
    adapter = TypeAdapter(__import__("typing").Annotated[str, marker])
    with pytest.raises(ValidationError, match=r"unknown thing 'gamma'; known: alpha, beta"):
        adapter.validate_python("gamma")
    names.append("gamma")  # a plugin registering a name later
    assert adapter.validate_python("gamma") == "gamma"


@pytest.mark.parametrize("annotation, good, bad, hint", [
    (EstimatorName, "lda", "ldaa", "did you mean 'lda'"),
    (ScoringName, "roc_auc", "roc-auc", "did you mean 'roc_auc'"),
    (RdmCompareMethod, "tau-a", "spearmen", "did you mean 'spearman'"),
])
def test_ready_made_registry_options(annotation, good, bad, hint):
    adapter = TypeAdapter(annotation)
    assert adapter.validate_python(good) == good
    with pytest.raises(ValidationError, match=hint):
        adapter.validate_python(bad)


def test_time_resolved_options_are_caught(tmp_path, capsys):
    # the time-resolved ops: RDM method, comparison method and noise estimator come from their registries
    path = _pipeline(tmp_path, "eeg_muse_time_resolved.yaml", 7, method="crossnobiss", noise="shrink",
                     compare_method="spearmann")
    assert main(["validate", path]) == 2
    err = capsys.readouterr().err
    assert "unknown RDM method 'crossnobiss' (did you mean 'crossnobis'?)" in err
    assert "unknown noise estimator 'shrink'" in err and "shrinkage_diag, shrinkage_eye, diag, full" in err
    assert "unknown RDM comparison method 'spearmann'" in err
    path = _pipeline(tmp_path, "eeg_muse_time_resolved.yaml", 6, estimator="ldaa")
    assert main(["validate", path]) == 2
    assert "unknown estimator 'ldaa' (did you mean 'lda'?)" in capsys.readouterr().err


def test_decode_estimators_and_their_settings_are_caught(tmp_path, capsys):
    # the generic decode op: names in a list, and {estimator: NAME, **settings} in a dict, are checked
    cfg = yaml.safe_load((PIPELINES / "eeg_n170_decode.yaml").read_text())
    step = cfg["steps"][6]
    assert step["op"] == "decode"
    step["params"]["estimators"]["erp_logreg"]["estimator"] = "erp_logrg"
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["validate", str(path)]) == 2
    assert "unknown estimator 'erp_logrg' (did you mean 'erp_logreg'?)" in capsys.readouterr().err
    step["params"]["estimators"]["erp_logreg"]["estimator"] = "erp_logreg"
    step["params"]["estimators"]["erp_logreg"]["tmaxx"] = 0.5
    path.write_text(yaml.safe_dump(cfg))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "estimator 'erp_logreg' has no setting 'tmaxx' (did you mean 'tmax'?)" in err
    step["params"]["estimators"] = ["lda", "xdawn_tss"]
    step["params"]["scoring"] = "roc_aucc"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unknown estimator 'xdawn_tss' (did you mean 'xdawn_ts'?)" in err and "unknown scoring 'roc_aucc'" in err


def test_fmri_clean_filter_is_a_fixed_set(tmp_path, capsys):
    path = _pipeline(tmp_path, "fmri_haxby_preprocess.yaml", 1, filter="butterworh")
    assert main(["validate", path]) == 2
    err = capsys.readouterr().err
    assert "steps[1].params.filter" in err and "'butterworth'" in err and "'cosine'" in err
    path = _pipeline(tmp_path, "fmri_haxby_preprocess.yaml", 1, filter="cosine")
    assert main(["validate", path]) == 0
