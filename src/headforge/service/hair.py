"""Hairstyles for the service: the catalogue, thumbnails and try-on on a fitted head.

A hair choice is ``"auto"`` (the person's own hair, read from the photo by the pipeline),
``"none"`` or a style id from the catalogue. The catalogue and try-on come from
:mod:`headforge.hair` when it provides ``list_hairstyles()`` (records with ``id`` and ``name``),
``thumbnail(style_id) -> PNG bytes`` and ``try_on(avatar, style_id) -> Avatar``; without them
the catalogue is empty (the page hides its gallery) and any named style is refused as unknown.
"""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType

from headforge.avatar import Avatar
from headforge.service.errors import UnknownHairstyleError

AUTO, NONE = "auto", "none"
_API = ("list_hairstyles", "thumbnail", "try_on")


@dataclass(frozen=True)
class Hairstyle:
    id: str
    name: str


@lru_cache(maxsize=1)
def hair_library() -> ModuleType | None:
    """:mod:`headforge.hair` if it is installed and has the functions used here, else None."""
    try:
        module = importlib.import_module("headforge.hair")
    except ImportError:
        return None
    return module if all(callable(getattr(module, name, None)) for name in _API) else None


def catalogue() -> list[Hairstyle]:
    """Every style the library offers, in its order; empty without the library."""
    library = hair_library()
    if library is None:
        return []
    return [Hairstyle(str(_field(s, "id")), str(_field(s, "name"))) for s in library.list_hairstyles()]


def thumbnail(style_id: str) -> bytes:
    """The style's PNG thumbnail; raises UnknownHairstyleError."""
    check_choice(style_id)
    if style_id in (AUTO, NONE):
        raise UnknownHairstyleError(f"{style_id!r} is a choice, not a hairstyle with a thumbnail")
    return hair_library().thumbnail(style_id)


def check_choice(choice: str) -> str:
    """``choice`` if it is auto, none or a style in the catalogue; raises UnknownHairstyleError."""
    if choice in (AUTO, NONE) or any(s.id == choice for s in catalogue()):
        return choice
    known = ", ".join(s.id for s in catalogue()[:10])
    raise UnknownHairstyleError(
        f"unknown hairstyle {choice!r}; choose auto, none" + (f" or one of {known}, ..." if known else "")
    )


def from_photo(choice: str) -> str:
    """What the pipeline reads from the photo for ``choice``: the hair itself for auto, else
    none (a named style is tried on afterwards)."""
    return AUTO if choice == AUTO else NONE


def with_hair(avatar: Avatar, choice: str, max_strands: int | None = None) -> Avatar:
    """``avatar`` wearing ``choice``, on the fitted head (no re-fit): auto keeps the hair read
    from the photo, none takes it off, a style id is tried on (``max_strands``: grown with at
    most that many strands, for a light preview)."""
    if choice == AUTO:
        return avatar
    if choice == NONE:
        return dataclasses.replace(avatar, hair=None, params={**avatar.params, "hair": {"source": "none"}})
    return hair_library().try_on(avatar, choice, max_strands)


def _field(record, name: str):
    return record[name] if isinstance(record, dict) else getattr(record, name)
