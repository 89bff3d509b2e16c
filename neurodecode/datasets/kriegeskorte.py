"""The Kriegeskorte et al. 2008 92-image set as labelled xarray objects.

Everything comes from the MATLAB files distributed with rsatoolbox (read with
:func:`scipy.io.loadmat`): the images and category flags and the figure-1 RDMs from
``Kriegeskorte_Neuron2008_supplementalData.mat``, the human IT session RDMs from
``92_brainRDMs.mat``, the behavioural RDMs from ``92_behavRDMs.mat`` and the model RDMs from
``92_modelRDMs.mat``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import BadInputError, DatasetError

__all__ = ["Kriegeskorte92", "PARTS", "BRAIN_REGIONS", "load_kriegeskorte92", "make_rdm_stack", "brain_stack"]

N_STIM = 92
SUPPL = "Kriegeskorte_Neuron2008_supplementalData.mat"
BRAIN = "92_brainRDMs.mat"
BEHAV = "92_behavRDMs.mat"
MODELS = "92_modelRDMs.mat"

#: part name -> the files it needs (the stimulus table is always read from SUPPL)
PARTS: dict[str, tuple[str, ...]] = {
    "images": (SUPPL,),
    "human_it": (SUPPL, BRAIN),
    "monkey_it": (SUPPL,),
    "human_it_316vx": (SUPPL,),
    "behaviour": (SUPPL, BEHAV),
    "models": (SUPPL, MODELS),
    "brain": (SUPPL, BRAIN, BEHAV),
}

#: the regions of ``part="brain"``, in the order the main job reports them
BRAIN_REGIONS = ("human_it", "monkey_it", "behaviour")


@dataclass
class Kriegeskorte92:
    """The 92-image set: images and RDM stacks, all sharing the ``stimulus`` index 0..91.

    Attributes
    ----------
    images : xarray.DataArray
        (stimulus, y, x, rgb) uint8 photographs (175 x 175), with coords ``category`` (6 categories),
        the 12 ``categoryVectors`` flags as bool coords (``animate``, ``inanim``, ``human``,
        ``nonhumani``, ``body``, ``face``, ``natObj``, ``artiObj``, ``rand24``, ``rand48``,
        ``other48``, ``monkeyape``) and ``natural`` (from the stimulus struct).
    human_it : xarray.DataArray
        ``rdm`` stack (8, 92, 92): human IT fMRI RDMs (1 - Pearson r), coords ``subject``
        (BE, KO, SN, TI) and ``session`` (1, 2) on ``rdm``.
    monkey_it : xarray.DataArray
        ``rdm`` stack (1, 92, 92): monkey IT, 674 neurons (Kiani et al. 2007), from the condensed
        figure-1 vector.
    human_it_316vx : xarray.DataArray
        ``rdm`` stack (1, 92, 92): human IT, 316 visually responsive voxels (figure 1).
    behaviour : xarray.DataArray
        ``rdm`` stack (16, 92, 92): similarity-judgement RDMs, coord ``subject`` 1..16.
    models : xarray.DataArray
        ``rdm`` stack (8, 92, 92): model RDMs, ``rdm`` coord = model name (animacy,
        FaceBodyManmadeNatobj, monkeyIT, EVA, HMAX, V1, Silhouette, RADON).
    """

    images: xr.DataArray | None = None
    human_it: xr.DataArray | None = None
    monkey_it: xr.DataArray | None = None
    human_it_316vx: xr.DataArray | None = None
    behaviour: xr.DataArray | None = None
    models: xr.DataArray | None = None

    @property
    def stimuli(self):
        """The stimulus table (category and flags) as a pandas DataFrame indexed by stimulus."""
        for f in fields(self):
            obj = getattr(self, f.name)
            if obj is not None:
                coords = [c for c in obj.coords if obj[c].dims == ("stimulus",) and c != "stimulus"]
                return obj.coords.to_dataset()[coords].to_dataframe()
        raise DatasetError("this Kriegeskorte92 object holds no part.")

    def rdms(self) -> dict[str, xr.DataArray]:
        """All RDM stacks present, by part name."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name != "images" and getattr(self, f.name) is not None
        }


# --------------------------------------------------------------------------- helpers


def _str(cell: Any) -> str:
    arr = np.asarray(cell)
    while arr.dtype == object and arr.size == 1:
        arr = np.asarray(arr.reshape(-1)[0])
    return str(arr.reshape(-1)[0]) if arr.size else ""


def _loadmat(path: Path, what: str) -> dict:
    from scipy.io import loadmat

    try:
        return loadmat(str(path))
    except Exception as err:  # scipy raises ValueError/TypeError/OSError for bad files
        raise BadInputError(f"cannot read {what} {path}: {err}. Delete it and re-fetch the dataset.") from err


def _stimulus_coords(suppl: dict) -> dict[str, tuple[str, np.ndarray]]:
    stim = suppl["stimuli_92objs"].reshape(-1)
    vectors = np.asarray(suppl["categoryVectors"])
    labels = [_str(c) for c in np.asarray(suppl["categoryLabels"]).reshape(-1)]
    if stim.size != N_STIM or vectors.shape != (N_STIM, len(labels)):
        raise BadInputError(
            f"{SUPPL}: expected {N_STIM} stimuli and a (92, {len(labels)}) categoryVectors, got "
            f"{stim.size} and {vectors.shape}; the file is not the published version."
        )
    coords: dict[str, tuple[str, np.ndarray]] = {
        "category": ("stimulus", np.array([_str(s["category"]) for s in stim], dtype=object)),
    }
    for j, label in enumerate(labels):
        coords[label] = ("stimulus", vectors[:, j].astype(bool))
    coords["natural"] = ("stimulus", np.array([bool(np.asarray(s["natural"]).reshape(-1)[0]) for s in stim]))
    return coords


def make_rdm_stack(
    matrices: np.ndarray,
    *,
    method: str,
    rdm: list[str],
    rdm_coords: dict[str, Any] | None = None,
    stimulus_coords: dict[str, tuple[str, np.ndarray]] | None = None,
    **attrs: Any,
) -> xr.DataArray:
    """Build an ``rdm`` stack (rdm, stimulus, stimulus_) from square matrices.

    Parameters
    ----------
    matrices : array (n_rdm, n, n)
        Square, symmetric dissimilarity matrices.
    method : str
        How dissimilarities were computed (e.g. ``"correlation"`` for 1 - Pearson r).
    rdm : list of str
        One unique label per matrix (the ``rdm`` coord).
    rdm_coords : dict, optional
        Extra per-matrix coords (``subject``, ``session``...).
    stimulus_coords : dict, optional
        Coords on ``stimulus`` (``category``...).
    """
    matrices = np.asarray(matrices)
    if matrices.ndim != 3 or matrices.shape[1] != matrices.shape[2]:
        raise BadInputError(f"RDMs must be (n_rdm, n, n) square matrices, got shape {matrices.shape}.")
    n = matrices.shape[1]
    coords: dict[str, Any] = {
        "rdm": np.array(rdm, dtype=object),
        "stimulus": np.arange(n),
        "stimulus_": np.arange(n),
    }
    for key, values in (rdm_coords or {}).items():
        coords[key] = ("rdm", np.asarray(values))
    coords.update(stimulus_coords or {})
    da = xr.DataArray(matrices, dims=("rdm", "stimulus", "stimulus_"), coords=coords, name="rdm")
    da.attrs.update({"nd_kind": "rdm", "method": method, **attrs})
    return da


def _square(vector: np.ndarray) -> np.ndarray:
    from scipy.spatial.distance import squareform

    vec = np.asarray(vector, dtype=float).reshape(-1)
    if vec.size != N_STIM * (N_STIM - 1) // 2:
        raise BadInputError(f"a condensed 92-stimulus RDM has 4186 entries, got {vec.size}.")
    return squareform(vec, checks=False)


# --------------------------------------------------------------------------- parts


def _images(suppl: dict, stim_coords) -> xr.DataArray:
    stim = suppl["stimuli_92objs"].reshape(-1)
    images = np.stack([np.asarray(s["image"], dtype=np.uint8) for s in stim])
    if images.shape[1:] != (175, 175, 3):
        raise BadInputError(f"{SUPPL}: expected 175x175 RGB images, got {images.shape[1:]}.")
    da = xr.DataArray(
        images,
        dims=("stimulus", "y", "x", "rgb"),
        coords={"stimulus": np.arange(N_STIM), "rgb": np.array(["r", "g", "b"], dtype=object), **stim_coords},
        name="images",
    )
    da.attrs.update({"dataset": "kriegeskorte92", "source": SUPPL, "description": "the 92 object images (uint8 RGB)"})
    return da


def _human_it(path: Path, stim_coords) -> xr.DataArray:
    rdms = _loadmat(path, "human IT RDMs")["RDMs"]
    n_subj, n_sess = rdms.shape[1], rdms.shape[2]
    mats, names, subjects, sessions = [], [], [], []
    for s in range(n_subj):
        for r in range(n_sess):
            entry = rdms[0, s, r]
            name = _str(entry["name"])  # e.g. "hIT | BE | Session: 1"
            parts = [p.strip() for p in name.split("|")]
            mats.append(np.asarray(entry["RDM"]))
            names.append(name)
            subjects.append(parts[1] if len(parts) > 1 else str(s + 1))
            sessions.append(int(parts[2].split(":")[-1]) if len(parts) > 2 else r + 1)
    return make_rdm_stack(
        np.stack(mats), method="correlation", rdm=names,
        rdm_coords={"subject": np.array(subjects, dtype=object), "session": np.array(sessions)},
        stimulus_coords=stim_coords, region="hIT", species="human", dataset="kriegeskorte92", source=BRAIN,
        description="human IT fMRI RDMs (1 - Pearson r), 4 subjects x 2 sessions",
    )


def _fig1(suppl: dict, index: int, stim_coords, *, region: str, species: str, description: str) -> xr.DataArray:
    entry = suppl["RDMs_mIT_hIT_fig1"].reshape(-1)[index]
    name = _str(entry["name"])
    return make_rdm_stack(
        _square(entry["RDM"])[None], method="correlation", rdm=[name], stimulus_coords=stim_coords,
        region=region, species=species, dataset="kriegeskorte92", source=f"{SUPPL}:RDMs_mIT_hIT_fig1",
        description=description,
    )


def _behaviour(path: Path, stim_coords) -> xr.DataArray:
    rdms = _loadmat(path, "behavioural RDMs")["rdms_behav_92"].reshape(-1)
    names = [_str(e["name"]) for e in rdms]  # "simJudge | subject1"
    subjects = [int(n.split("subject")[-1]) if "subject" in n else i + 1 for i, n in enumerate(names)]
    return make_rdm_stack(
        np.stack([np.asarray(e["RDM"], dtype=float) for e in rdms]), method="similarity judgement", rdm=names,
        rdm_coords={"subject": np.array(subjects)}, stimulus_coords=stim_coords, species="human",
        dataset="kriegeskorte92", source=BEHAV, description="16 subjects' similarity-judgement RDMs",
    )


def _models(path: Path, stim_coords) -> xr.DataArray:
    models = _loadmat(path, "model RDMs")["Models"].reshape(-1)
    names = [_str(e["name"]) for e in models]
    return make_rdm_stack(
        np.stack([np.asarray(e["RDM"], dtype=float) for e in models]), method="model", rdm=names,
        stimulus_coords=stim_coords, dataset="kriegeskorte92", source=MODELS,
        description="model RDMs (animacy, category, monkey IT, EVA, HMAX, V1, silhouette, RADON)",
    )


def brain_stack(k: Kriegeskorte92, regions: tuple[str, ...] = BRAIN_REGIONS) -> xr.DataArray:
    """One RDM stack of the brain and behaviour data with ``region`` and ``subject`` coords on ``rdm``.

    ``human_it``: one RDM per subject (BE, KO, SN, TI), the two sessions averaged; ``monkey_it``: the
    single 674-cell RDM (subject ``monkey_it0``); ``behaviour``: one similarity-judgement RDM per
    subject (1..16). This is the brain input of the layer-vs-brain comparison
    (``pipelines/compare_layers_kriegeskorte92.yaml``).
    """
    parts = []
    for region in regions:
        stack = getattr(k, region)
        if stack is None:
            raise DatasetError(f"the Kriegeskorte92 object holds no {region!r} part.")
        if region == "human_it":
            stack = stack.groupby("subject").mean("rdm").rename(subject="rdm")
            stack = stack.assign_coords(subject=("rdm", stack["rdm"].values.astype(str)))
        elif "subject" not in stack.coords:
            stack = stack.assign_coords(subject=("rdm", [f"{region}{i}" for i in range(stack.sizes["rdm"])]))
        else:
            stack = stack.assign_coords(subject=("rdm", np.asarray(stack["subject"].values).astype(str)))
        stack = stack.drop_vars([c for c in stack.coords if stack[c].dims == ("rdm",) and c != "subject"])
        stack = stack.assign_coords(region=("rdm", [region] * stack.sizes["rdm"]),
                                    subject=("rdm", stack["subject"].values.astype(object)))
        parts.append(stack.transpose("rdm", "stimulus", "stimulus_"))
    out = xr.concat(parts, dim="rdm", coords="minimal", compat="override", combine_attrs="drop")
    out = out.assign_coords(rdm=np.arange(out.sizes["rdm"]))
    out.name = "rdm"
    out.attrs.update({"nd_kind": "rdm", "method": "correlation", "dataset": "kriegeskorte92",
                      "description": "human IT (4 subjects, sessions averaged), monkey IT (674 cells) and "
                                     "behaviour (16 subjects) RDMs; coords region and subject on rdm"})
    return out


# --------------------------------------------------------------------------- entry point


def load_kriegeskorte92(paths: dict[str, Path], part: str | None = None):
    """Build the :class:`Kriegeskorte92` object (or one part of it) from the verified files.

    Parameters
    ----------
    paths : dict
        Relative path -> Path, from :func:`neurodecode.datasets.files`.
    part : str, optional
        One of :data:`PARTS`; return only that DataArray.
    """
    if part == "brain":
        k = load_kriegeskorte92(paths, "human_it")
        whole = Kriegeskorte92(human_it=k, monkey_it=load_kriegeskorte92(paths, "monkey_it"),
                               behaviour=load_kriegeskorte92(paths, "behaviour"))
        return brain_stack(whole)
    wanted = [p for p in PARTS if p != "brain"] if part is None else [part]
    suppl = _loadmat(paths[SUPPL], "supplemental data")
    stim_coords = _stimulus_coords(suppl)
    out = Kriegeskorte92()
    for name in wanted:
        if name == "images":
            out.images = _images(suppl, stim_coords)
        elif name == "human_it":
            out.human_it = _human_it(paths[BRAIN], stim_coords)
        elif name == "monkey_it":
            out.monkey_it = _fig1(suppl, 0, stim_coords, region="IT", species="macaque",
                                  description="monkey IT RDM, 674 neurons (Kiani et al. 2007), 1 - Pearson r")
        elif name == "human_it_316vx":
            out.human_it_316vx = _fig1(suppl, 1, stim_coords, region="hIT", species="human",
                                       description="human IT RDM, 316 visually responsive voxels, 1 - Pearson r")
        elif name == "behaviour":
            out.behaviour = _behaviour(paths[BEHAV], stim_coords)
        elif name == "models":
            out.models = _models(paths[MODELS], stim_coords)
    return getattr(out, part) if part is not None else out
