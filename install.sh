#!/bin/sh
# Installs the `infernet` command (and its alias `inferneta`) for the current user.
# From a checkout:  ./install.sh          (uses this checkout)
# Idempotent: running it again updates the launchers and dependencies in place.
# Needs Node.js/npm (Deno comes from npm) or Deno itself. Puts launchers in ~/.local/bin.
set -eu

say() { printf 'infernet-install: %s\n' "$*"; }
die() { printf 'infernet-install: error: %s\n' "$*" >&2; exit 1; }

os="$(uname -s)"
arch="$(uname -m)"
case "$os" in Linux|Darwin) ;; *) die "unsupported OS '$os' (Linux and macOS are supported)";; esac
case "$arch" in x86_64|amd64|arm64|aarch64) ;; *) die "unsupported CPU architecture '$arch'";; esac

src="$(cd "$(dirname "$0")" && pwd)"
[ -f "$src/cli/main.ts" ] || die "run this script from an Infernet checkout (cli/main.ts not found in $src)"

bin="${INFERNET_BIN_DIR:-$HOME/.local/bin}"
mkdir -p "$bin"

if command -v npm >/dev/null 2>&1; then
  say "installing dependencies (npm, includes Deno)…"
  (cd "$src" && npm install --no-audit --no-fund --loglevel=error)
  deno="$src/node_modules/.bin/deno"
elif command -v deno >/dev/null 2>&1; then
  say "installing dependencies with Deno…"
  (cd "$src" && deno install)
  deno="$(command -v deno)"
else
  die "neither npm nor deno found; install Node.js (with npm) or Deno first"
fi

for name in infernet inferneta; do
  cat >"$bin/$name.tmp" <<LAUNCHER
#!/bin/sh
# Launcher written by install.sh: the infernet CLI from $src with its explicit permissions.
DENO="$deno" exec sh "$src/cli/infernet.sh" "\$@"
LAUNCHER
  chmod 755 "$bin/$name.tmp"
  mv "$bin/$name.tmp" "$bin/$name"
done

say "installed: $bin/infernet (and $bin/inferneta)"
case ":$PATH:" in
  *":$bin:"*) ;;
  *) say "add $bin to your PATH, e.g.: echo 'export PATH=\"$bin:\$PATH\"' >> ~/.profile";;
esac
say "next: infernet init && infernet register --server <control plane URL> && infernet start"
