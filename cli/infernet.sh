#!/bin/sh
# Runs the infernet CLI from source with the explicit permissions of the compiled binary:
# network (engine and control plane), only the GPU tools for --allow-run, and files only in
# the node's home ($INFERNET_HOME, default ~/.config/infernet).
set -e
home="${INFERNET_HOME:-$HOME/.config/infernet}"
mkdir -p -m 700 "$home"
INFERNET_HOME="$home" exec "${DENO:-deno}" run --quiet \
  --allow-net --allow-env \
  --allow-sys=hostname,osRelease,systemMemoryInfo,networkInterfaces \
  --allow-run=nvidia-smi,rocm-smi,system_profiler \
  --allow-read="$home" --allow-write="$home" \
  "$(dirname "$0")/main.ts" "$@"
