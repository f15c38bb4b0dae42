"""The hairstyle library: builds the database from the catalogue (and imported files) and
loads styles from it as dense hair on the reference head.

``build_library`` is reproducible: every style is generated with a seed made from its name,
on the reference head of the default head model. The default database lives in the cache
folder, named by ``LIBRARY_VERSION`` (``headforge.paths.cache_dir() /
"hairstyles-<version>.sqlite"``, so checkouts of different code do not rebuild each other's),
and is built by ``headforge setup`` or ``headforge hairstyles build``.
"""
from __future__ import annotations

import hashlib
import os
import re
import zlib
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from headforge.errors import HairFileError, HairstyleNameError
from headforge.core.images import decode_png, encode_png
from headforge.hair.catalog import COLORS, SPECS, StyleSpec, length_tag, spec, style_tags
from headforge.hair.database import SCHEMA_VERSION, HairstyleDatabase, HairstyleRecord
from headforge.hair.densify import DENSE_STRANDS, densify
from headforge.hair.fit import fit_hairstyle
from headforge.core.strand_formats import read_strands
from headforge.hair.generator import generate_guides
from headforge.hair.importer import import_strands
from headforge.hair.reference import ReferenceHead, reference_head
from headforge.core.strands import Hairstyle
from headforge.hair.thumbnails import contact_sheet, thumbnail
from headforge.paths import cache_dir
from headforge.core.files import atomic_path

THUMBNAIL_STRANDS = 6000
STYLE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# The code that makes the stored strands: a database built by other code is rebuilt.
_MAKERS = ("hair/catalog.py", "hair/collision.py", "hair/densify.py", "hair/fit.py", "hair/generator.py",
           "hair/scalp.py", "core/strands.py", "core/geometry.py")
LIBRARY_VERSION = "1-" + hashlib.sha1(
    repr(SPECS).encode() + b"".join((Path(__file__).parents[1] / name).read_bytes() for name in _MAKERS)
).hexdigest()[:12]


def database_path() -> Path:
    return cache_dir() / f"hairstyles-{LIBRARY_VERSION}.sqlite"


def seed_of(name: str) -> int:
    """The fixed seed of a style: from its name, so every build makes the same strands."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def open_library(path: str | Path | None = None, build: bool = True) -> HairstyleDatabase:
    """The hairstyle database at ``path`` (default: the cache folder's), built first when it
    is missing or out of date and ``build`` is set (in this process: a few minutes; set-up
    and ``headforge hairstyles build`` build it on several cores)."""
    path = Path(path) if path is not None else database_path()
    if build and not is_current(path):
        build_library(path, workers=1)
    return HairstyleDatabase(path)


def is_current(path: str | Path) -> bool:
    """Whether ``path`` holds a complete database of this library version."""
    if not Path(path).is_file():
        return False
    meta = HairstyleDatabase(path).meta()
    return meta.get("library_version") == LIBRARY_VERSION and meta.get("complete") == "1"


def build_library(path: str | Path | None = None, workers: int | None = None) -> Path:
    """Generate every catalogue style (guides, tags, thumbnail) into a fresh database written
    next to ``path`` and renamed over it. ``workers``: processes (default: CPU count, max 4;
    spawned, so a script calling this with workers > 1 needs the ``__main__`` guard)."""
    path = Path(path) if path is not None else database_path()
    reference_head()  # the collision grid is cached on disk before workers need it
    workers = workers or min(4, os.cpu_count() or 1)
    names = [s.name for s in SPECS]
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            rows = list(pool.map(make_row, names))
    else:
        rows = [make_row(name) for name in names]
    with atomic_path(path) as tmp:
        db = HairstyleDatabase(tmp)
        for record, guides in rows:
            db.put(record, guides)
        db.set_meta({"schema_version": SCHEMA_VERSION, "library_version": LIBRARY_VERSION,
                     "head_model": reference_head_version(), "complete": "1"})
    return path


def make_row(name: str) -> tuple[HairstyleRecord, Hairstyle]:
    """The database row of catalogue style ``name``: its record and guide strands."""
    s: StyleSpec = spec(name)
    head = reference_head()
    color = np.array(COLORS[s.color], np.uint8)
    guides = generate_guides(s.params, head.vertices, head.faces, head.scalp, head.collider, name, color, seed_of(name))
    tags = style_tags(s.params, guides.strands)
    record = HairstyleRecord(name, tags["length"], tags["curl"], tags["fringe"], tags["tied"], s.params.to_dict(),
                             "procedural", guides.count, guides.points_per_strand, color,
                             encode_png(style_thumbnail(guides, head)))
    return record, guides


def add_imported(path: str | Path, name: str, db: HairstyleDatabase, color=(60, 42, 30),
                 tags: dict | None = None, up=None, front=None) -> HairstyleRecord:
    """Import a ``.data`` / ``.hair`` file as style ``name``: registered to the reference
    head's scalp, re-rooted, settled, stored with a thumbnail. ``tags`` default to measured
    length, "straight", no fringe, "loose"."""
    check_name(name)
    head = reference_head()
    file = read_strands(path)
    if not file.strands:
        raise HairFileError(f"{path} holds no strands")
    if file.colors is not None and len(file.colors):
        color = np.clip(np.rint(np.median(file.colors, axis=0) * 255), 0, 255)
    style = import_strands(file.strands, head, name, np.asarray(color, np.uint8), up=up, front=front)
    style.params["source"] = Path(path).name
    t = {"length": length_tag(style.strands), "curl": "straight", "fringe": False, "tied": "loose", **(tags or {})}
    record = HairstyleRecord(name, t["length"], t["curl"], bool(t["fringe"]), t["tied"], style.params,
                             Path(path).name, style.count, style.points_per_strand, style.color,
                             encode_png(style_thumbnail(style, head)))
    db.put(record, style)
    load_hairstyle.cache_clear()
    return record


def check_name(name: str) -> str:
    """``name`` if it can name a style (it becomes an id in URLs and file names); raises
    HairstyleNameError."""
    if not STYLE_NAME.fullmatch(name):
        raise HairstyleNameError(f"hairstyle name {name!r}: use 1-64 lower-case letters, digits, '_' or '-', "
                                 "starting with a letter or digit")
    return name


def style_thumbnail(stored: Hairstyle, head: ReferenceHead) -> np.ndarray:
    """Thumbnail of stored strands: densified (``THUMBNAIL_STRANDS``), settled, rendered."""
    dense = densify(stored, head.vertices, head.faces, head.scalp, THUMBNAIL_STRANDS, seed_of(stored.name) + 1)
    return thumbnail(fit_hairstyle(dense, head, head.vertices), head.vertices, head.faces, head.scalp)


@lru_cache(maxsize=16)
def load_hairstyle(name: str, max_strands: int | None = None, path: str | None = None) -> Hairstyle:
    """Style ``name`` as dense hair on the reference head, not yet settled (see
    :func:`headforge.hair.fit.fit_hairstyle`): the style's own strand count, or at most
    ``max_strands`` (a lighter preview, grown as such, not thinned). Raises
    :class:`headforge.errors.UnknownHairstyleError` for a name not in the database."""
    head = reference_head()
    stored = open_library(path).strands(name)
    count = int(stored.params.get("count", DENSE_STRANDS))
    if max_strands is not None:
        count = min(count, max_strands)
    return densify(stored, head.vertices, head.faces, head.scalp, count, seed_of(name) + 1)


def write_contact_sheet(out: str | Path, path: str | Path | None = None, columns: int = 8) -> Path:
    """Write a PNG contact sheet of every stored style's thumbnail, labelled, by name."""
    records = open_library(path).query()
    tiles = [(r.name, decode_png(r.thumbnail, f"the thumbnail of {r.name}")) for r in records]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(encode_png(contact_sheet(tiles, columns)))
    return out


def reference_head_version() -> str:
    from headforge.headmodel.anny_head import load_head_model

    model = load_head_model()
    return f"{model.name} {model.version}"
