#!/bin/sh
# Runs the infernet CLI from source with the explicit permissions of the compiled binary:
# network (engine and control plane), only the GPU tools for --allow-run (and, for upgrades,
# Deno itself to test-run a new version and `ln`, since Deno.symlink needs unscoped file
# access), files written only in the node's home ($INFERNET_HOME, default ~/.config/infernet),
# read in the home and the CLI's own folder.
# The built-in engine (llama.cpp through npm node-llama-cpp, a Node-API addon) adds: --allow-ffi
# for the addon under node_modules; read of /lib, /lib64, /usr/lib (node-llama-cpp looks for glibc
# there before it picks a prebuilt binary) and of a `--model` file given on the command line; sys
# cpus, homedir, uid, gid; and run of Deno's own binary (node-llama-cpp test-loads the addon in a
# forked child process before loading it). --allow-ffi also covers the system library folders, where
# libsecp256k1 (Debian libsecp256k1-1, Homebrew secp256k1) signs receipts and checks signatures about
# five times faster than its wasm build; without it the wasm build is used. An operator's key file given with `--key` (login,
# operator countersign|revoke) is readable too, and so is the file `receipts verify` checks; a
# voucher file named with `--out`, `--file` (vouchers) or `--vouchers` (proxy) is read and written
# (its folder: the file is replaced through a temporary file beside it).
#
# The version run is $INFERNET_HOME/current (an auto-upgrade's symlink) when it exists, else
# this checkout. `infernet start` runs under a small supervisor loop: when the daemon exits
# with 75 after switching `current` to a new version, the new version is started with the
# same arguments and environment; signals are passed on to the daemon.
set -e
home="${INFERNET_HOME:-$HOME/.config/infernet}"
mkdir -p -m 700 "$home"
export INFERNET_HOME="$home"
deno="${DENO:-deno}"
deno_path="$(command -v "$deno" 2>/dev/null || true)"
here="$(cd "$(dirname "$0")/.." && pwd)"
deno_real="$(readlink -f "$deno_path" 2>/dev/null || true)"
model_read=""
key_read=""
file_read=""
wallet_read=""
wallet_write=""
# A voucher file named anywhere (`vouchers take --out`, `vouchers list --file`, `proxy --vouchers`):
# its folder read and written (the file is replaced whole by renaming a temporary file beside it).
wallet() {
  wallet_read="$wallet_read,$(dirname "$1")"
  wallet_write="$wallet_write,$(dirname "$1")"
}
prev=""
for arg in "$@"; do
  [ "${1:-}" = receipts ] && [ -f "$arg" ] && file_read="$file_read,$arg"
  [ "$prev" = --model ] && model_read=",$arg"
  [ "$prev" = --key ] && key_read=",$arg"
  case "$prev" in --out | --vouchers | --file) [ "${1:-}" = vouchers ] || [ "${1:-}" = proxy ] && wallet "$arg" ;; esac
  case "$arg" in
    --model=*) model_read=",${arg#--model=}" ;;
    --key=*) key_read=",${arg#--key=}" ;;
    --out=* | --vouchers=* | --file=*) [ "${1:-}" = vouchers ] || [ "${1:-}" = proxy ] && wallet "${arg#*=}" ;;
  esac
  prev="$arg"
done
# `infernet stop` signals the daemon with kill; `infernet service` writes a systemd unit (user or
# system folder) and runs systemctl; `infernet restart` starts the installed `infernet` again.
units="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user,/etc/systemd/system"
INFERNET_BIN="${INFERNET_BIN:-$(command -v infernet 2>/dev/null || echo "$here/cli/infernet.sh")}"
export INFERNET_BIN

pick() {
  if [ -f "$home/current/cli/main.ts" ]; then echo "$home/current"; else echo "$here"; fi
}

run() {
  root="$1"
  shift
  exec "$deno" run --quiet --config "$root/deno.json" \
    --allow-net --allow-env \
    --allow-sys=hostname,osRelease,systemMemoryInfo,networkInterfaces,cpus,homedir,uid,gid,statfs \
    --allow-run="nvidia-smi,rocm-smi,system_profiler,kill,systemctl,infernet,ln${deno_path:+,$deno_path}${deno_real:+,$deno_real}" \
    --allow-ffi="$root/node_modules,/usr/lib,/usr/lib64,/usr/local/lib,/opt/homebrew/lib" \
    --allow-read="$home,$root,$units,/lib,/lib64,/usr/lib$model_read$key_read$file_read$wallet_read" \
    --allow-write="$home,$units$wallet_write" \
    "$root/cli/main.ts" "$@"
}

[ "${1:-}" = start ] || run "$(pick)" "$@"

export INFERNET_LAUNCHER=1
pid=""
trap '[ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null || true' TERM
trap '[ -z "$pid" ] || kill -INT "$pid" 2>/dev/null || true' INT
trap '[ -z "$pid" ] || kill -HUP "$pid" 2>/dev/null || true' HUP
set +e
while :; do
  run "$(pick)" "$@" &
  pid=$!
  wait "$pid"
  rc=$?
  # A trapped signal interrupts `wait`; keep waiting until the daemon itself has exited.
  while kill -0 "$pid" 2>/dev/null; do
    wait "$pid"
    rc=$?
  done
  [ "$rc" -eq 75 ] || exit "$rc"
  echo "infernet: starting the upgraded version from $(pick)" >&2
done
