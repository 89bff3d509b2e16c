"""Representational similarity analysis (RSA) and representational comparison.

RDMs, RDM comparison, noise ceilings, inference; and direct comparisons of
(stimulus, feature) representations (:func:`similarity`: CKA, shape metrics,
CCA, nearest-neighbour alignment). Every comparison method is declared once in
the registry :data:`METHODS` (name -> :class:`Method`); :data:`RDM_METHODS`
lists the dissimilarity measures of :func:`rdm`.

Everything is importable without torch (torch, numba and rsatoolbox are
imported inside the functions that use them)::

    from neurodecode.analysis import rdm, compare, noise_ceiling

    rdms = rdm(responses, "correlation")          # (rdm, stimulus, stimulus_) stack
    sim = compare(rdms, model_rdms, "spearman")   # (rdm_a, rdm_b) similarities
    lower, upper = noise_ceiling(rdms, "spearman")

Conventions match rsatoolbox (see ``docs/rsa.md``); :func:`to_rsatoolbox` and
:func:`from_rsatoolbox` convert RDM stacks both ways.
"""

from __future__ import annotations

from typing import Any

from .._lazy import attach

# To add a public name: one line "name": "submodule" below. _SUBMODULES are importable as attributes; a module
# named like its function (rdm, compare, similarity, predictivity, rdm_unbalanced) is not listed: the attribute is
# the function (lazy_loader keeps it so even after ``import neurodecode.analysis.rdm``).
_SUBMODULES = ("ceiling", "convert", "noise", "encoding", "inference", "trsa", "layers", "cca", "cka", "knn",
               "shape")
_NAMES = {
    "rdm": "rdm",
    "RDM_METHODS": "rdm",
    "compare": "compare",
    "noise_ceiling": "ceiling",
    "NoiseCeiling": "ceiling",
    "to_rsatoolbox": "convert",
    "from_rsatoolbox": "convert",
    "METHODS": "_methods",
    "Method": "_methods",
    "get_method": "_methods",
    "register": "_methods",
    "similarity": "similarity",
    "predictivity": "predictivity",
    "split_half_reliability": "predictivity",
    "assign_layers_heldout": "predictivity",
    "rdm_unbalanced": "rdm_unbalanced",
    "prec_from_residuals": "noise",
    "prec_from_measurements": "noise",
    "cov_from_residuals": "noise",
    "cov_from_measurements": "noise",
    # inference (bootstrap CIs, tests), topological RSA, encoding models
    "bootstrap": "inference",
    "paired_test": "inference",
    "t_test": "inference",
    "permutation_test": "inference",
    "fdr": "inference",
    "geotopological": "trsa",
    "geodesic": "trsa",
    "rgtm": "trsa",
    "sweep": "trsa",
    "plot_sweep": "trsa",
    "fit_encoding": "encoding",
    "normalise_by_ceiling": "encoding",
    "assign_layers": "encoding",
    # layers of networks vs brain regions (neurodecode compare)
    "layer_rdms": "layers",
    "brain_rdms": "layers",
    "match_stimuli": "layers",
    "compare_layers": "layers",
    "compare_layers_over_time": "layers",
    "combine_brain": "layers",
    "layer_activations": "layers",
    "compare_layer_activations": "layers",
    "best_layers": "layers",
    "heldout_layer_assignment": "layers",
    "trsa_layers": "layers",
    # time-resolved RSA on epochs
    "time_resolved_rsa": "time_resolved",
    "category_rdm": "time_resolved",
    "pseudo_conditions": "time_resolved",
    "assign_splits": "time_resolved",
}

_getattr, _dir, __all__ = attach(__name__, submodules=_SUBMODULES, names=_NAMES)
__all__ = [*__all__, "COMPARE_METHODS"]


def __getattr__(name: str) -> Any:
    if name == "COMPARE_METHODS":  # the RDM comparison methods of the registry, read when asked
        from ._methods import names

        return names(compares="rdm")
    return _getattr(name)


def __dir__() -> list[str]:
    return sorted(__all__)
