"""Reconstruction back-ends: the head model and fitter behind a reconstruction.

- ``anny`` (default, built in): :mod:`.anny`;
- ``flame``, ``deca``, ``emoca``: bring-your-own FLAME / DECA / EMOCA files, found in
  ``--model-dir`` or ``$HEADFORGE_MODEL_DIR`` (:mod:`.registry` says which file is missing and
  where it is published): :mod:`.flame_backend`.

    available_backends()            # ["anny", ...] the ones whose files are all there
    all_status()                    # one BackendStatus per back-end: ready, or what is missing
    load_backend("deca", "~/flame-models")
"""
from __future__ import annotations

from pathlib import Path

from headforge.backends.registry import (
    REQUIREMENTS,
    BackendStatus,
    all_status,
    available_backends,
    backend_status,
    model_dir,
)  # fmt: skip

BACKEND_NAMES = tuple(REQUIREMENTS)


def load_backend(name: str = "anny", folder: str | Path | None = None):
    """The back-end ``name`` with its models loaded (:class:`headforge.backends.base.Backend`).
    Raises :class:`headforge.errors.ModelError` (one line: the missing or wrong file and where
    it is published) when it cannot run here."""
    if name == "anny":
        from headforge.backends.anny import AnnyBackend

        return AnnyBackend()
    from headforge.backends.flame_backend import load_flame_backend

    return load_flame_backend(name, folder)


__all__ = ["BACKEND_NAMES", "BackendStatus", "all_status", "available_backends", "backend_status", "load_backend",
           "model_dir"]
