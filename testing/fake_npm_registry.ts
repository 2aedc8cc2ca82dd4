// A fake npm registry for upgrade tests, faithful to what the CLI reads from the real one:
// `GET /<name>` answers the packument (full JSON, or the abbreviated "corgi" form when asked
// with `Accept: application/vnd.npm.install-v1+json`), scoped names as `/@scope%2fname`;
// tarballs at `/<name>/-/<basename>-<version>.tgz` with real `shasum` (sha1 hex) and
// `integrity` (sha512 SRI) in each version's `dist`. Unknown names are 404 `{"error":"Not found"}`.

import { packTgz } from "../cli/upgrade/tar.ts";
import { RELEASE_FILE, signRelease } from "../cli/upgrade/release_signature.ts";

/** One file to put in a package tarball (under `package/`, as `npm pack` does). */
export interface PackFile {
  path: string;
  data: Uint8Array | string;
  mode?: number;
}

/** A published version as the fake keeps it. */
export interface FakeNpmVersion {
  manifest: Record<string, unknown>;
  tarball: Uint8Array<ArrayBuffer>;
}

/** Options of one publish. */
export interface FakePublishOptions {
  /** The dist-tag to move (default `latest`; `null` moves none, as `npm publish --tag` on a prerelease). */
  tag?: string | null;
  /** Advertise a wrong sha512 (a corrupted mirror), to test that the client refuses it. */
  corruptIntegrity?: boolean;
  /** Extra manifest fields (dependencies, bin…). */
  manifest?: Record<string, unknown>;
}

/** A running fake registry. */
export interface FakeNpmRegistry {
  url: string;
  /** Request paths seen, in order. */
  requests: string[];
  /** Publishes a version from files (packed here) or a ready `.tgz`. */
  publish(
    name: string,
    version: string,
    content: PackFile[] | Uint8Array<ArrayBuffer>,
    opts?: FakePublishOptions,
  ): Promise<FakeNpmVersion>;
  close(): Promise<void>;
}

/** `files` with RELEASE.json: the release `name`@`version` signed by `key`, as a publisher signs it. */
export function signedPackFiles(
  files: PackFile[],
  key: Uint8Array,
  name: string,
  version: string,
): PackFile[] {
  const bytes = files.map((f) => ({
    path: f.path,
    data: typeof f.data === "string" ? new TextEncoder().encode(f.data) : f.data,
  }));
  const event = signRelease(key, { packageName: name, version, files: bytes });
  return [...files, { path: RELEASE_FILE, data: JSON.stringify(event) }];
}

/** Packs files into a gzipped tarball under `package/`, as `npm pack` does (cli/upgrade/tar.ts). */
export function packTarball(files: PackFile[]): Promise<Uint8Array<ArrayBuffer>> {
  return packTgz(files.map((f) => ({ ...f, path: `package/${f.path}` })));
}

async function digest(algo: "SHA-1" | "SHA-512", data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest(algo, data));
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const base64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));

/** Starts the fake registry on 127.0.0.1 with an ephemeral port. */
export function startFakeNpmRegistry(): FakeNpmRegistry {
  type Package = {
    versions: Map<string, FakeNpmVersion>;
    tags: Record<string, string>;
    time: Record<string, string>;
  };
  const packages = new Map<string, Package>();
  const requests: string[] = [];
  const json = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    requests.push(path);
    if (req.method !== "GET") return json({ error: "Method not allowed" }, 405);
    const tgz = /^\/(.+)\/-\/[^/]+-(\d[^/]*)\.tgz$/.exec(path);
    if (tgz) {
      const v = packages.get(tgz[1])?.versions.get(tgz[2]);
      return v
        ? new Response(v.tarball, { headers: { "content-type": "application/octet-stream" } })
        : json({ error: "Not found" }, 404);
    }
    const name = path.slice(1);
    const pkg = packages.get(name);
    if (!pkg) return json({ error: "Not found" }, 404);
    const corgi = (req.headers.get("accept") ?? "").includes("application/vnd.npm.install-v1+json");
    const versions = Object.fromEntries(
      [...pkg.versions].map(([v, { manifest }]) => [
        v,
        corgi
          ? {
            name: manifest.name,
            version: manifest.version,
            dependencies: manifest.dependencies ?? {},
            dist: manifest.dist,
          }
          : manifest,
      ]),
    );
    return corgi
      ? json({ name, "dist-tags": pkg.tags, versions, modified: pkg.time.modified })
      : json({ _id: name, name, "dist-tags": pkg.tags, versions, time: pkg.time });
  });
  const url = `http://127.0.0.1:${server.addr.port}`;

  return {
    url,
    requests,
    async publish(name, version, content, opts = {}) {
      const tarball = content instanceof Uint8Array ? content : await packTarball(content);
      const sha512 = await digest("SHA-512", tarball);
      if (opts.corruptIntegrity) sha512[0] ^= 0xff;
      const basename = name.split("/").pop()!;
      const manifest = {
        name,
        version,
        ...opts.manifest,
        _id: `${name}@${version}`,
        dist: {
          shasum: hex(await digest("SHA-1", tarball)),
          integrity: `sha512-${base64(sha512)}`,
          tarball: `${url}/${name}/-/${basename}-${version}.tgz`,
          fileCount: Array.isArray(content) ? content.length : undefined,
        },
      };
      const pkg: Package = packages.get(name) ??
        { versions: new Map(), tags: {}, time: { created: new Date().toISOString() } };
      packages.set(name, pkg);
      const published = { manifest, tarball };
      pkg.versions.set(version, published);
      const tag = opts.tag === undefined ? "latest" : opts.tag;
      if (tag) pkg.tags[tag] = version;
      pkg.time[version] = pkg.time.modified = new Date().toISOString();
      return published;
    },
    close: () => server.shutdown(),
  };
}
