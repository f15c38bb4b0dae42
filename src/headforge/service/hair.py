"""Hairstyles for the service: the catalogue, thumbnails and try-on on a fitted head.

A hair choice is ``"auto"`` (the person's own hair, read from the photo by the pipeline),
``"none"`` or a style id from the catalogue (:mod:`headforge.hair`'s database).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import headforge.hair as library
from headforge.core.avatar import Avatar
from headforge.errors import UnknownHairstyleError

AUTO, NONE = "auto", "none"


@dataclass(frozen=True)
class HairstyleSummary:
    """A style the library offers: its id and display name (the strands are
    :class:`headforge.core.strands.Hairstyle`)."""

    id: str
    name: str


def catalogue() -> list[HairstyleSummary]:
    """Every style the library offers, in its order."""
    return [HairstyleSummary(record.id, record.name) for record in library.list_hairstyles()]


def thumbnail(style_id: str) -> bytes:
    """The style's PNG thumbnail; raises UnknownHairstyleError."""
    check_choice(style_id)
    if style_id in (AUTO, NONE):
        raise UnknownHairstyleError(f"{style_id!r} is a choice, not a hairstyle with a thumbnail")
    return library.thumbnail(style_id)


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
    from headforge.tryon import try_on

    return try_on(avatar, choice, max_strands=max_strands)

