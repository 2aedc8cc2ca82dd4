#!/bin/sh
# Installs the `infernet` command (and its alias `inferneta`) for the current user.
#   curl -fsSL https://infernetprotocol.com/install.sh | sh    a compiled binary when one is published for this
#                                                OS/CPU, else Deno (from npm) + the CLI from npm
#   ./install.sh                                 from a checkout: Deno + this checkout's CLI
# Idempotent: running it again changes nothing (and says so) unless something is missing or new.
# Settings (environment):
#   INFERNET_BIN_DIR       where the commands go (default ~/.local/bin)
#   INFERNET_INSTALL_DIR   binary, Deno and CLI files (default ~/.local/share/infernet)
#   INFERNET_BINARY_URL    compiled binary URL, {platform} = linux-x64|linux-arm64|darwin-x64|
#                          darwin-arm64; http(s):// or file://; "none" to install from source
#   INFERNET_NPM_PACKAGE   the CLI's npm package when not run from a checkout (default infernet)
#   INFERNET_DENO_VERSION  Deno from npm when no Deno 2 is on PATH (default 2.9.6)
set -eu

say() { printf 'infernet-install: %s\n' "$*"; }
die() { printf 'infernet-install: error: %s\n' "$*" >&2; exit 1; }

os="$(uname -s)"
arch="$(uname -m)"
case "$os" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) die "unsupported OS '$os' (Linux and macOS are supported)" ;;
esac
case "$arch" in
  x86_64 | amd64) arch=x64 ;;
  arm64 | aarch64) arch=arm64 ;;
  *) die "unsupported CPU architecture '$arch' (x86_64 and aarch64 are supported)" ;;
esac
platform="$os-$arch"

bin="${INFERNET_BIN_DIR:-$HOME/.local/bin}"
dir="${INFERNET_INSTALL_DIR:-$HOME/.local/share/infernet}"
deno_version="${INFERNET_DENO_VERSION:-2.9.6}"
# (A default inside ${…:-…} cannot hold the braces of {platform}.)
binary_url="${INFERNET_BINARY_URL:-}"
[ -n "$binary_url" ] || binary_url='https://infernetprotocol.com/releases/latest/infernet-{platform}'
mkdir -p "$bin" "$dir"
changed=0
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Copies $1 to $2 (mode $3) only when the content differs, atomically.
put() {
  if [ -f "$2" ] && cmp -s "$1" "$2"; then return 0; fi
  cp "$1" "$2.tmp.$$" && chmod "$3" "$2.tmp.$$" && mv "$2.tmp.$$" "$2"
  changed=1
}

# Writes the two launchers, each running the command line in $1.
launchers() {
  for name in infernet inferneta; do
    printf '#!/bin/sh\n# Launcher written by install.sh.\n%s\n' "$1" >"$work/$name"
    put "$work/$name" "$bin/$name" 755
  done
}

fetch() {
  case "$1" in
    file://*) [ -f "${1#file://}" ] && cp "${1#file://}" "$2" ;;
    *)
      if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 2 -o "$2" "$1" 2>/dev/null
      elif command -v wget >/dev/null 2>&1; then
        wget -q -O "$2" "$1"
      else
        return 1
      fi
      ;;
  esac
}

finish() {
  version="$("$bin/infernet" --version 2>&1)" || die "the installed infernet does not run: $version"
  if [ "$changed" = 0 ]; then
    say "already installed: infernet $version ($1) in $bin; nothing changed"
  else
    say "installed: infernet $version ($1) as $bin/infernet and $bin/inferneta"
  fi
  case ":$PATH:" in
    *":$bin:"*) ;;
    *) say "add $bin to your PATH, e.g.: echo 'export PATH=\"$bin:\$PATH\"' >> ~/.profile" ;;
  esac
  say "next: infernet init && infernet register --server <control plane URL> && infernet start"
  exit 0
}

# 1. A compiled binary, when one is published for this platform.
if [ "$binary_url" != none ]; then
  url="$(printf '%s' "$binary_url" | sed "s/{platform}/$platform/g")"
  if fetch "$url" "$work/infernet" && chmod 755 "$work/infernet" && "$work/infernet" --version >/dev/null 2>&1; then
    mkdir -p "$dir/bin"
    put "$work/infernet" "$dir/bin/infernet" 755
    launchers "exec \"$dir/bin/infernet\" \"\$@\""
    finish "binary for $platform"
  fi
  say "no compiled binary for $platform at $url; installing Deno and the CLI instead"
fi

# 2. Deno: a Deno 2 on PATH, else the pinned version from npm into $dir/deno.
deno=""
if command -v deno >/dev/null 2>&1 && deno --version 2>/dev/null | grep -q '^deno 2\.'; then
  deno="$(command -v deno)"
elif [ -x "$dir/deno/bin/deno" ] && "$dir/deno/bin/deno" --version 2>/dev/null | grep -q "^deno $deno_version"; then
  deno="$dir/deno/bin/deno"
elif command -v npm >/dev/null 2>&1; then
  say "installing Deno $deno_version from npm into $dir/deno…"
  npm install -g --prefix "$dir/deno" --no-audit --no-fund --loglevel=error "deno@$deno_version" >/dev/null ||
    die "npm could not install deno@$deno_version"
  deno="$dir/deno/bin/deno"
  changed=1
else
  die "no compiled binary for $platform and neither Deno 2 nor npm found: install Node.js (which brings npm) or Deno 2 (https://deno.com), then run this again"
fi

# 3. The CLI: this checkout, or the npm package.
src=""
here="$(cd "$(dirname "$0")" 2>/dev/null && pwd || true)"
if [ -n "$here" ] && [ -f "$here/cli/main.ts" ] && [ -f "$here/deno.json" ]; then
  src="$here"
  runs() { "$deno" run --quiet --config "$src/deno.json" --allow-env "$src/cli/main.ts" --version >/dev/null 2>&1; }
  if ! runs; then
    command -v npm >/dev/null 2>&1 || die "the checkout's npm dependencies are missing and npm is not installed: install Node.js (npm)"
    say "installing the checkout's dependencies (npm)…"
    (cd "$src" && npm install --no-audit --no-fund --loglevel=error) || die "npm install failed in $src"
    changed=1
    runs || die "the CLI in $src does not run with $deno"
  fi
else
  command -v npm >/dev/null 2>&1 || die "installing the CLI from npm needs npm: install Node.js (npm) first"
  pkg="${INFERNET_NPM_PACKAGE:-infernet}"
  src="$dir/cli/node_modules/$pkg"
  before="$(cat "$src/package.json" 2>/dev/null || true)"
  say "installing $pkg from npm into $dir/cli…"
  npm install --prefix "$dir/cli" --no-audit --no-fund --loglevel=error "$pkg@latest" >/dev/null ||
    die "npm could not install $pkg"
  [ "$before" = "$(cat "$src/package.json")" ] || changed=1
  [ -f "$src/cli/infernet.sh" ] || die "$pkg from npm has no cli/infernet.sh"
fi
launchers "DENO=\"$deno\" exec sh \"$src/cli/infernet.sh\" \"\$@\""
finish "Deno $("$deno" --version | head -n 1 | cut -d' ' -f2), CLI from $src"
