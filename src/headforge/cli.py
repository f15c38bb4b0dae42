"""The ``headforge`` command line.

    headforge setup                                 # build model caches (done by the set-up script)
    headforge reconstruct photo.jpg -o avatar.zip   # --texture-size 2048, --expression neutral, --hair none,
                                                    # --emotion happiness=0.8,surprise=0.3,
                                                    # --backend deca --model-dir ~/flame-models
    headforge backends [--model-dir DIR]            # anny, flame, deca, emoca: ready or what is missing
    headforge setup --backend flame --model-dir DIR # derive a FLAME back-end's caches (ARKit table)
    headforge reconstruct photo.jpg --hairstyle bob_chin -o avatar.zip   # a stored hairstyle
    headforge reconstruct photo.jpg --body full --body-shape gender=0.2 -o avatar.zip  # rigged body + VRM
    headforge tryon avatar.zip --hairstyle long_curly -o avatar_curly.zip # re-uses the fitted head
    headforge hairstyles list [--length long --curl curly --fringe yes --tied ponytail]
    headforge hairstyles build | sheet --out docs/hairstyles.png | import FILE.hair --name NAME
    headforge bench PHOTOS_DIR --out DIR            # quality and speed over a folder of photos
    headforge bench --hardening --out DIR           # bad input, load, faults, security: PASS/FAIL table
    headforge serve                                 # the page and the API on http://127.0.0.1:8000
    headforge serve --broker redis://HOST:6379/0    # ... with jobs run by Celery workers:
    headforge worker --broker redis://HOST:6379/0   # one per core, on any machine

Errors print one line, ``error [code]: message``, and exit with status 2 (bad input) or 1
(anything else); set HEADFORGE_DEBUG=1 for a traceback. Output piped into a reader that stops
early (``| head``) ends quietly with status 141, as Unix tools do.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from headforge.errors import HeadforgeError


def _cmd_setup(args) -> int:
    import time

    from headforge.headmodel.anny_head import build_cache, cache_path

    t0 = time.perf_counter()
    if args.backend != "anny":
        return _setup_backend(args.backend, args.model_dir, t0)
    path = cache_path()
    if args.force or not path.is_file():
        build_cache(path)
    from headforge.headmodel.parts import build_parts_cache, parts_cache_path

    if args.force or not parts_cache_path().is_file():
        build_parts_cache()  # teeth, tongue, eyes, mouth cavity and bust
    from headforge.pipeline import default_reconstructor

    default_reconstructor().warm_up()
    from headforge.hair.library import build_library, database_path, is_current

    if args.force or not is_current(database_path()):
        build_library()  # the hairstyle database, on every core
    from headforge.body.model import build_cache as build_body_cache

    build_body_cache()  # anny builds its full-body model data once (minutes cold)
    print(f"head model ready: {path}; hairstyles: {database_path()} ({time.perf_counter() - t0:.1f} s)")
    return 0


def _setup_backend(name: str, model_dir: str | None, t0: float) -> int:
    """Load a FLAME back-end once: derives and caches its ARKit table; prints how well it does."""
    import math
    import statistics
    import time

    from headforge.pipeline import default_reconstructor

    backend = default_reconstructor(name, model_dir).backend
    done = [r for r in backend.table.reproduced if not math.isnan(r)]
    print(f"{name} ready: FLAME {backend.flame.version} from {backend.model_file}, landmarks from "
          f"{backend.embedding.source}; ARKit targets reproduced {100 * statistics.median(done):.0f}% "
          f"(median of {len(done)}; scripts/make_flame_arkit.py lists each) ({time.perf_counter() - t0:.1f} s)")
    return 0


def _cmd_backends(args) -> int:
    from headforge.backends import all_status

    rows = all_status(args.model_dir)
    width = max(len(r.name) for r in rows)
    for r in rows:
        print(f"{r.name:<{width}}  {r.description}\n{'':<{width}}  {r.message()}")
    return 0


def _cmd_reconstruct(args) -> int:
    from headforge.emotion import parse_emotions
    from headforge.export.package import write_zip
    from headforge.pipeline import Options, default_reconstructor

    from headforge.body.fullbody import parse_body_shape

    emotions = parse_emotions(args.emotion)  # a bad name fails here, before any model loads
    options = Options(texture_size=args.texture_size, keep_expression=args.expression == "keep", emotions=emotions,
                      hair=args.hairstyle or args.hair, body=args.body, body_shape=parse_body_shape(args.body_shape),
                      licence=args.licence)
    avatar = default_reconstructor(args.backend, args.model_dir)(Path(args.photo), options)
    out = write_zip(avatar, args.output, args.hair_cards)
    p = avatar.params
    print(
        f"wrote {out}: {p['detection']['face_count']} face(s) seen, landmark error "
        f"{100 * p['detection']['landmark_error']:.2f}% of the face diagonal, "
        f"{sum(v for k, v in p['timings_s'].items() if k != 'hair'):.2f} s"  # hair runs beside the texture
    )
    return 0


def _cmd_tryon(args) -> int:
    import time

    from headforge.tryon import tryon_zip

    t0 = time.perf_counter()
    dressed = tryon_zip(args.avatar, args.hairstyle, args.output, hair_budget=args.hair_cards)
    print(f"wrote {args.output}: {args.hairstyle} ({dressed.hair.count} strands), fitted in "
          f"{dressed.params['hair']['fit_seconds']:.2f} s, {time.perf_counter() - t0:.2f} s in all")
    return 0


def _cmd_hairstyles(args) -> int:
    from headforge.hair import library

    if args.action == "build":
        path = library.build_library(args.database, workers=args.workers)
        print(f"built {path}: {library.open_library(path, build=False).count()} hairstyles")
    elif args.action == "list":
        fringe = None if args.fringe is None else args.fringe == "yes"
        rows = library.open_library(args.database).query(args.length, args.curl, fringe, args.tied)
        print(f"{'name':<22}{'length':<8}{'curl':<10}{'fringe':<8}{'tied':<10}{'colour':<9}strands")
        for r in rows:
            r_, g, b = (int(c) for c in r.color)
            print(f"{r.name:<22}{r.length:<8}{r.curl:<10}{'yes' if r.fringe else 'no':<8}{r.tied:<10}"
                  f"#{r_:02x}{g:02x}{b:02x}  {r.strand_count}x{r.point_count} {r.source}")
        print(f"{len(rows)} hairstyle(s)")
    elif args.action == "sheet":
        out = library.write_contact_sheet(args.out, args.database)
        print(f"wrote {out}")
    else:
        if not args.file or not args.name:
            print("error [usage]: headforge hairstyles import FILE --name NAME", file=sys.stderr)
            return 2
        db = library.open_library(args.database)
        tags = {k: v for k, v in (("length", args.length), ("curl", args.curl), ("tied", args.tied)) if v}
        if args.fringe is not None:
            tags["fringe"] = args.fringe == "yes"
        record = library.add_imported(args.file, args.name, db, tags=tags)
        print(f"imported {args.file} as {record.name}: {record.strand_count} strands, {record.tags}")
    return 0


def _cmd_bench(args) -> int:
    if args.hardening:
        from headforge.bench.hardening import SECTIONS, run_hardening

        only = {s.strip() for s in args.only.split(",") if s.strip()} if args.only else None
        if only and not only <= set(SECTIONS):
            print(f"error [usage]: --only takes {','.join(SECTIONS)}", file=sys.stderr)
            return 2
        return run_hardening(Path(args.out), only)
    if not args.photos:
        print("error [usage]: headforge bench PHOTOS_DIR --out DIR (or --hardening --out DIR)", file=sys.stderr)
        return 2
    from headforge.bench.run import run_bench

    summary = run_bench(Path(args.photos), Path(args.out), limit=args.limit, emotions=args.emotions,
                        backend=args.backend, model_dir=args.model_dir, hair=args.hair,
                        hair_labels=args.hair_labels,
                        landmarks68=Path(args.landmarks68) if args.landmarks68 else None,
                        baseline=Path(args.baseline) if args.baseline else None)
    print(summary)
    return 0


def _cmd_serve(args) -> int:
    import logging

    import uvicorn

    from headforge.service.config import Settings
    from headforge.web.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(broker_url=args.broker, workers=args.workers,
                                 data_dir=Path(args.data_dir) if args.data_dir else None)
    mode = f"Celery on {args.broker}" if settings.broker_url else f"{settings.workers} local worker(s)"
    print(f"headforge on http://{args.host}:{args.port} ({mode}; data in {settings.data_dir})", flush=True)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


def _cmd_worker(args) -> int:
    import logging

    from headforge.service.celery_app import run_worker
    from headforge.service.config import Settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(broker_url=args.broker, store_url=args.store)
    if not settings.broker_url:
        raise SystemExit("headforge worker needs --broker redis://HOST:6379/0 (or HEADFORGE_BROKER)")
    run_worker(settings, args.backend, args.concurrency)
    return 0


def _body_arguments(p) -> None:
    """--body, --body-shape and --licence of ``reconstruct``."""
    p.add_argument("--body", choices=("head", "full"), default="head",
                   help="head (default): a head-only avatar; full: the head on a rigged, dressed body "
                        "(Ready Player Me layout, plus avatar.vrm)")
    p.add_argument("--body-shape", default="", metavar="NAME=V,...",
                   help="the body's phenotypes in [0, 1], e.g. gender=0.1,height=0.6; names: gender (0 female, "
                        "1 male), age, muscle, weight, height, proportions; unset: from the head fit")
    p.add_argument("--licence", choices=("personal", "cc-by-4.0", "cc0"), default="personal",
                   help="the VRM's licence (full body): personal (default: only you, non-profit, no "
                        "redistribution), cc-by-4.0 or cc0")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="headforge", description="One portrait photo in, a 3D head avatar out.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("setup", help="build the head model cache and warm the pipeline")
    p.add_argument("--force", action="store_true", help="rebuild the cache even if it exists")
    _backend_arguments(p)
    p.set_defaults(func=_cmd_setup)

    p = sub.add_parser("backends", help="list the back-ends: ready, or which file is missing and where it is published")
    p.add_argument("--model-dir", default=None, help="folder with FLAME / DECA / EMOCA files ($HEADFORGE_MODEL_DIR)")
    p.set_defaults(func=_cmd_backends)

    p = sub.add_parser("reconstruct", help="reconstruct a head avatar from one photo")
    p.add_argument("photo", help="JPEG, PNG, WebP, ... portrait")
    p.add_argument("-o", "--output", default="avatar.zip", help="output zip (default avatar.zip)")
    p.add_argument("--texture-size", type=int, default=1024, choices=(512, 1024, 2048))
    group = p.add_mutually_exclusive_group()
    group.add_argument("--expression", choices=("keep", "neutral"), default="keep",
                       help="start from the photo's own expression (keep, default) or a neutral face")
    group.add_argument("--keep-expression", dest="expression", action="store_const", const="keep",
                       help="same as --expression keep")
    group.add_argument("--neutral", dest="expression", action="store_const", const="neutral",
                       help="same as --expression neutral")
    p.add_argument("--emotion", default="", metavar="NAME=I,...",
                   help="emotion intensities in [0, 1], e.g. happiness=0.8,surprise=0.3; names: happiness, "
                        "anger, sadness, fear, contempt, surprise, disgust")
    p.add_argument("--hair", choices=("auto", "none"), default="auto",
                   help="auto (default): the person's own hair, read from the photo; none: no hair")
    p.add_argument("--hairstyle", default=None, metavar="NAME",
                   help="wear a stored hairstyle instead (see `headforge hairstyles list`)")
    _body_arguments(p)
    _hair_cards_argument(p)
    _backend_arguments(p)
    p.set_defaults(func=_cmd_reconstruct)

    p = sub.add_parser("tryon", help="put a stored hairstyle on an avatar zip's head (no new fit)")
    p.add_argument("avatar", help="avatar zip written by headforge reconstruct")
    p.add_argument("--hairstyle", required=True, help="a name from `headforge hairstyles list`")
    p.add_argument("-o", "--output", required=True, help="output zip")
    _hair_cards_argument(p)
    p.set_defaults(func=_cmd_tryon)

    p = sub.add_parser("hairstyles", help="the hairstyle database: build, list, contact sheet, import")
    p.add_argument("action", choices=("build", "list", "sheet", "import"))
    p.add_argument("file", nargs="?", help="import: a USC .data or Cem Yuksel .hair file")
    p.add_argument("--name", help="import: the new style's name")
    p.add_argument("--database", default=None, help="database file (default: the cache folder's)")
    p.add_argument("--workers", type=int, default=None, help="build: processes (default: CPUs, max 4)")
    p.add_argument("--out", default="hairstyles.png", help="sheet: output PNG (default hairstyles.png)")
    p.add_argument("--length", choices=("bald", "short", "medium", "long"))
    p.add_argument("--curl", choices=("none", "straight", "wavy", "curly", "coily"))
    p.add_argument("--fringe", choices=("yes", "no"))
    p.add_argument("--tied", choices=("loose", "ponytail", "bun"))
    p.set_defaults(func=_cmd_hairstyles)

    p = sub.add_parser("bench", help="run the pipeline over a folder and write results.json + report")
    p.add_argument("photos", nargs="?", help="folder of photos (not with --hardening)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--limit", type=int, default=None, help="only the first N photos")
    p.add_argument("--hair", action="store_true",
                   help="reconstruct the hair from each photo too (timed with the head; adds hair IoU, "
                        "colour and orientation errors)")
    p.add_argument("--hair-labels", default=None, metavar="JSON",
                   help="with --hair: length and curl labels to check the hair against "
                        "(e.g. scripts/hair_photo_labels.json)")
    p.add_argument("--emotions", action="store_true",
                   help="also score emotion renders with an independent recogniser (needs fer + tflite-runtime)")
    p.add_argument("--landmarks68", metavar="DIR", help="also the 68-point NME on a labelled folder (AFLW2000-3D style)")
    p.add_argument("--baseline", metavar="RESULTS_JSON", help="an earlier run's results.json, reported beside this one")
    p.add_argument("--hardening", action="store_true",
                   help="instead: bad input, load, faults and security against real servers; writes "
                        "hardening.json + hardening.md, exits 1 if a check fails (needs redis-server, root for tmpfs)")
    p.add_argument("--only", default=None, metavar="SECTIONS",
                   help="with --hardening: some of corpus,load,faults,security (default: all)")
    _backend_arguments(p)
    p.set_defaults(func=_cmd_bench)

    _add_service_parsers(sub)
    return parser


def _add_service_parsers(sub) -> None:
    """``serve`` and ``worker``."""
    p = sub.add_parser("serve", help="serve the web page and the HTTP API")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--broker", default=None, metavar="URL",
                   help="Celery broker (redis://HOST:6379/0): jobs go to `headforge worker`s; "
                        "default: a local worker pool")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default 2)")
    p.add_argument("--data-dir", default=None, help="job database and files (default $HEADFORGE_DATA_DIR)")
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("worker", help="run reconstruction jobs from a Celery broker")
    p.add_argument("--broker", default=None, metavar="URL", help="Celery broker, e.g. redis://HOST:6379/0")
    p.add_argument("--backend", default="anny", help="back-end whose queue to serve (default anny)")
    p.add_argument("--concurrency", type=int, default=1, help="jobs at once, one process each (default 1)")
    p.add_argument("--store", default=None, metavar="URL",
                   help="where uploads and results live (default: the broker's Redis)")
    p.set_defaults(func=_cmd_worker)


def _hair_cards_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hair-cards", choices=("web", "high"), default="web",
                   help="the GLB's hair cards: web (at most 60k triangles, default) or high (300k)")


def _backend_arguments(p: argparse.ArgumentParser) -> None:
    from headforge.backends import BACKEND_NAMES

    p.add_argument("--backend", default="anny", choices=BACKEND_NAMES,
                   help="head model: anny (built in, default), or flame / deca / emoca with your own files")
    p.add_argument("--model-dir", default=None, help="folder with FLAME / DECA / EMOCA files ($HEADFORGE_MODEL_DIR)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a reader gone (`| head`) shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        return _stdout_gone()
    except HeadforgeError as e:
        print(f"error [{e.code}]: {e}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        print(f"error [file]: {e.strerror}: {e.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - the CLI never shows a traceback unless asked
        if os.environ.get("HEADFORGE_DEBUG"):
            raise
        print(f"error [internal]: {type(e).__name__}: {e}".splitlines()[0], file=sys.stderr)
        return 1


def _stdout_gone() -> int:
    """stdout's reader closed the pipe (``headforge hairstyles list | head``): end quietly, as
    Unix tools do. stdout is pointed at /dev/null so the exit's final flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 141  # 128 + SIGPIPE: what a shell reports for a tool ended by a closed pipe


if __name__ == "__main__":
    sys.exit(main())
