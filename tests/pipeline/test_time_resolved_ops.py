"""decoding.time_resolved and rsa.time_resolved on real Muse N170 epochs (subjects 2 and 11), and the
shipped pipeline eeg_muse_time_resolved on that subset; numbers checked against scikit-learn, MNE,
rsatoolbox and scipy computed here from the saved epochs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import require_data

pytestmark = pytest.mark.realdata

PIPELINE = Path(__file__).resolve().parents[2] / "pipelines" / "eeg_muse_time_resolved.yaml"


@pytest.fixture(scope="module")
def subset_run(data_home, tmp_path_factory):
    """The shipped pipeline on subjects 2 and 11 (5 folds), saving the clean epochs too."""
    require_data(data_home / "muse_n170" / "subject11", "the Muse N170 recordings")
    from neurodecode.pipeline import run

    raw = yaml.safe_load(PIPELINE.read_text())
    raw["data"]["select"] = {"subject": [2, 11]}
    steps = {s["id"]: s for s in raw["steps"]}
    steps["decode_time"]["params"]["n_folds"] = 5
    raw["outputs"]["save"] = ["clean", "decode_time", "rsa_time"]
    tmp = tmp_path_factory.mktemp("muse_tr")
    cfg = tmp / "muse_time_resolved.yaml"
    cfg.write_text(yaml.safe_dump(raw, sort_keys=False))
    return run(cfg, tmp / "out", progress=False)


def _blocks(n: int, k: int, gap: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Contiguous test blocks with ``gap`` trials purged on each side (written here, not imported)."""
    idx = np.arange(n)
    out = []
    for block in np.array_split(idx, k):
        out.append((idx[(idx < block[0] - gap) | (idx > block[-1] + gap)], block))
    return out


def _sklearn_fold_scores(ep, times_idx, k=5, gap=2) -> np.ndarray:
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.metrics import roc_auc_score

    y = (np.asarray(ep["label"].values) == "house").astype(int)
    x = np.asarray(ep.transpose("trial", "channel", "time").values)
    out = np.empty((k, len(times_idx)))
    for f, (tr, te) in enumerate(_blocks(len(y), k, gap)):
        for j, t in enumerate(times_idx):
            lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(x[tr, :, t], y[tr])
            out[f, j] = roc_auc_score(y[te], lda.decision_function(x[te, :, t]))
    return out


def test_pipeline_subset_outputs(subset_run):
    out = subset_run.out_dir
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    m = subset_run.metrics
    for key in ("decode_time.peak_score", "decode_time.peak_time", "decode_time.min_cluster_p",
                "rsa_time.peak_rsa", "rsa_time.min_cluster_p", "rsa_time.n_subjects"):
        assert np.isfinite(m[key]), key
    assert m["decode_time.n_subjects"] == 2 and m["rsa_time.n_conditions"] == 8
    assert 0.5 < m["decode_time.peak_score"] <= 1.0 and -0.1 <= m["decode_time.peak_time"] <= 0.6
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    for name in ("decode_time.01", "decode_time.02", "rsa_time.01", "rsa_time.02"):
        assert any(f.startswith(name) for f in figures), (name, figures)
    for table in ("decode_time.clusters", "decode_time.generalization_clusters", "decode_time.subject_clusters",
                  "rsa_time.clusters", "rsa_time.time_course"):
        assert (out / "tables" / f"{table}.csv").is_file(), table
    html = (out / "report.html").read_text()
    assert "Time-resolved roc_auc" in html and "Time-resolved RSA" in html


def test_decoding_scores_match_sklearn(subset_run):
    clean = subset_run.open("clean")
    dec = subset_run.open("decode_time")
    sub = clean.isel(trial=np.flatnonzero(clean["subject"].values == "11"))
    times_idx = [0, 60, 90, 120]
    ref = _sklearn_fold_scores(sub, times_idx).mean(axis=0)
    got = dec["score"].sel(subject="11").values[times_idx]
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert dec["generalization"].dims == ("subject", "train_time", "test_time")
    diag = np.diagonal(dec["generalization"].sel(subject="11").values)
    np.testing.assert_allclose(diag, dec["score"].sel(subject="11").values, atol=1e-6)


def test_fold_cluster_test_matches_mne(subset_run):
    """With by=None the folds are the observations; the cluster table equals MNE's on sklearn's fold scores."""
    import mne

    from neurodecode.pipeline.time_resolved_ops import decode_over_time
    from neurodecode.report.style import figure_problems

    clean = subset_run.open("clean")
    sub = clean.isel(trial=np.flatnonzero(clean["subject"].values == "11")).sel(time=slice(0.1, 0.35))
    from neurodecode.decoding import sliding
    from neurodecode.train.splits import ContiguousBlocks

    res = decode_over_time(sub, by=None, n_folds=5, gap=2, generalize=True)
    folds = sliding(sub, "label", "lda", cv=ContiguousBlocks(5, gap=2, dim="trial")).values
    np.testing.assert_allclose(folds, _sklearn_fold_scores(sub, list(range(sub.sizes["time"]))), atol=1e-6)
    # MNE on the same fold scores (p-values of tied cluster masses hinge on the last bits of the scores)
    t_obs, clusters, p_values, _ = mne.stats.permutation_cluster_1samp_test(
        folds - 0.5, n_permutations=1024, tail=1, out_type="mask", verbose=False)
    table = res.tables["group_clusters"].sort_values("start").reset_index(drop=True)
    times = sub["time"].values
    ref = pd.DataFrame({"start": [times[c].min() for c in clusters], "stop": [times[c].max() for c in clusters],
                        "p_value": p_values}).sort_values("start").reset_index(drop=True)
    assert len(table) == len(ref) > 0
    np.testing.assert_allclose(table["start"], ref["start"])
    np.testing.assert_allclose(table["stop"], ref["stop"])
    np.testing.assert_allclose(table["p_value"], ref["p_value"])
    for _, make in res.figures:
        assert figure_problems(make()) == []


def test_rsa_with_given_conditions_and_runs_matches_rsatoolbox(subset_run):
    """Subject 2 has two real runs: crossnobis over them, conditions given by the user as a coord."""
    import rsatoolbox.data as rsd
    import rsatoolbox.rdm as rsr
    from scipy import stats

    from neurodecode.errors import BadInputError
    from neurodecode.pipeline.time_resolved_ops import rsa_over_time
    from neurodecode.report.style import figure_problems

    clean = subset_run.open("clean")
    sub = clean.isel(trial=np.flatnonzero(clean["subject"].values == "2")).sel(time=slice(0.15, 0.3))
    lab = np.asarray(sub["label"].values).astype(str)
    rank = pd.Series(lab).groupby(lab).cumcount().to_numpy()
    cond = np.asarray([f"{a}{r % 3}" for a, r in zip(lab, rank)])
    run = np.asarray(sub["run"].values).astype(str)
    assert len(set(run)) == 2
    ep = sub.assign_coords(stim=("trial", cond))
    res = rsa_over_time(ep, condition="stim", runs="run", method="crossnobis", by="subject")
    rsa = res.data["rsa"].sel(subject="2").values
    for t in (0, 20):
        ds = rsd.Dataset(sub.values[:, :, t], obs_descriptors={"cond": cond, "run": run})
        ref = rsr.calc_rdm(ds, method="crossnobis", descriptor="cond", cv_descriptor="run")
        order = np.asarray(ref.pattern_descriptors["cond"])
        mat = ref.get_matrices()[0]
        model = np.array([[float(a[:-1] != b[:-1]) for b in order] for a in order])
        iu = np.triu_indices(len(order), 1)
        assert rsa[t] == pytest.approx(stats.spearmanr(mat[iu], model[iu]).statistic, abs=1e-8)
    for _, make in res.figures:
        assert figure_problems(make()) == []
    with pytest.raises(BadInputError, match="no coord 'stimulus'"):
        rsa_over_time(ep, condition="stimulus", runs="run")
    with pytest.raises(BadInputError, match="needs epochs"):
        rsa_over_time(ep.isel(time=0))


def test_folds_and_subjects_left_out_are_said_in_the_notes(subset_run):
    """cv over a coord whose parts hold one category: subject 2 keeps 1 of 3 folds, subject 11 none;
    the op's scores are decoding.sliding_by_group's and its notes say what was left out."""
    from neurodecode.decoding import sliding_by_group
    from neurodecode.pipeline.time_resolved_ops import decode_over_time

    clean = subset_run.open("clean").sel(time=slice(0.1, 0.2))
    subj = np.asarray(clean["subject"].values).astype(str)
    lab = np.asarray(clean["label"].values).astype(str)
    part = np.empty(clean.sizes["trial"], dtype=object)
    for s in ("2", "11"):
        for la in ("face", "house"):
            first, second = np.array_split(np.flatnonzero((subj == s) & (lab == la)), 2)
            part[first] = la
            part[second] = "mixed" if s == "2" else f"{la}2"
    ep = clean.assign_coords(part=("trial", part))
    res = decode_over_time(ep, cv="part", by="subject", generalize=True, n_permutations=64)
    assert list(res.data["subject"].values) == ["2"] and res.metrics["n_subjects"] == 1
    assert "subject 2: 2 of 3 folds left out (a test block holds one class)" in res.notes
    assert "subject 11: no fold could be scored (a test block holds one class); left out" in res.notes
    assert set(res.tables["subject_clusters"]["subject"]) <= {"2"}
    lib = sliding_by_group(ep, "label", "lda", cv="part", by="subject", generalize=True).scores
    np.testing.assert_array_equal(res.data["score"].values, lib["score"].values)
    np.testing.assert_array_equal(res.data["generalization"].values, lib["generalization"].values)
    counts = pd.crosstab(subj, lab)
    assert counts.loc["11"].min() < counts.loc["2"].min()
    few = decode_over_time(ep, cv="part", by="subject", generalize=False,
                           min_trials_per_label=int(counts.loc["11"].min()) + 1, n_permutations=64)
    face, house = int(counts.loc["11", "face"]), int(counts.loc["11", "house"])
    assert (f"subject 11 left out: {{'face': {face}, 'house': {house}}} trials, fewer than "
            f"min_trials_per_label={int(counts.loc['11'].min()) + 1}") in few.notes
