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

from .ceiling import NoiseCeiling, noise_ceiling
from .compare import compare
from .convert import from_rsatoolbox, to_rsatoolbox
from .rdm import RDM_METHODS, rdm
from ._methods import METHODS, Method, get_method, register
from .similarity import similarity
from .predictivity import assign_layers_heldout, predictivity, split_half_reliability
from .rdm_unbalanced import rdm_unbalanced
from .noise import cov_from_measurements, cov_from_residuals, prec_from_measurements, prec_from_residuals
from .encoding import assign_layers, fit_encoding, normalise_by_ceiling
from .inference import bootstrap, fdr, paired_test, permutation_test
from .trsa import geodesic, geotopological, plot_sweep, rgtm, sweep
from .layers import (best_layers, brain_rdms, combine_brain, compare_layer_activations, compare_layers,
                     compare_layers_over_time, heldout_layer_assignment, layer_activations, layer_rdms,
                     match_stimuli, trsa_layers)

def __getattr__(name: str):
    if name == "COMPARE_METHODS":  # the RDM comparison methods of the registry
        from ._methods import names

        return names(compares="rdm")
    raise AttributeError(name)


__all__ = [
    "rdm",
    "compare",
    "noise_ceiling",
    "NoiseCeiling",
    "to_rsatoolbox",
    "from_rsatoolbox",
    "METHODS",
    "Method",
    "get_method",
    "register",
    "RDM_METHODS",
    "COMPARE_METHODS",
    "similarity",
    "predictivity",
    "split_half_reliability",
    "assign_layers_heldout",
    "rdm_unbalanced",
    "prec_from_residuals",
    "prec_from_measurements",
    "cov_from_residuals",
    "cov_from_measurements",
    # inference (bootstrap CIs, tests), topological RSA, encoding models
    "bootstrap",
    "paired_test",
    "permutation_test",
    "fdr",
    "geotopological",
    "geodesic",
    "rgtm",
    "sweep",
    "plot_sweep",
    "fit_encoding",
    "normalise_by_ceiling",
    "assign_layers",
    # layers of networks vs brain regions (neurodecode compare)
    "layer_rdms",
    "brain_rdms",
    "match_stimuli",
    "compare_layers",
    "compare_layers_over_time",
    "combine_brain",
    "layer_activations",
    "compare_layer_activations",
    "best_layers",
    "heldout_layer_assignment",
    "trsa_layers",
]
