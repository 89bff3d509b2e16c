"""Exception types. Every error says what was wrong and what to do about it."""

from __future__ import annotations


class NeurodecodeError(Exception):
    """Base class of every error raised on purpose by neurodecode."""


class DataModelError(NeurodecodeError, ValueError):
    """An object does not follow the labelled data model (missing dim, coord or attr)."""


class BadInputError(NeurodecodeError, ValueError):
    """Input data is malformed: truncated file, NaN/inf, wrong sampling rate, empty selection..."""


class EmptySelectionError(BadInputError):
    """A selection (events, epochs, trials) kept nothing: every candidate was dropped or none matched."""


class DatasetError(NeurodecodeError, OSError):
    """A registered dataset file is missing, cannot be fetched, or fails its checksum."""


class ConfigError(NeurodecodeError, ValueError):
    """A pipeline YAML file is invalid; the message names the offending key."""


class MissingDependencyError(NeurodecodeError, ImportError):
    """An optional dependency is not installed; the message names the pip command."""
