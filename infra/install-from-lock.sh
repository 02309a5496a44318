#!/bin/sh
# Install recsmith into one Python environment exactly as tested: the lock, then torch, then recsmith itself.
#   infra/install-from-lock.sh PYTHON TARGET...     e.g.  .venv/bin/python -e .   or   /opt/venv/bin/python dist/*.whl
# `make install`, infra/Dockerfile and tests/test_install.py all run this, so the image installs what CI tested.
# Settings from the environment: UV (default uv), LOCK (default requirements.lock), TORCH_SPEC (default
# torch==2.13.0), TORCH_FIND_LINKS and TORCH_INDEX_URL (where that torch build is: a folder of wheels, an index;
# TORCH_FIND_LINKS defaults to pip's PIP_FIND_LINKS, where this kind of machine keeps a CPU build).
set -eu
TORCH_FIND_LINKS=${TORCH_FIND_LINKS:-${PIP_FIND_LINKS:-}}
python=$1
shift
uv=${UV:-uv}
lock=${LOCK:-requirements.lock}
# exactly the lock: sync removes whatever else the environment held, and every file is hash-checked
"$uv" pip sync --quiet --python "$python" --require-hashes "$lock"
# torch is outside the lock (a CPU and a CUDA build are different wheels); its dependencies are in it
"$uv" pip install --quiet --python "$python" \
  ${TORCH_FIND_LINKS:+--find-links "$TORCH_FIND_LINKS"} ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} \
  "${TORCH_SPEC:-torch==2.13.0}"
# recsmith itself brings no dependency the lock does not pin
"$uv" pip install --quiet --python "$python" --no-deps "$@"
"$uv" pip check --quiet --python "$python"
