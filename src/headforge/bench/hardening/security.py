"""d) security and privacy: API-key isolation and coverage, unguessable ids, TTL and DELETE
leaving nothing on disk or in Redis, no photo metadata in logs or outputs, fixed zip entry
names, hairstyle import names, page headers, CORS, and the default limits."""
from __future__ import annotations

import dataclasses
import html.parser
import io
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx

from headforge.bench.hardening.common import FAST, astronaut, celery_stack, files_under, outcome, wait_for
from headforge.bench.hardening.report import Row, Skipped, verdict
from headforge.bench.serving import (
    LIFTED,
    RedisServer,
    Served,
    astronaut_jpeg,
    post,
    served,
    wait_ended,
    wait_ended_or_gone,
)

TTL_S, SWEEP_S = 3, 1


PUBLIC_ROUTES = {"/api/v1/health", "/api/v1/ready"}


EVIL_ORIGIN = "https://evil.example"


def marked_jpeg(marker: str) -> bytes:
    """The astronaut with ``marker`` in its EXIF description and user comment, a GPS block
    and a JPEG comment."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x010E] = marker
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    exif.get_ifd(0x8769)[0x9286] = b"ASCII\x00\x00\x00" + marker.encode()
    return astronaut_jpeg(exif=exif.tobytes(), comment=marker)


def keyed_rows() -> list[Row]:
    """One server with two API keys: isolation, key coverage, privacy, zip names, DELETE, ids,
    page headers, CORS, hairstyle thumbnail ids."""
    key_a, key_b = f"hardening-a-{secrets.token_hex(8)}", f"hardening-b-{secrets.token_hex(8)}"
    marker = f"HFMARK{secrets.token_hex(8)}"
    photo = marked_jpeg(marker)
    with served(1, HEADFORGE_API_KEYS=f"{key_a},{key_b}", HEADFORGE_MAX_QUEUE="200",
                headers={"X-API-Key": key_a}, **LIFTED) as s, \
            httpx.Client(base_url=s.url, headers={"X-API-Key": key_b}, timeout=60) as b, \
            httpx.Client(base_url=s.url.removesuffix("/api/v1"), timeout=60) as root:
        a = s.client
        job_id = post(a, ("portrait.jpg", photo), **FAST).json()["id"]
        final = wait_ended(a, job_id, poll=0.1, timeout=240)
        if final["state"] != "done":
            raise RuntimeError(f"the marked photo's job ended {outcome(final)}")
        outputs = {name: a.get(f"/jobs/{job_id}/{name}").content
                   for name in ("avatar.zip", "avatar.glb", "params.json")}
        export_id = a.post(f"/jobs/{job_id}/exports", json={}).json()["id"]
        rows = [
            isolation_row(a, b, job_id, export_id),
            key_coverage_row(root, job_id, export_id),
            privacy_row(marker, photo, s, outputs),
            zip_names_row(outputs["avatar.zip"]),
            thumbnail_row(a),
            delete_row(a, s.data, job_id, "embedded"),
            ids_row(a),
            page_row(root),
            cors_row(root),
        ]
    return rows


def isolation_row(a: httpx.Client, b: httpx.Client, job_id: str, export_id: str) -> Row:
    base, export = f"/jobs/{job_id}", f"/jobs/{job_id}/exports/{export_id}"
    tries = [("GET", base), ("GET", f"{base}/avatar.zip"), ("GET", f"{base}/avatar.glb"),
             ("GET", f"{base}/params.json"), ("POST", f"{base}/exports"), ("GET", f"{export}/avatar.glb"),
             ("GET", f"{export}/avatar.zip"), ("DELETE", base)]
    seen = {f"{m} {p.replace(job_id, '{id}').replace(export_id, '{export}')}":
            b.request(m, p, json={} if m == "POST" else None).status_code for m, p in tries}
    still = a.get(base).json().get("state")
    wrong = {k: v for k, v in seen.items() if v != 404}
    return Row("security", "client B cannot read, download, re-export or delete client A's job",
               verdict(not wrong and still == "done"),
               f"{len(seen)} requests with B's key: " + (f"not 404: {wrong}" if wrong else "all 404")
               + f"; A's job afterwards: {still}", {"answers": seen})


def key_coverage_row(root: httpx.Client, job_id: str, export_id: str) -> Row:
    """Every API route without a key, and with a wrong one: 401, except health and ready."""
    from fastapi.routing import APIRoute

    from headforge.web.routes import router

    values = {"job_id": job_id, "export_id": export_id, "style_id": "bob_chin"}
    wrong, public = {}, {}
    count = 0
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), route.path)
        for method in sorted(route.methods - {"HEAD"}):
            for headers in ({}, {"X-API-Key": "not-a-key"}):
                status = root.request(method, path, headers=headers).status_code
                count += 1
                if route.path in PUBLIC_ROUTES:
                    if status == 401:
                        public[f"{method} {route.path}"] = status
                elif status != 401:
                    wrong[f"{method} {route.path}" + (" (wrong key)" if headers else "")] = status
    return Row("security", "every API route but health and ready needs a key (401)",
               verdict(not wrong and not public),
               f"{count} requests without a key or with a wrong one: "
               + (f"answered without 401: {wrong}" if wrong else "all 401 where a key is needed")
               + (f"; public routes refused: {public}" if public else "; health and ready open"),
               {"not_401": wrong})


def privacy_row(marker: str, photo: bytes, s: Served, outputs: dict[str, bytes]) -> Row:
    """The marker (EXIF, GPS block, comment) is nowhere: log, stored files, outputs, zip entries."""
    from PIL import Image

    needle = marker.encode()
    found = []
    log = s.log.read_bytes()
    if needle in log:
        found.append("server log")
    if b"\xff\xd8\xff" in log or b"Exif\x00" in log:
        found.append("image bytes in the server log")
    for path in files_under(s.data):
        if needle in path.read_bytes():
            found.append(f"data/{path.relative_to(s.data)}")
    with zipfile.ZipFile(io.BytesIO(outputs["avatar.zip"])) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    for name, data in {**outputs, **{f"avatar.zip:{k}": v for k, v in entries.items()}}.items():
        if needle in data:
            found.append(name)
        if b"Exif\x00\x00" in data or b"eXIf" in data:
            found.append(f"{name} (EXIF block)")
    for name, data in entries.items():
        if name.endswith((".png", ".jpg", ".jpeg")):
            with Image.open(io.BytesIO(data)) as image:
                if image.getexif() or "exif" in image.info:
                    found.append(f"avatar.zip:{name} (EXIF)")
    planted = photo.count(needle)
    return Row("security", "no image bytes or EXIF in logs or outputs", verdict(not found and planted >= 3),
               f"marker planted {planted}x (EXIF description, user comment, JPEG comment) with a GPS block; "
               f"searched the server log, {len(files_under(s.data))} stored files, the zip, GLB, params.json "
               f"and {len(entries)} zip entries: " + (f"found in {found}" if found else "not found, no EXIF"))


def zip_names_row(archive: bytes) -> Row:
    from headforge.export.package import ENTRY_NAMES, HAIR_ENTRIES, VRM_NAME

    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        names = z.namelist()
    expected = [n for n in ENTRY_NAMES if n not in (*HAIR_ENTRIES, VRM_NAME)]  # a job without hair or body
    return Row("security", "zip entry names fixed", verdict(names == expected),
               f"{names}" + ("" if names == expected else f" != {expected}"))


def thumbnail_row(a: httpx.Client) -> Row:
    tries = ["/hairstyles/..%2F..%2F..%2Fetc%2Fpasswd/thumbnail.png", "/hairstyles/%2Fetc%2Fpasswd/thumbnail.png",
             "/hairstyles/....%2F%2F....%2F%2Fetc%2Fpasswd/thumbnail.png"]
    seen = {t: a.get(t) for t in tries}
    bad = {t: r.status_code for t, r in seen.items() if r.status_code == 200 or b"root:" in r.content}
    return Row("security", "hairstyle thumbnail ids cannot reach files", verdict(not bad),
               f"{len(tries)} traversal ids: answered {sorted({r.status_code for r in seen.values()})}"
               + (f"; served: {bad}" if bad else ""))


def delete_row(client: httpx.Client, data: Path, job_id: str, mode: str,
               redis_server: RedisServer | None = None) -> Row:
    """DELETE a finished job: 204, then 404, and nothing with its id on disk (or in Redis)."""
    answer = client.delete(f"/jobs/{job_id}").status_code

    def leftovers() -> list[str]:
        files = [f"data/{p.relative_to(data)}" for p in data.rglob(f"*{job_id}*")] if data.exists() else []
        return files + (redis_server.keys_with(job_id) if redis_server else [])

    clean = wait_for(lambda: not leftovers(), timeout=5)
    after = client.get(f"/jobs/{job_id}").status_code
    left = leftovers()
    return Row("security", f"DELETE removes the job and its files ({mode})",
               verdict(answer == 204 and after == 404 and clean and not left),
               f"DELETE {answer}, then GET {after}; left on disk" + (" or in Redis" if redis_server else "")
               + f": {left or 'nothing'}")


def ids_row(client: httpx.Client) -> Row:
    """100 new job ids: distinct, URL-safe, at least 128 bits, no shared prefixes (then deleted)."""
    ids = [post(client, astronaut(), **FAST).json()["id"] for _ in range(100)]
    for job_id in ids:
        client.delete(f"/jobs/{job_id}")
    safe = all(re.fullmatch(r"[A-Za-z0-9_-]+", i) for i in ids)
    bits = min(len(i) for i in ids) * 6
    ordered = sorted(ids)
    prefix = max(len(os.path.commonprefix(pair)) for pair in zip(ordered, ordered[1:]))
    ok = len(set(ids)) == 100 and safe and bits >= 128 and prefix <= 5
    return Row("security", "job ids unguessable", verdict(ok),
               f"{len(set(ids))}/100 distinct; URL-safe: {safe}; {min(map(len, ids))} to {max(map(len, ids))} "
               f"characters (>= {bits} bits); longest prefix shared by two ids: {prefix} characters")


class _Scripts(html.parser.HTMLParser):
    """Counts inline scripts and inline event handlers of a page."""

    def __init__(self):
        super().__init__()
        self.inline, self.handlers = 0, []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        self.handlers += [f"{tag}[{n}]" for n in names if n.startswith("on")]
        if tag == "script" and not names.get("src"):
            self.inline += 1


def csp_directives(policy: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.split()}


def page_row(root: httpx.Client) -> Row:
    page = root.get("/")
    csp = csp_directives(page.headers.get("content-security-policy", ""))
    script = csp.get("script-src", csp.get("default-src", []))
    parser = _Scripts()
    parser.feed(page.text)
    checks = {
        "CSP script-src 'self'": "'self'" in script,
        "no 'unsafe-inline' for scripts": "'unsafe-inline'" not in script,
        "frame-ancestors 'none'": csp.get("frame-ancestors") == ["'none'"],
        "X-Content-Type-Options nosniff": page.headers.get("x-content-type-options") == "nosniff",
        "no inline <script>": parser.inline == 0,
        "no inline event handlers": not parser.handlers,
    }
    failed = [k for k, v in checks.items() if not v]
    return Row("security", "page security headers, no inline script", verdict(page.status_code == 200 and not failed),
               f"GET / {page.status_code}; " + ("; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in checks.items()))
               + f"; script-src {' '.join(script)}")


def cors_row(root: httpx.Client) -> Row:
    preflight = root.options("/api/v1/jobs", headers={"Origin": EVIL_ORIGIN, "Access-Control-Request-Method": "POST"})
    simple = root.get("/api/v1/health", headers={"Origin": EVIL_ORIGIN})
    allowed = [r.headers.get("access-control-allow-origin") for r in (preflight, simple)]
    return Row("security", "CORS off by default", verdict(allowed == [None, None]),
               f"OPTIONS /api/v1/jobs ({preflight.status_code}) and GET /api/v1/health ({simple.status_code}) with "
               f"Origin {EVIL_ORIGIN}: Access-Control-Allow-Origin {allowed}")


def ttl_rows() -> list[Row]:
    env = {"HEADFORGE_JOB_TTL_S": str(TTL_S), "HEADFORGE_SWEEP_INTERVAL_S": str(SWEEP_S)}
    with served(1, **LIFTED, **env) as s:
        rows = [ttl_row(s.client, s.data, "embedded")]
    with celery_stack(**env) as stack:
        rows.append(ttl_row(stack.served.client, stack.served.data, "Celery", stack.celery.redis))
    return rows


def ttl_row(client: httpx.Client, data: Path, mode: str, redis_server: RedisServer | None = None) -> Row:
    """A job on a server with a 3 s TTL and 1 s sweeps is gone, files (and Redis keys) too,
    soon after the TTL, and stays gone."""
    created = time.monotonic()
    job_id = post(client, astronaut(), **FAST).json()["id"]
    final = wait_ended_or_gone(client, job_id, poll=0.1, timeout=120)
    seen = "swept before it ended" if final is None else f"{outcome(final)} {time.monotonic() - created:.1f} s in"

    def gone() -> bool:
        files = list(data.rglob(f"*{job_id}*")) if data.exists() else []
        keys = redis_server.keys_with(job_id) if redis_server else []
        return client.get(f"/jobs/{job_id}").status_code == 404 and not files and not keys

    cleared = wait_for(gone, timeout=TTL_S + 20, poll=0.2)
    cleared_s = time.monotonic() - created
    time.sleep(2 * SWEEP_S)  # a late write by the worker would show now
    files = [f"data/{p.relative_to(data)}" for p in data.rglob(f"*{job_id}*")] if data.exists() else []
    keys = redis_server.keys_with(job_id) if redis_server else []
    ok = bool(cleared) and not files and not keys and client.get(f"/jobs/{job_id}").status_code == 404
    where = "disk and Redis" if redis_server else "disk"
    return Row("security", f"TTL {TTL_S} s deletes the job and its files ({mode})", verdict(ok),
               f"job {seen}; " + (f"gone from the API and {where} {cleared_s:.1f} s after upload" if cleared
                                  else f"still there {cleared_s:.0f} s after upload")
               + f"; left: {files + keys or 'nothing'}")


def hairstyle_import_rows() -> list[Row]:
    """``headforge hairstyles import --name`` with path-like names: refused or sanitised, and no
    file written outside the database's folder."""
    from headforge.core.strand_formats import write_usc
    from headforge.hair.database import SCHEMA_VERSION, HairstyleDatabase
    from headforge.hair.library import LIBRARY_VERSION, open_library

    library = open_library(build=False)
    if not library.count():
        raise Skipped("the hairstyle database is empty: run `headforge setup` first")
    token = secrets.token_hex(4)
    names = ["../../evil", f"/tmp/headforge-evil-{token}", "styles/../../evil", "evil\\..\\..\\x"]
    with tempfile.TemporaryDirectory(prefix="headforge-hair-") as tmp:
        root = Path(tmp)
        folder = root / "library" / "db"
        database = HairstyleDatabase(folder / "hairstyles.sqlite")  # empty but current: no build
        database.set_meta({"schema_version": SCHEMA_VERSION, "library_version": LIBRARY_VERSION, "complete": "1"})
        source = root / "style.data"
        source.write_bytes(write_usc(library.strands(library.names()[0]).strands))
        before = {p for p in root.rglob("*")}
        answers = {}
        for name in names:
            done = subprocess.run([sys.executable, "-m", "headforge.cli", "hairstyles", "import", str(source),
                                   "--name", name, "--database", str(database.path)],
                                  capture_output=True, text=True, timeout=300, cwd=folder)
            answers[name] = done.returncode
        stored = database.names()
        new = sorted(str(p.relative_to(root)) for p in set(root.rglob("*")) - before
                     if not p.name.startswith("hairstyles.sqlite"))
    escaped = new + [p for p in (f"/tmp/headforge-evil-{token}",) if Path(p).exists()]
    unsafe = [n for n in stored if "/" in n or "\\" in n or ".." in n]
    return [Row("security", "imported hairstyle names cannot escape their folder", verdict(not escaped and not unsafe),
                f"names {names}: exit codes {list(answers.values())}; stored as {stored or 'nothing'}; "
                f"files written outside the database: {escaped or 'none'}"
                + (f"; path-like names stored as they are: {unsafe}" if unsafe else ""))]


def limits_rows() -> list[Row]:
    from headforge.service.config import Settings

    defaults = Settings()
    values = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(Settings)
              if type(getattr(defaults, f.name)) is int}
    ok = all(v > 0 for v in values.values())
    return [Row("security", "size, pixel, rate and concurrency limits (defaults)", verdict(ok),
                ", ".join(f"{k} {v}" for k, v in values.items()), values)]
