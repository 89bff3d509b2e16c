"""The shared parameter docs (neurodecode._docs) and the deprecation of renamed parameters (neurodecode._deprecate)."""

from __future__ import annotations

import warnings

import pytest

from neurodecode._deprecate import renamed_params
from neurodecode._docs import docdict, fill_doc


def test_fill_doc_inserts_the_shared_text_indented():
    @fill_doc
    def f(x, device="auto", seed=0):
        """Do it.

        Parameters
        ----------
        x : int
            The input.
        %(device)s
        %(seed)s
        """

    lines = f.__doc__.splitlines()
    first = docdict["device"].splitlines()
    assert "        " + first[0] in lines and "        " + docdict["device"].splitlines()[1] in lines
    assert "%(" not in f.__doc__


def test_fill_doc_rejects_an_unknown_name():
    def g():
        """%(no_such_parameter)s"""

    with pytest.raises(KeyError, match="no_such_parameter"):
        fill_doc(g)


def test_renamed_parameter_warns_and_forwards():
    @renamed_params(num_threads="threads")
    def h(*, threads=None):
        return threads

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert h(threads=2) == 2  # the new name: no warning
    with pytest.warns(FutureWarning, match="'num_threads' is now called 'threads'"):
        assert h(num_threads=3) == 3
    with pytest.raises(TypeError, match="both"):
        h(num_threads=1, threads=1)


def test_renamed_library_parameters_warn_and_still_work():
    from neurodecode.encoders.estimators import EncoderClassifier
    from neurodecode.generative.heads import MLPHead
    from neurodecode.train.trainer import TrainConfig, resolve_device

    with pytest.warns(FutureWarning) as caught:
        head = MLPHead(epochs=5, num_threads=1)
    assert head.max_epochs == 5 and head.threads == 1
    assert {str(w.message).split("'")[1] for w in caught} == {"epochs", "num_threads"}
    with pytest.warns(FutureWarning, match="'num_threads' is now called 'threads'"):
        assert TrainConfig(num_threads=2).threads == 2
    params = EncoderClassifier().get_params()
    assert "threads" in params and "num_threads" not in params  # scikit-learn sees the new names only
    with pytest.warns(FutureWarning):
        assert EncoderClassifier(num_threads=1).threads == 1
    assert resolve_device(None) == resolve_device("auto")  # None means "auto"
