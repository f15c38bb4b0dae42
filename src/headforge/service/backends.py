"""Reconstruction back-ends as the service sees them: names a job may ask for, and how a worker
loads one. The back-ends themselves are :mod:`headforge.backends` (``anny`` built in; ``flame``,
``deca``, ``emoca`` when their files are in ``$HEADFORGE_MODEL_DIR``).
"""
from __future__ import annotations

from collections.abc import Callable

from headforge.service.errors import UnknownBackendError

DEFAULT_BACKEND = "anny"


def backend_names() -> tuple[str, ...]:
    """Every back-end a job may name (whether or not its files are on this machine)."""
    from headforge.backends import BACKEND_NAMES

    return BACKEND_NAMES


def local_backends() -> list[str]:
    """The back-ends whose files are on this machine."""
    from headforge.backends import available_backends

    return list(available_backends())


def check_backend(name: str) -> str:
    if name not in backend_names():
        raise UnknownBackendError(f"unknown back-end {name!r}; choose from {', '.join(backend_names())}")
    return name


def load_backend(name: str) -> Callable:
    """A warmed-up :class:`headforge.pipeline.Reconstructor` for back-end ``name`` (seconds:
    models; the first reconstruction pays one-off set-up costs, so one is run here)."""
    import skimage.data

    from headforge.pipeline import Options, Reconstructor

    reconstructor = Reconstructor(check_backend(name))
    reconstructor.warm_up()
    reconstructor(skimage.data.astronaut(), Options(texture_size=512))
    return reconstructor
