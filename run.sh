#!/usr/bin/env bash
# Set up (if needed) and reconstruct the bundled sample portrait into out/astronaut.zip.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install.sh
mkdir -p out
.venv/bin/python -c 'import skimage.data, PIL.Image; PIL.Image.fromarray(skimage.data.astronaut()).save("out/astronaut.png")'
.venv/bin/headforge reconstruct out/astronaut.png -o out/astronaut.zip
