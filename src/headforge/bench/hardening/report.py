"""The hardening table: its rows, PASS / FAIL / SKIP, and the JSON and Markdown report."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

SCHEMA = "headforge.hardening/1"


SECTIONS = {
    "corpus": "a) Corpus kinds x entry points (Python API, CLI, HTTP)",
    "load": "b) Load: 100 uploads from 20 concurrent clients",
    "faults": "c) Faults",
    "security": "d) Security and privacy",
}


PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


@dataclass
class Row:
    """One line of the table: its section, what was checked, the outcome and what was seen."""

    section: str
    check: str
    outcome: str
    details: str
    data: dict = field(default_factory=dict)


class Skipped(Exception):
    """The machine cannot stage this check (the message says why)."""


def verdict(ok: bool) -> str:
    return PASS if ok else FAIL


def write_report(rows: list[Row], out: Path, meta: dict) -> int:
    """hardening.json and hardening.md in ``out``; returns 1 when a row failed, else 0."""
    out.mkdir(parents=True, exist_ok=True)
    counts = {o: sum(r.outcome == o for r in rows) for o in (PASS, FAIL, SKIP)}
    document = {"schema": SCHEMA, **meta, "summary": counts, "sections": SECTIONS, "rows": [asdict(r) for r in rows]}
    (out / "hardening.json").write_text(json.dumps(document, indent=2, default=str))
    (out / "hardening.md").write_text(markdown(rows, meta, counts))
    return 1 if counts[FAIL] else 0


def markdown(rows: list[Row], meta: dict, counts: dict) -> str:
    """The table: one header row per section, then its checks."""
    lines = [
        "# headforge hardening benchmark",
        "",
        f"{meta.get('created', '')}; {meta.get('machine', {}).get('cpus', '?')} CPUs; "
        f"{meta.get('duration_s', '?')} s; {counts[PASS]} PASS, {counts[FAIL]} FAIL, {counts[SKIP]} SKIP",
        "",
    ]
    if meta.get("section_s"):
        lines += [f"Seconds per section: {meta['section_s']}. {meta.get('note', '')}".rstrip(), ""]
    lines += ["| Check | Outcome | Details |", "|---|---|---|"]
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            lines.append(f"| **{SECTIONS.get(section, section)}** | | |")
        lines.append(f"| {_cell(row.check)} | {row.outcome} | {_cell(row.details)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
