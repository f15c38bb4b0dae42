"""The bad-input corpus through the Python API and the CLI: every kind ends in an avatar or in
its stable error code with a one-line message, never a crash or a traceback."""
from __future__ import annotations

import pytest

import headforge
from headforge.bench.corpus import EXPECTED, build
from headforge.cli import main as cli_main
from headforge.errors import HeadforgeError


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build(tmp_path_factory.mktemp("corpus"))


def test_corpus_has_at_least_20_kinds(corpus):
    assert len(corpus) >= 20 and all(p.exists() for p in corpus.values())


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_python_api(corpus, kind):
    expected = EXPECTED[kind][1]
    if expected == "ok":
        avatar = headforge.reconstruct(corpus[kind], texture_size=512)
        assert avatar.params["detection"]["landmark_error"] < 0.05
        if kind == "exif_rotated":
            assert (avatar.params["image"]["width"], avatar.params["image"]["height"]) == (512, 400)
        if kind == "several_faces":
            assert avatar.params["detection"]["face_count"] == 2
    else:
        with pytest.raises(HeadforgeError) as info:
            headforge.reconstruct(corpus[kind], texture_size=512)
        assert info.value.code == expected
        message = str(info.value)
        assert message and "\n" not in message and len(message) < 300


CLI_KINDS = [k for k, (_, e) in EXPECTED.items() if e != "ok"] + ["exif_rotated", "several_faces"]


@pytest.mark.parametrize("kind", CLI_KINDS)
def test_cli(corpus, kind, tmp_path, capsys):
    out = tmp_path / "avatar.zip"
    code = cli_main(["reconstruct", str(corpus[kind]), "-o", str(out), "--texture-size", "512"])
    captured = capsys.readouterr()
    expected = EXPECTED[kind][1]
    if expected == "ok":
        assert code == 0 and out.is_file()
    else:
        assert code == 2 and not out.exists()
        lines = [line for line in captured.err.splitlines() if line.strip()]
        assert lines == [lines[0]] and lines[0].startswith(f"error [{expected}]: "), captured.err
        assert "Traceback" not in captured.err
