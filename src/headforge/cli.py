"""The ``headforge`` command line.

    headforge setup                                 # build model caches (done by the set-up script)
    headforge reconstruct photo.jpg -o avatar.zip   # --texture-size 2048, --expression neutral,
                                                    # --emotion happiness=0.8,surprise=0.3
    headforge bench PHOTOS_DIR --out DIR            # quality and speed over a folder of photos

Errors print one line, ``error [code]: message``, and exit with status 2 (bad input) or 1
(anything else); set HEADFORGE_DEBUG=1 for a traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from headforge.errors import HeadforgeError


def _cmd_setup(args) -> int:
    import time

    from headforge.headmodel.anny_head import build_cache, cache_path

    t0 = time.perf_counter()
    path = cache_path()
    if args.force or not path.is_file():
        build_cache(path)
    from headforge.pipeline import default_reconstructor

    default_reconstructor().warm_up()
    print(f"head model ready: {path} ({time.perf_counter() - t0:.1f} s)")
    return 0


def _cmd_reconstruct(args) -> int:
    from headforge.emotion import parse_emotions
    from headforge.pipeline import Options, default_reconstructor

    emotions = parse_emotions(args.emotion)  # a bad name fails here, before any model loads
    options = Options(texture_size=args.texture_size, keep_expression=args.expression == "keep", emotions=emotions)
    avatar = default_reconstructor()(Path(args.photo), options)
    out = avatar.save_zip(args.output)
    p = avatar.params
    print(
        f"wrote {out}: {p['detection']['face_count']} face(s) seen, landmark error "
        f"{100 * p['detection']['landmark_error']:.2f}% of the face diagonal, "
        f"{sum(p['timings_s'].values()):.2f} s"
    )
    return 0


def _cmd_bench(args) -> int:
    from headforge.bench.run import run_bench

    summary = run_bench(Path(args.photos), Path(args.out), limit=args.limit)
    print(summary)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="headforge", description="One portrait photo in, a 3D head avatar out.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("setup", help="build the head model cache and warm the pipeline")
    p.add_argument("--force", action="store_true", help="rebuild the cache even if it exists")
    p.set_defaults(func=_cmd_setup)

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
    p.set_defaults(func=_cmd_reconstruct)

    p = sub.add_parser("bench", help="run the pipeline over a folder and write results.json + report")
    p.add_argument("photos", help="folder of photos")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--limit", type=int, default=None, help="only the first N photos")
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
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


if __name__ == "__main__":
    sys.exit(main())
