"""Representational similarity analysis (RSA): RDMs, RDM comparison, noise ceilings.

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
from .compare import COMPARE_METHODS, compare
from .convert import from_rsatoolbox, to_rsatoolbox
from .rdm import METHODS, rdm
from .encoding import assign_layers, fit_encoding, normalise_by_ceiling
from .inference import bootstrap, fdr, paired_test, permutation_test
from .trsa import geodesic, geotopological, plot_sweep, rgtm, sweep

__all__ = [
    "rdm",
    "compare",
    "noise_ceiling",
    "NoiseCeiling",
    "to_rsatoolbox",
    "from_rsatoolbox",
    "METHODS",
    "COMPARE_METHODS",
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
]
