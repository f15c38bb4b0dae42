"""Strand hair: procedural hairstyles, a hairstyle database, imports and try-on on any head.

A hairstyle (:class:`headforge.core.strands.Hairstyle`) is N strands of P points (head frame,
metres, Y up, the face along +Z) rooted on the triangles of a head. Modules, in the order
hair is made and used:

- ``scalp``: which faces grow hair, points on them; ``collision``: keeping strands out of a
  head; ``meshquery``: exact inside tests and closest points;
- ``generator``: guide strands from :class:`~headforge.hair.generator.HairParams`;
  ``densify``: dense hair from guides; ``catalog``: the named styles and their tags;
- ``formats``: USC ``.data`` and Cem Yuksel ``.hair`` files; ``registration`` and
  ``importer``: external styles registered onto our scalp;
- ``database``: the SQLite hairstyle database; ``library``: building it and loading styles;
  ``thumbnails``: thumbnails and contact sheets;
- ``fit``: a style fitted to another head (trying one on an Avatar or an avatar zip, which
  also re-exports it, is :mod:`headforge.tryon`, a layer above).

The functions below are the entry points used by the service and the CLI; they import the
rest on first call (``import headforge.hair`` stays light).
"""
from __future__ import annotations


def list_hairstyles(length: str | None = None, curl: str | None = None, fringe: bool | None = None,
                    tied: str | None = None) -> list:
    """The stored styles (:class:`~headforge.hair.database.HairstyleRecord`, by name) whose
    tags match the ones given; builds the default database on first use."""
    from headforge.hair.library import open_library

    return open_library().query(length=length, curl=curl, fringe=fringe, tied=tied)


def thumbnail(name: str) -> bytes:
    """The PNG thumbnail of style ``name`` (raises UnknownHairstyleError)."""
    from headforge.hair.library import open_library

    return open_library().record(name).thumbnail


__all__ = ["list_hairstyles", "thumbnail"]
