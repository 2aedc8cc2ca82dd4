// Opening an optional system C library through Deno's FFI (libsecp256k1, libsodium): in the folders
// distributions put them, or at the path an environment variable names, and only where
// `--allow-ffi` already allows it, so that a run without the permission never prompts.

// Absolute, so that a path-scoped `--allow-ffi=/usr/lib,...` covers them.
const LIBRARY_DIRS = [
  "/usr/lib/x86_64-linux-gnu",
  "/usr/lib/aarch64-linux-gnu",
  "/usr/lib64",
  "/usr/lib",
  "/usr/local/lib",
  "/opt/homebrew/lib",
];

function granted(descriptor: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false;
  }
}

/**
 * The first of `names` (file names, most preferred first) that opens with `symbols`, or the file
 * `envVariable` names when it is set and readable; null when none opens (absent, too old for a
 * symbol, or not allowed).
 * @example openLibrary(["libsodium.so.26", "libsodium.so.23"], SYMBOLS, "INFERNET_LIBSODIUM")
 */
export function openLibrary<S extends Deno.ForeignLibraryInterface>(
  names: readonly string[],
  symbols: S,
  envVariable: string,
): Deno.DynamicLibrary<S> | null {
  const configured = granted({ name: "env", variable: envVariable }) ? Deno.env.get(envVariable) : undefined;
  const paths = configured
    ? [configured]
    : LIBRARY_DIRS.flatMap((dir) => names.map((name) => `${dir}/${name}`));
  for (const path of paths) {
    if (!granted({ name: "ffi", path })) continue;
    try {
      return Deno.dlopen(path, symbols);
    } catch {
      // not here, or too old (a symbol is missing): try the next one
    }
  }
  return null;
}
