#!/usr/bin/env bash
# Set up (if needed), reconstruct the bundled sample portrait into out/astronaut.zip, then serve
# the web page and the API on http://127.0.0.1:8000 (arguments go to `headforge serve`).
set -euo pipefail
cd "$(dirname "$0")"
scripts/install.sh
mkdir -p out
.venv/bin/python -c 'import skimage.data, PIL.Image; PIL.Image.fromarray(skimage.data.astronaut()).save("out/astronaut.png")'
.venv/bin/headforge reconstruct out/astronaut.png -o out/astronaut.zip
exec .venv/bin/headforge serve "$@"
