"""The hardening benchmark's HTTP entry point on the whole corpus (one embedded server: every kind
ends in its expected code), and its table writer. tests/test_corpus.py covers Python and CLI."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from headforge.bench.corpus import EXPECTED, build, expected_code
from headforge.bench.hardening.corpus import http_cells
from headforge.bench.hardening.report import FAIL, PASS, SKIP, Row, write_report
from headforge.bench.serving import wait_ready
from headforge.cli import main as cli_main
from headforge.service.config import Settings
from headforge.web.app import create_app


@pytest.fixture(scope="module")
def cells(tmp_path_factory):
    """Every corpus kind posted to one embedded server (2 workers, rate limit lifted)."""
    paths = build(tmp_path_factory.mktemp("corpus"))
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"), workers=2, rate_per_min=10_000, rate_burst=1000)
    with TestClient(create_app(settings), base_url="http://testserver/api/v1") as client:
        wait_ready(lambda: client.get("/ready").json(), timeout=120)
        return http_cells(client, paths)


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_http_answers_each_kind_with_its_code(cells, kind):
    cell = cells[kind]
    assert (cell.code, cell.problem) == (expected_code(kind, http=True), ""), str(cell)
    if kind == "upload_60mb":
        assert cell.how == "413 at once"


def test_the_table_is_written_as_json_and_markdown(tmp_path):
    rows = [Row("corpus", "empty_file", PASS, "expected `bad_image`"),
            Row("faults", "disk full", SKIP, "cannot mount a tmpfs"),
            Row("security", "CORS | off", PASS, "no header")]
    assert write_report(rows, tmp_path, {"duration_s": 1.0}) == 0
    document = json.loads((tmp_path / "hardening.json").read_text())
    assert document["summary"] == {PASS: 2, FAIL: 0, SKIP: 1}
    assert [r["check"] for r in document["rows"]] == ["empty_file", "disk full", "CORS | off"]
    table = (tmp_path / "hardening.md").read_text()
    assert "| **a) Corpus" in table and "| **c) Faults** | | |" in table
    assert "| CORS \\| off | PASS | no header |" in table

    rows.append(Row("load", "none lost", FAIL, "2 of 100 jobs never ended"))
    assert write_report(rows, tmp_path, {}) == 1
    assert "| none lost | FAIL | 2 of 100 jobs never ended |" in (tmp_path / "hardening.md").read_text()


def test_bench_needs_a_folder_unless_hardening(tmp_path, capsys):
    assert cli_main(["bench", "--out", str(tmp_path)]) == 2
    assert "error [usage]" in capsys.readouterr().err
    assert cli_main(["bench", "--hardening", "--only", "nonsense", "--out", str(tmp_path)]) == 2
