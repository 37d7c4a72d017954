"""The registry of search back-ends: each carries its own facts.

Adding a back-end is one class (a :class:`mlrsir.index.backends.Backend`) and one
:func:`register_backend` call; the CLI's ``--backend`` help and checks, ``auto``,
``mlrsir bench search`` defaults and the saved-structure path read what is registered here,
never a list of names of their own.

Facts of a back-end (:class:`BackendSpec`):

* ``name``, ``aliases``: what ``--backend`` accepts (``flat`` is ``faiss``);
* ``factory(bits, **options)``: builds an empty back-end, ``options``: the keyword options it takes;
* ``exact``: whether its results equal the numpy oracle's (ties included);
* ``needs_faiss``: whether it needs the faiss-cpu package;
* ``saved``: whether its structure is saved beside the index (``mlrsir index ivf``) and kept
  up to date by ``build``/``add``/``remove``/``compact`` instead of being rebuilt per process;
* ``in_scale_bench``: whether ``mlrsir bench search`` measures it by default;
* ``summary``: one phrase for the help text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlrsir.errors import ConfigError


@dataclass(frozen=True)
class BackendSpec:
    """What the rest of mlrsir knows about one search back-end (module doc)."""

    name: str
    factory: Callable[..., Any]
    summary: str
    exact: bool
    needs_faiss: bool = True
    saved: bool = False
    in_scale_bench: bool = False
    options: tuple[str, ...] = ()
    aliases: tuple[str, ...] = field(default_factory=tuple)


_REGISTRY: dict[str, BackendSpec] = {}
_ALIASES: dict[str, str] = {}


def _builtins() -> dict[str, BackendSpec]:
    """The registry, with the built-in back-ends of :mod:`mlrsir.index.backends` registered
    (importing that module registers them; it imports this one, so not at the top)."""
    import mlrsir.index.backends  # noqa: F401, PLC0415

    return _REGISTRY


def register_backend(spec: BackendSpec) -> BackendSpec:
    """Add ``spec`` to the registry; a name or alias already taken is a ``ValueError``."""
    for name in (spec.name, *spec.aliases):
        if name in _REGISTRY or name in _ALIASES or name == "auto":
            raise ValueError(f"search back-end name {name!r} is already registered")
    _REGISTRY[spec.name] = spec
    _ALIASES.update({alias: spec.name for alias in spec.aliases})
    return spec


def unregister_backend(name: str) -> None:
    """Remove a registered back-end and its aliases (tests register temporary ones)."""
    spec = _REGISTRY.pop(name)
    for alias in spec.aliases:
        _ALIASES.pop(alias, None)


def backend_names() -> tuple[str, ...]:
    """Canonical names of the registered back-ends, in registration order."""
    return tuple(_builtins())


def resolve_alias(name: str) -> str:
    """The canonical name of ``name`` (an alias resolved; other names unchanged)."""
    return _ALIASES.get(name, name)


def backend_spec(name: str) -> BackendSpec:
    """The spec of a back-end by name or alias; an unknown name is a ConfigError listing the choices."""
    spec = _builtins().get(resolve_alias(name))
    if spec is None:
        raise ConfigError(f"unknown search back-end {name!r} (choose {', '.join(accepted_names())})")
    return spec


def accepted_names() -> list[str]:
    """Every name ``--backend`` accepts: ``auto``, the canonical names, then the aliases."""
    return ["auto", *_builtins(), *_ALIASES]


def backend_help() -> str:
    """The ``--backend`` help text, made from the registry."""
    parts = []
    for spec in _builtins().values():
        alias = f" (= {', '.join(spec.aliases)})" if spec.aliases else ""
        parts.append(f"{spec.name}{alias}: {spec.summary}")
    return "auto (exact flat scan, the saved IVF from 2M items) or one of: " + "; ".join(parts)


def scale_bench_backends() -> list[str]:
    """The back-ends ``mlrsir bench search`` measures by default."""
    return [spec.name for spec in _builtins().values() if spec.in_scale_bench]
