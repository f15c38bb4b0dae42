"""The hairstyle database: one SQLite file, and this module is the only code that touches it.

Table ``hairstyles``: name (primary key), the tags length / curl / fringe / tied, params (JSON:
generator parameters, or what an import came from), source ("procedural" or the imported
file's name), the stored strands (guide strands on the reference head: zlib-compressed int16
deltas, see :func:`headforge.core.strands.encode_strands`, with their roots as (face,
barycentric) arrays), colour ("#rrggbb") and a PNG thumbnail. Table ``meta`` holds key/value
build information (schema version, head model, build parameters).
"""
from __future__ import annotations

import json
import sqlite3
import zlib
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from headforge.errors import UnknownHairstyleError
from headforge.core.strands import Hairstyle, decode_strands, encode_strands

SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS hairstyles (
    name TEXT PRIMARY KEY,
    length TEXT NOT NULL,
    curl TEXT NOT NULL,
    fringe INTEGER NOT NULL,
    tied TEXT NOT NULL,
    params TEXT NOT NULL,
    source TEXT NOT NULL,
    strand_count INTEGER NOT NULL,
    point_count INTEGER NOT NULL,
    strands BLOB NOT NULL,
    root_face BLOB NOT NULL,
    root_bary BLOB NOT NULL,
    color TEXT NOT NULL,
    thumbnail BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_COLUMNS = "name, length, curl, fringe, tied, params, source, strand_count, point_count, color, thumbnail"


@dataclass
class HairstyleRecord:
    """One row without its strands: tags, parameters, source, colour (3,) uint8, PNG bytes."""

    name: str
    length: str
    curl: str
    fringe: bool
    tied: str
    params: dict
    source: str
    strand_count: int
    point_count: int
    color: np.ndarray
    thumbnail: bytes

    @property
    def id(self) -> str:
        """The style's id: its name."""
        return self.name

    @property
    def tags(self) -> dict:
        return {"length": self.length, "curl": self.curl, "fringe": self.fringe, "tied": self.tied}


class HairstyleDatabase:
    """Access to one hairstyle database file (created, with its tables, when missing)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def put(self, record: HairstyleRecord, strands: Hairstyle) -> None:
        """Insert or replace the row ``record.name`` with these stored strands."""
        row = (
            record.name, record.length, record.curl, int(record.fringe), record.tied,
            json.dumps(record.params, sort_keys=True), record.source, strands.count, strands.points_per_strand,
            encode_strands(strands.strands), zlib.compress(np.asarray(strands.root_face, "<i4").tobytes()),
            zlib.compress(np.asarray(strands.root_bary, "<f4").tobytes()), _hex(record.color), record.thumbnail,
        )
        with closing(self._connect()) as db, db:
            db.execute(f"INSERT OR REPLACE INTO hairstyles VALUES ({', '.join('?' * len(row))})", row)

    def set_meta(self, values: dict[str, str]) -> None:
        with closing(self._connect()) as db, db:
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", sorted(values.items()))

    def meta(self) -> dict[str, str]:
        with closing(self._connect()) as db:
            return dict(db.execute("SELECT key, value FROM meta").fetchall())

    def query(self, length: str | None = None, curl: str | None = None, fringe: bool | None = None,
              tied: str | None = None) -> list[HairstyleRecord]:
        """Rows matching every tag given (None: any), by name."""
        where, args = [], []
        for column, value in (("length", length), ("curl", curl), ("tied", tied)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if fringe is not None:
            where.append("fringe = ?")
            args.append(int(bool(fringe)))
        sql = f"SELECT {_COLUMNS} FROM hairstyles"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with closing(self._connect()) as db:
            return [_record(row) for row in db.execute(sql + " ORDER BY name", args)]

    def names(self) -> list[str]:
        with closing(self._connect()) as db:
            return [r[0] for r in db.execute("SELECT name FROM hairstyles ORDER BY name")]

    def count(self) -> int:
        with closing(self._connect()) as db:
            return db.execute("SELECT COUNT(*) FROM hairstyles").fetchone()[0]

    def record(self, name: str) -> HairstyleRecord:
        """The row ``name`` (raises :class:`UnknownHairstyleError`)."""
        with closing(self._connect()) as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM hairstyles WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise UnknownHairstyleError(f"no hairstyle named {name!r} (see `headforge hairstyles list`)")
        return _record(row)

    def strands(self, name: str) -> Hairstyle:
        """The stored strands of ``name`` as a Hairstyle on the reference head."""
        with closing(self._connect()) as db:
            row = db.execute(
                "SELECT strand_count, point_count, strands, root_face, root_bary, color, params "
                "FROM hairstyles WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise UnknownHairstyleError(f"no hairstyle named {name!r} (see `headforge hairstyles list`)")
        n, p, blob, faces, bary, color, params = row
        color = _rgb(color)
        return Hairstyle(
            name, decode_strands(blob, n, p), np.frombuffer(zlib.decompress(faces), "<i4").astype(np.int32),
            np.frombuffer(zlib.decompress(bary), "<f4").reshape(n, 3).astype(np.float32), color,
            np.tile(color, (n, 1)), json.loads(params))


def _record(row) -> HairstyleRecord:
    name, length, curl, fringe, tied, params, source, n, p, color, thumb = row
    return HairstyleRecord(name, length, curl, bool(fringe), tied, json.loads(params), source, n, p, _rgb(color), thumb)


def _hex(color) -> str:
    r, g, b = (int(c) for c in np.asarray(color).ravel()[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def _rgb(text: str) -> np.ndarray:
    return np.array([int(text[i : i + 2], 16) for i in (1, 3, 5)], np.uint8)
