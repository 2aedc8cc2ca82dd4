// Unpacks an npm package tarball (gzip + POSIX ustar, with the pax and GNU long-name headers
// node-tar writes). Only regular files and folders are accepted: a link, a device, an absolute
// path or a `..` segment makes the whole tarball invalid, so nothing can land outside `dest`.

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
