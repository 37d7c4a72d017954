"""Exceptions meant for the user. The CLI prints them without a traceback (exit 2).

Every message names the file (or argument) and the problem, e.g.
``DataError("Images/x/y.jpg: truncated JPEG (cannot decode)")``.
"""


class MlrsirError(Exception):
    """Base class of errors that are the user's input, not a bug."""


class DataError(MlrsirError):
    """A dataset, image or label file is missing, malformed or inconsistent."""


class ConfigError(MlrsirError):
    """An argument or configuration value cannot be used."""


class IndexStoreError(MlrsirError):
    """An index file is missing, corrupt, or made by another model."""


class WeightsUnavailableError(MlrsirError):
    """Pretrained weights cannot be loaded (e.g. offline and not cached)."""


def registered_name(name: str, registry, what: str) -> str:
    """The key of ``registry`` for ``name`` (case-insensitive); ConfigError naming ``what``
    (e.g. ``"method"``) and listing the choices."""
    key = str(name).lower()
    if key not in registry:
        raise ConfigError(f"{what}={name!r}: unknown {what}; choose one of {', '.join(registry)}")
    return key
