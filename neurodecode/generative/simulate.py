"""Simulated brains that saw real images, with a known encoding model (ground truth for decoding).

A simulated subject's voxel ``v`` responds to image ``i`` as

    signal[i, v] = g( z(features[i]) @ W[:, v] )          (a fixed random linear-nonlinear model)
    response[i, r, v] = signal[i, v] + noise[i, r, v],    noise ~ N(0, var_i(signal[:, v]) / snr)

where ``features`` are EfficientNet-Lite0 features of the images (:func:`image_features`, via
:func:`neurodecode.models.extract`), ``z`` z-scores each feature over the images, ``W`` has
independent N(0, 1/d) entries drawn from the seed, ``g`` is a fixed nonlinearity (softplus by
default), ``r`` indexes repeats and the noise variance of each voxel is its signal variance (over
the distinct images) divided by ``snr``. So the signal-to-noise ratio of every voxel is ``snr`` by
construction: ``var(signal) / var(noise)`` per single trial.

Several subjects with different voxel counts get independent ``W`` (and noise). The same seed gives
the same weights, signal and unit noise, and a different ``snr`` only rescales the noise: runs at
several SNRs are paired. :func:`muse_images` reads the 96 face/house images of the Muse N170 data
set; the 92 Kriegeskorte images come from ``neurodecode.datasets.load("kriegeskorte92").images``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import BadInputError

__all__ = ["SimulatedBrains", "simulate_responses", "image_features", "muse_images", "NONLINEARITIES"]

#: Names of the output nonlinearities ``g``.
NONLINEARITIES = ("softplus", "relu", "linear", "tanh")


def _nonlinearity(name: str, x: np.ndarray) -> np.ndarray:
    if name == "softplus":
        return np.logaddexp(0.0, x)
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "tanh":
        return np.tanh(x)
    if name == "linear":
        return x
    raise BadInputError(f"unknown nonlinearity {name!r}; use one of {NONLINEARITIES}.")


def image_features(
    images: Any,
    layer: str | Sequence[str] = "avgpool",
    *,
    model: str = "efficientnet_lite0",
    pooling: str = "avg",
    batch_size: int = 32,
    device: str | None = None,
) -> xr.DataArray:
    """Pooled EfficientNet-Lite0 (zoo model) features of images, ``(stimulus, feature)``.

    Parameters
    ----------
    images : DataArray (stimulus, y, x, rgb), uint8 array (n, h, w, 3) or list of paths
        The stimuli (see :func:`neurodecode.models.extract`).
    layer : str or list of str
        Layer(s) of the network (:func:`neurodecode.models.layer_names`); several layers are
        concatenated along ``feature`` (coord ``layer`` says which). Default ``avgpool``: the 1280
        pooled features of the last feature map.
    model : str
        Zoo name (ImageNet weights, offline).
    pooling : str
        Pooling of each layer (``avg``: global average over space).
    batch_size, device
        As in :func:`neurodecode.models.extract`.

    Returns
    -------
    xarray.DataArray
        float32 ``(stimulus, feature)`` with the stimulus coords of the input and coord ``layer`` on
        ``feature``.
    """
    from ..models import extract, load_model

    layers = [layer] if isinstance(layer, str) else list(layer)
    net = load_model(model)
    acts = extract(net, images, layers=layers, pooling=pooling, batch_size=batch_size, device=device,
                   progress=False)
    parts = [np.asarray(acts[name].values, dtype=np.float32) for name in layers]
    data = np.concatenate(parts, axis=1)
    coords: dict[str, Any] = {
        "stimulus": acts["stimulus"].values,
        "layer": ("feature", np.concatenate([[name] * p.shape[1] for name, p in zip(layers, parts)]).astype(object)),
    }
    for name, coord in acts.coords.items():
        if coord.dims == ("stimulus",) and name != "stimulus":
            coords[name] = ("stimulus", coord.values)
    da = xr.DataArray(data, dims=("stimulus", "feature"), coords=coords, name="features")
    da.attrs.update({"model": model, "layers": layers, "pooling": pooling})
    return da


def muse_images(folder: str | Path | None = None, size: int = 175) -> xr.DataArray:
    """The 48 face and 48 house images of the Muse N170 task as a ``(stimulus, y, x, rgb)`` DataArray.

    Parameters
    ----------
    folder : path, optional
        The ``stim`` folder holding ``faces/`` and ``houses/``; default
        ``<data home>/muse_n170/stim``.
    size : int
        Images are resized to ``size x size`` (the originals are 400 x 400 grey-scale JPEGs,
        returned as RGB with three equal channels).

    Returns
    -------
    xarray.DataArray
        uint8, 96 stimuli (faces first, then houses, each sorted by file name), coords
        ``stimulus`` (file stem), ``category`` (``face``/``house``) and ``path``.
    """
    from ..models import load_images

    if folder is None:
        from ..datasets.registry import data_home

        folder = data_home() / "muse_n170" / "stim"
    folder = Path(folder)
    paths, cats = [], []
    for cat, sub in (("face", "faces"), ("house", "houses")):
        d = folder / sub
        if not d.is_dir():
            raise BadInputError(
                f"{d} does not exist; the Muse N170 stimuli live in <data home>/muse_n170/stim/{{faces,houses}} "
                "(set NEURODECODE_DATA)."
            )
        files = sorted(p for p in d.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if not files:
            raise BadInputError(f"no images in {d}.")
        paths += files
        cats += [cat] * len(files)
    da = load_images(paths, size=int(size))
    return da.assign_coords(category=("stimulus", np.asarray(cats, dtype=object)))


@dataclass
class SimulatedBrains:
    """Simulated responses of several subjects to one image set, with their ground truth.

    Attributes
    ----------
    responses : list of xarray.DataArray
        One per subject, kind ``responses``: ``(trial, neuroid)`` float32, trials ordered
        stimulus-major (``trial = stimulus_index * n_repeats + repeat``), coords ``stimulus``,
        ``stimulus_index`` (0-based position in the image set), ``repeat``, ``subject`` and the
        stimulus coords of the features (e.g. ``category``); attrs ``snr``, ``seed``.
    signal : list of numpy.ndarray
        One ``(n_stimuli, n_voxels)`` noiseless response per subject.
    noise_sd : list of numpy.ndarray
        One ``(n_voxels,)`` noise standard deviation per subject.
    weights : list of numpy.ndarray
        One ``(n_features, n_voxels)`` encoding matrix per subject.
    features : xarray.DataArray
        ``(stimulus, feature)`` the features the brains encode.
    snr, seed, nonlinearity, n_repeats
        The settings.
    """

    responses: list[xr.DataArray]
    signal: list[np.ndarray]
    noise_sd: list[np.ndarray]
    weights: list[np.ndarray]
    features: xr.DataArray
    snr: float
    seed: int
    nonlinearity: str
    n_repeats: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_subjects(self) -> int:
        return len(self.responses)

    def measured_snr(self) -> list[float]:
        """Per subject: mean over voxels of var(signal over stimuli) / var(noise over trials)."""
        out = []
        for resp, sig in zip(self.responses, self.signal):
            idx = np.asarray(resp["stimulus_index"].values)
            noise = np.asarray(resp.values, dtype=np.float64) - sig[idx]
            out.append(float(np.mean(sig.var(axis=0) / noise.var(axis=0))))
        return out

    def mean_responses(self, subject: int) -> np.ndarray:
        """``(n_stimuli, n_voxels)`` average over repeats of one subject."""
        resp = self.responses[subject]
        idx = np.asarray(resp["stimulus_index"].values)
        n = self.signal[subject].shape[0]
        sums = np.zeros((n, resp.shape[1]))
        np.add.at(sums, idx, np.asarray(resp.values, dtype=np.float64))
        return sums / np.bincount(idx, minlength=n)[:, None]


def simulate_responses(
    features: Any,
    *,
    n_voxels: int | Sequence[int] = (300, 400, 500),
    snr: float = 1.0,
    n_repeats: int = 2,
    nonlinearity: str = "softplus",
    gain: float = 1.0,
    seed: int = 0,
) -> SimulatedBrains:
    """Simulate voxel responses of several subjects from image features (see the module docstring).

    Parameters
    ----------
    features : DataArray (stimulus, feature) or array (n_stimuli, n_features)
        Features of the images (e.g. :func:`image_features`); they are z-scored per feature
        (constant features are dropped from the encoding and listed in ``info``).
    n_voxels : int or sequence of int
        Voxels per subject (one subject per entry).
    snr : float
        Single-trial signal-to-noise ratio of every voxel, ``var(signal) / var(noise)`` (> 0).
    n_repeats : int
        Presentations of every image (independent noise each).
    nonlinearity : {"softplus", "relu", "linear", "tanh"}
        The output nonlinearity ``g`` applied to ``gain * z(features) @ W``.
    gain : float
        Scale of the drive before ``g`` (with softplus: larger = more rectified).
    seed : int
        Seeds the weights and the noise (same seed, same data; the noise is drawn as unit normals
        scaled per voxel, so runs that differ only in ``snr`` are paired).

    Returns
    -------
    SimulatedBrains

    Raises
    ------
    BadInputError
        Bad features (NaN/inf, fewer than 2 stimuli or no varying feature), ``snr <= 0``, bad voxel
        counts or repeats, unknown nonlinearity, a voxel whose signal is constant.
    """
    if isinstance(features, xr.DataArray):
        if features.ndim != 2 or "stimulus" not in features.dims:
            raise BadInputError(f"features must be a (stimulus, feature) DataArray, got dims {features.dims}.")
        feats = features.transpose("stimulus", ...)
    else:
        arr = np.asarray(features)
        if arr.ndim != 2:
            raise BadInputError(f"features must be 2-D (n_stimuli, n_features), got shape {arr.shape}.")
        feats = xr.DataArray(arr, dims=("stimulus", "feature"), coords={"stimulus": np.arange(arr.shape[0])})
    F = np.asarray(feats.values, dtype=np.float64)
    if F.shape[0] < 2:
        raise BadInputError(f"need at least 2 stimuli to simulate responses, got {F.shape[0]}.")
    if not np.all(np.isfinite(F)):
        raise BadInputError("features hold NaN or inf; fix the feature extraction first.")
    if not (float(snr) > 0 and np.isfinite(float(snr))):
        raise BadInputError(f"snr must be a positive finite number, got {snr!r}.")
    voxels = [int(n_voxels)] if np.isscalar(n_voxels) else [int(v) for v in n_voxels]
    if not voxels or any(v < 1 for v in voxels):
        raise BadInputError(f"n_voxels must be positive counts, got {n_voxels!r}.")
    if int(n_repeats) != n_repeats or n_repeats < 1:
        raise BadInputError(f"n_repeats must be an integer >= 1, got {n_repeats!r}.")
    if nonlinearity not in NONLINEARITIES:
        raise BadInputError(f"unknown nonlinearity {nonlinearity!r}; use one of {NONLINEARITIES}.")
    sd = F.std(axis=0)
    live = sd > 1e-8 * max(1.0, float(np.abs(F).max()))
    if not live.any():
        raise BadInputError("every feature is constant over the stimuli; nothing to encode.")
    Z = (F[:, live] - F[:, live].mean(axis=0)) / sd[live]
    d = Z.shape[1]
    n = Z.shape[0]
    root = np.random.SeedSequence(int(seed))
    stim_coords = {name: c.values for name, c in feats.coords.items() if c.dims == ("stimulus",) and name != "stimulus"}
    stim_ids = np.asarray(feats["stimulus"].values) if "stimulus" in feats.coords else np.arange(n)
    responses, signals, noise_sds, weights = [], [], [], []
    for s, (v, child) in enumerate(zip(voxels, root.spawn(len(voxels)))):
        rng_w, rng_n = (np.random.default_rng(c) for c in child.spawn(2))
        W = rng_w.normal(scale=1.0 / np.sqrt(d), size=(d, v))
        sig = _nonlinearity(nonlinearity, float(gain) * (Z @ W))
        var = sig.var(axis=0)
        if np.any(var <= 0):
            raise BadInputError(
                f"subject {s}: {int(np.sum(var <= 0))} voxel(s) have a constant signal (all rectified); "
                "lower the gain or use another nonlinearity."
            )
        nsd = np.sqrt(var / float(snr))
        unit = rng_n.standard_normal(size=(n, int(n_repeats), v))
        resp = (sig[:, None, :] + unit * nsd).reshape(n * int(n_repeats), v)
        idx = np.repeat(np.arange(n), int(n_repeats))
        coords = {
            "trial": np.arange(n * int(n_repeats)),
            "neuroid": np.arange(v),
            "stimulus": ("trial", stim_ids[idx]),
            "stimulus_index": ("trial", idx),
            "repeat": ("trial", np.tile(np.arange(int(n_repeats)), n)),
            "subject": ("trial", np.full(idx.size, s)),
        }
        for name, values in stim_coords.items():
            coords[name] = ("trial", np.asarray(values)[idx])
        da = xr.DataArray(resp.astype(np.float32), dims=("trial", "neuroid"), coords=coords, name="responses")
        da.attrs.update({"nd_kind": "responses", "snr": float(snr), "seed": int(seed), "subject": s,
                         "simulated": "linear-nonlinear encoding of image features + Gaussian noise"})
        responses.append(da)
        signals.append(sig)
        noise_sds.append(nsd)
        weights.append(W)
    info = {"n_features_used": int(d), "dropped_constant_features": int((~live).sum()), "gain": float(gain)}
    return SimulatedBrains(responses, signals, noise_sds, weights, feats, float(snr), int(seed), nonlinearity,
                           int(n_repeats), info)
