"""Which back-ends this machine can run, and which file each one still lacks.

``anny`` needs nothing. ``flame``, ``deca`` and ``emoca`` need files that only their licence
holders may have; headforge never ships or downloads them. They are looked up, by file name, in
one folder and its sub-folders: ``--model-dir`` or ``$HEADFORGE_MODEL_DIR``. Looking is cheap (no
file is opened); a file that is there but wrong is reported when the back-end loads it.
"""
from __future__ import annotations

import fnmatch
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from headforge.backends.flame_files import EMBEDDING_NAMES, UV_NAMES
from headforge.backends.pickle_safe import UnsafePickleError
from headforge.errors import ModelError

MODEL_DIR_ENV = "HEADFORGE_MODEL_DIR"
MAX_DEPTH = 6
FLAME_URL = "https://flame.is.tue.mpg.de"
DECA_URL = "https://github.com/yfeng95/DECA"
EMOCA_URL = "https://emoca.is.tue.mpg.de"


@dataclass(frozen=True)
class Requirement:
    """A file a back-end needs: accepted names (shell patterns, best first) and where it is published."""

    key: str
    what: str
    names: tuple[str, ...]
    published: str
    prefer: str = ""  # among several matches of a pattern, paths containing this come first

    def describe(self) -> str:
        names = " or ".join(self.names[:2]) + (" or ..." if len(self.names) > 2 else "")
        return f"{names} ({self.what}; {self.published})"


_FLAME_2023_FIRST = ("flame2023.pkl", "generic_model.pkl", "FLAME_NEUTRAL.pkl", "flame2023.npz", "generic_model.npz")
FLAME_MODEL = Requirement("flame", "FLAME 2020 or 2023 model", _FLAME_2023_FIRST, f"{FLAME_URL}, after registering")
# DECA and EMOCA were trained with FLAME 2020: prefer it when both are there.
FLAME_MODEL_2020 = Requirement("flame", "FLAME 2020 model (DECA and EMOCA were trained with it)",
                               ("generic_model.pkl", "flame2023.pkl", "FLAME_NEUTRAL.pkl", "generic_model.npz", "flame2023.npz"),
                               f"{FLAME_URL}, after registering")
EMBEDDING = Requirement("embedding", "FLAME landmark embedding", EMBEDDING_NAMES,
                        f"{FLAME_URL} ('Mediapipe landmark embedding') or DECA's data folder, {DECA_URL}")
UV_LAYOUT = Requirement("uv", "FLAME texture coordinates", UV_NAMES,
                        f"{FLAME_URL} (texture space) or DECA's data folder, {DECA_URL}")
DECA_MODEL = Requirement("deca", "DECA weights", ("deca_model.tar",), f"{DECA_URL} (README, 'pretrained model')")
EMOCA_MODEL = Requirement("emoca", "EMOCA checkpoint", ("*.ckpt",), f"{EMOCA_URL} (EMOCA v2 models), after registering",
                          prefer="emoca")

DESCRIPTIONS = {
    "anny": "anny head model, built in (default)",
    "flame": "FLAME fitted to the landmarks",
    "deca": "DECA's encoder on the face crop, refined by the FLAME landmark fit",
    "emoca": "DECA with EMOCA's expression encoder, refined by the FLAME landmark fit",
}
REQUIREMENTS: dict[str, tuple[Requirement, ...]] = {
    "anny": (),
    "flame": (FLAME_MODEL, EMBEDDING, UV_LAYOUT),
    "deca": (FLAME_MODEL_2020, EMBEDDING, UV_LAYOUT, DECA_MODEL),
    "emoca": (FLAME_MODEL_2020, EMBEDDING, UV_LAYOUT, EMOCA_MODEL),
}
# Optional extras, used when found: DECA's weights (EMOCA checkpoints without a coarse encoder),
# DECA's fixed detail displacement and its face+eye UV mask (both in DECA's data folder).
OPTIONAL = {"deca": ("deca_model.tar",), "fixed_displacement": ("fixed_displacement_256.npy",),
            "uv_mask": ("uv_face_eye_mask.png",)}


def model_dir(explicit: str | Path | None = None) -> Path | None:
    """The folder to look in: ``explicit``, else ``$HEADFORGE_MODEL_DIR``, else None."""
    value = explicit if explicit not in (None, "") else os.environ.get(MODEL_DIR_ENV, "").strip()
    return Path(value).expanduser().resolve() if value else None


@dataclass(frozen=True)
class BackendStatus:
    """name, description, the folder looked in, files found ({key: path}) and what is missing."""

    name: str
    description: str
    folder: Path | None
    found: dict
    missing: tuple[Requirement, ...]

    @property
    def ready(self) -> bool:
        return not self.missing

    def message(self) -> str:
        """"ready", or one line naming the first missing file and where it is published."""
        if self.ready:
            return "ready"
        where = "no model folder given (--model-dir or $HEADFORGE_MODEL_DIR)" if self.folder is None else (
            f"not in {self.folder}" if self.folder.is_dir() else f"model folder {self.folder} does not exist")
        others = ", ".join(r.what for r in self.missing[1:])
        return f"missing {self.missing[0].describe()}: {where}" + (f"; also missing: {others}" if others else "")


def _files(folder: Path | None) -> list[Path]:
    """Files under ``folder`` down to MAX_DEPTH levels, sorted (none when it is not a folder)."""
    if folder is None or not folder.is_dir():
        return []
    out = []
    for root, dirs, names in os.walk(folder):
        depth = len(Path(root).relative_to(folder).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if depth < MAX_DEPTH else []
        out.extend(Path(root) / n for n in names)
    return sorted(out)


def _find(requirement: Requirement | tuple[str, ...], files: list[Path]) -> Path | None:
    names = requirement.names if isinstance(requirement, Requirement) else requirement
    prefer = requirement.prefer if isinstance(requirement, Requirement) else ""
    for pattern in names:
        hits = [f for f in files if fnmatch.fnmatch(f.name, pattern)]
        if hits:
            return min(hits, key=lambda f: (prefer not in str(f).lower(), len(f.parts), str(f)))
    return None


def backend_status(name: str, folder: str | Path | None = None) -> BackendStatus:
    """Status of one back-end (files searched in ``model_dir(folder)``)."""
    if name not in REQUIREMENTS:
        raise ModelError(f"unknown back-end {name!r}; choose from {', '.join(REQUIREMENTS)}")
    where = model_dir(folder)
    files = _files(where) if REQUIREMENTS[name] else []
    found, missing = {}, []
    for req in REQUIREMENTS[name]:
        path = _find(req, files)
        if path is None:
            missing.append(req)
        else:
            found[req.key] = path
    if found:
        for key, names in OPTIONAL.items():
            if key not in found and (path := _find(names, files)) is not None:
                found[key] = path
    return BackendStatus(name, DESCRIPTIONS[name], where, found, tuple(missing))


def all_status(folder: str | Path | None = None) -> list[BackendStatus]:
    """Every back-end's status, anny first."""
    return [backend_status(name, folder) for name in REQUIREMENTS]


def available_backends(folder: str | Path | None = None) -> list[str]:
    """Names of the back-ends whose files are all there (always ``anny``)."""
    return [s.name for s in all_status(folder) if s.ready]


def require(name: str, folder: str | Path | None = None) -> dict:
    """{key: path} of a ready back-end's files; a :class:`ModelError` naming the missing file
    and where it is published otherwise."""
    status = backend_status(name, folder)
    if not status.ready:
        raise ModelError(f"back-end {name}: {status.message()}")
    return status.found


@contextmanager
def reading(path: Path, requirement: Requirement):
    """Turns any failure to read ``path`` into a one-line :class:`ModelError` that names the
    file and where the right one is published (a refused pickle says what it asked for)."""
    try:
        yield
    except ModelError:
        raise
    except UnsafePickleError as e:
        raise ModelError(f"{path} refused: {e}; get the {requirement.what} from {requirement.published}") from None
    except Exception as e:  # noqa: BLE001 - any parse failure of a file headforge did not write
        detail = f"{type(e).__name__}: {e}"[:200]
        raise ModelError(f"{path} is not a usable {requirement.what} ({detail}); "
                         f"get it from {requirement.published}") from None
