"""a) corpus: every kind of :mod:`headforge.bench.corpus` through the Python API, the CLI (a
subprocess) and HTTP (``headforge serve``); the row passes when all three give the expected code."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from headforge.bench import corpus, load
from headforge.bench.hardening.common import FAST
from headforge.bench.hardening.report import Row, verdict
from headforge.bench.serving import (
    LIFTED,
    post,
    served,
    wait_ended,
)


@dataclass
class Cell:
    """One entry point's outcome: the code seen ("ok" or an error code), how it was answered,
    and anything wrong besides the code ('' when nothing)."""

    code: str
    how: str = ""
    problem: str = ""

    def __str__(self) -> str:
        how = f" ({self.how})" if self.how else ""
        return f"`{self.code}`{how}" + (f" [{self.problem}]" if self.problem else "")


def corpus_rows() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="headforge-corpus-") as tmp:
        paths = corpus.build(Path(tmp) / "corpus")
        api = {kind: api_cell(path) for kind, path in paths.items()}
        with ThreadPoolExecutor(2) as pool:  # each CLI run is mostly start-up
            cli = dict(zip(paths, pool.map(lambda kind: cli_cell(paths[kind], Path(tmp) / f"{kind}.zip"), paths)))
        with served(2, **LIFTED) as s:
            http = http_cells(s.client, paths)
    rows = []
    for kind in corpus.EXPECTED:
        cells = {"API": api[kind], "CLI": cli[kind], "HTTP": http[kind]}
        expected = {name: corpus.expected_code(kind, http=name == "HTTP") for name in cells}
        ok = all(c.code == expected[name] and not c.problem for name, c in cells.items())
        details = f"expected `{expected['API']}`" + (
            f" (HTTP `{expected['HTTP']}`: the service takes one face by default)"
            if expected["HTTP"] != expected["API"] else "")
        details += "; " + "; ".join(f"{name} {cell}" for name, cell in cells.items())
        rows.append(Row("corpus", kind, verdict(ok), details,
                        {"expected": expected, **{name: asdict(cell) for name, cell in cells.items()}}))
    return rows


def one_line(message: str) -> bool:
    return bool(message) and "\n" not in message and len(message) < 300


def api_cell(path: Path) -> Cell:
    """``headforge.reconstruct``: an avatar, or a HeadforgeError with a one-line message."""
    import headforge

    try:
        headforge.reconstruct(path, texture_size=512, hair="none")
        return Cell("ok")
    except headforge.HeadforgeError as e:
        return Cell(e.code, problem="" if one_line(str(e)) else f"message not one line: {str(e)[:80]!r}")
    except Exception as e:  # noqa: BLE001 - what we are looking for
        return Cell("crash", problem=f"{type(e).__name__}: {str(e)[:120]}")


def cli_cell(path: Path, out: Path) -> Cell:
    """``headforge reconstruct`` in a subprocess: exit 0 and a zip, or a non-zero exit with one
    ``error [code]: ...`` line on stderr, no traceback and no zip."""
    env = {k: v for k, v in os.environ.items() if k != "HEADFORGE_DEBUG"}
    done = subprocess.run([sys.executable, "-m", "headforge.cli", "reconstruct", str(path), "-o", str(out),
                           "--texture-size", "512", "--hair", "none"],
                          capture_output=True, text=True, env=env, timeout=600)
    how = f"exit {done.returncode}"
    if done.returncode == 0:
        return Cell("ok", how, "" if zipfile.is_zipfile(out) else "no zip written")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    match = re.fullmatch(r"error \[([a-z_]+)\]: \S.*", lines[0]) if lines else None
    problems = [f"{len(lines)} lines on stderr"] if len(lines) != 1 else []
    problems += ["traceback"] if "Traceback" in done.stderr else []
    problems += ["zip written"] if out.exists() else []
    return Cell(match.group(1) if match else "no error line", how, "; ".join(problems))


def http_cells(client: httpx.Client, paths: dict[str, Path]) -> dict[str, Cell]:
    """POST every kind at once; a 4xx JSON error is the outcome, else the job's end."""
    cells: dict[str, Cell] = {}
    pending = {}
    for kind, path in paths.items():
        try:
            response = post(client, (path.name, path.read_bytes()), **FAST)
        except httpx.HTTPError as e:
            cells[kind] = Cell("transport error", problem=type(e).__name__)
            continue
        if response.status_code == 202:
            pending[kind] = response.json()["id"]
            continue
        code = load.error_code(response)
        problem = "" if code and 400 <= response.status_code < 500 else "not a 4xx JSON error"
        if kind == "upload_60mb" and response.status_code != 413:
            problem = "not refused with 413"
        cells[kind] = Cell(code or f"HTTP {response.status_code}", f"{response.status_code} at once", problem)
    for kind, job_id in pending.items():
        final = wait_ended(client, job_id, poll=0.2, timeout=300)
        problem = "accepted, not refused with 413" if kind == "upload_60mb" else ""
        if final["state"] == "done":
            if client.get(f"/jobs/{job_id}/avatar.zip").status_code != 200:
                problem = "no zip to download"
            cells[kind] = Cell("ok", "202, then done", problem)
        else:
            cells[kind] = Cell(final["error"]["code"], "202, then failed", problem)
    return {kind: cells[kind] for kind in paths}
