// Unpacks an npm package tarball (gzip + POSIX ustar, with the pax and GNU long-name headers
// node-tar writes). Only regular files and folders are accepted: a link, a device, an absolute
// path or a `..` segment makes the whole tarball invalid, so nothing can land outside `dest`.
// Also packs one (`packTgz`: a release is signed inside its tarball, dev/release_sign.ts).

const BLOCK = 512;
const decoder = new TextDecoder();

/** One file of a tarball. */
export interface TarFile {
  /** Path inside the tarball, `/`-separated, never absolute, never with `..`. */
  path: string;
  mode: number;
  data: Uint8Array;
}

/** A tarball that cannot be unpacked safely. */
export class TarError extends Error {}

function text(block: Uint8Array, start: number, length: number): string {
  const slice = block.subarray(start, start + length);
  const end = slice.indexOf(0);
  return decoder.decode(end === -1 ? slice : slice.subarray(0, end));
}

function octal(block: Uint8Array, start: number, length: number): number {
  if (block[start] & 0x80) {
    // GNU base-256 for large values.
    let n = 0;
    for (let i = start + 1; i < start + length; i++) n = n * 256 + block[i];
    return n;
  }
  const s = text(block, start, length).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarError(`bad octal field '${s}'`);
  return parseInt(s, 8);
}

function checksumOk(block: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i];
  return sum === octal(block, 148, 8);
}

function paxRecords(data: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const s = decoder.decode(data);
  let i = 0;
  while (i < s.length) {
    const space = s.indexOf(" ", i);
    const len = Number(s.slice(i, space));
    if (space === -1 || !Number.isSafeInteger(len) || len <= 0) throw new TarError("bad pax header");
    const record = s.slice(space + 1, i + len - 1);
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    i += len;
  }
  return out;
}

/** Checks and normalises an entry path; throws on anything that could escape the folder. */
export function safeTarPath(path: string): string {
  const parts = path.replaceAll("\\", "/").split("/").filter((p) => p !== "" && p !== ".");
  if (path.startsWith("/") || parts.length === 0 || parts.some((p) => p === "..")) {
    throw new TarError(`unsafe path in tarball: '${path}'`);
  }
  return parts.join("/");
}

/** Reads the files of an (uncompressed) tar archive. */
export function readTar(tar: Uint8Array): TarFile[] {
  const files: TarFile[] = [];
  let longName: string | null = null;
  let pax: Record<string, string> = {};
  for (let off = 0; off + BLOCK <= tar.length;) {
    const header = tar.subarray(off, off + BLOCK);
    if (header.every((b) => b === 0)) break;
    if (!checksumOk(header)) throw new TarError(`bad header checksum at byte ${off}`);
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156] || 48);
    const dataStart = off + BLOCK;
    if (dataStart + size > tar.length) throw new TarError("tarball is truncated");
    const data = tar.subarray(dataStart, dataStart + size);
    off = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (type === "x") {
      pax = paxRecords(data);
      continue;
    }
    if (type === "g") continue;
    if (type === "L") {
      longName = text(data, 0, data.length);
      continue;
    }
    const magic = text(header, 257, 6);
    const prefix = magic.startsWith("ustar") ? text(header, 345, 155) : "";
    const name = pax.path ?? longName ??
      (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100));
    longName = null;
    pax = {};
    if (type === "5") {
      safeTarPath(name);
      continue;
    }
    if (type !== "0" && type !== "7") throw new TarError(`'${name}' is not a regular file (type ${type})`);
    files.push({ path: safeTarPath(name), mode: octal(header, 100, 8), data });
  }
  return files;
}

/** Gunzips and reads a `.tgz`. */
export async function readTgz(tgz: Uint8Array<ArrayBuffer>): Promise<TarFile[]> {
  let tar: Uint8Array;
  try {
    const stream = new Blob([tgz]).stream().pipeThrough(new DecompressionStream("gzip"));
    tar = new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (err) {
    throw new TarError(`not a gzip file: ${(err as Error).message}`);
  }
  return readTar(tar);
}

/** Writes the files under `dest` (created); executables stay executable, nothing else is kept. */
export async function writeTarFiles(files: TarFile[], dest: string): Promise<void> {
  await Deno.mkdir(dest, { recursive: true });
  for (const f of files) {
    const path = `${dest}/${f.path}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(path, f.data, { mode: f.mode & 0o111 ? 0o755 : 0o644 });
  }
}

const encoder = new TextEncoder();

function octalField(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, "0") + "\0";
}

function tarHeader(name: string, size: number, mode: number, type: string, prefix = ""): Uint8Array {
  const h = new Uint8Array(512);
  const put = (s: string, at: number) => h.set(encoder.encode(s), at);
  put(name, 0);
  put(octalField(mode, 8), 100);
  put(octalField(0, 8), 108);
  put(octalField(0, 8), 116);
  put(octalField(size, 12), 124);
  put(octalField(499162500, 12), 136); // npm pack stamps a fixed mtime (1985-10-26)
  put("        ", 148);
  put(type, 156);
  put("ustar\u000000", 257);
  put(prefix, 345);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  return h;
}

function padded(data: Uint8Array): Uint8Array[] {
  const rest = data.length % 512;
  return rest ? [data, new Uint8Array(512 - rest)] : [data];
}

/**
 * Packs files (paths as they go in the tarball, e.g. `package/cli/main.ts`) into a gzipped ustar
 * tarball as node-tar writes one: a pax header for a path over 100 bytes, npm's fixed mtime.
 */
export async function packTgz(
  files: readonly { path: string; data: Uint8Array | string; mode?: number }[],
): Promise<Uint8Array<ArrayBuffer>> {
  const parts: Uint8Array[] = [];
  for (const f of files) {
    const data = typeof f.data === "string" ? encoder.encode(f.data) : f.data;
    const path = f.path;
    const mode = f.mode ?? 0o644;
    if (encoder.encode(path).length > 100) {
      const line = (n: number) => `${n} path=${path}\n`;
      let len = encoder.encode(line(0)).length;
      while (encoder.encode(line(len)).length !== len) len = encoder.encode(line(len)).length;
      const pax = encoder.encode(line(len));
      parts.push(tarHeader("PaxHeader", pax.length, 0o644, "x"), ...padded(pax));
      parts.push(tarHeader(path.slice(-99), data.length, mode, "0"), ...padded(data));
    } else {
      parts.push(tarHeader(path, data.length, mode, "0"), ...padded(data));
    }
  }
  parts.push(new Uint8Array(1024));
  const stream = new Blob(parts as BlobPart[]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
