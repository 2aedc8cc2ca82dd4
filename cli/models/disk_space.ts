// Free disk space before a download. Deno 2.9 has no `Deno.statfs`; node:fs `statfs` works but
// needs `--allow-sys=statfs`, which the operator's permissions may not include, so the default
// checker asks for it only when already granted and otherwise reports "unknown" (null).
import { statfs } from "node:fs/promises";

/** Tells how many bytes can still be written under a folder; null when it cannot tell. */
export interface DiskSpace {
  freeBytes(dir: string): Promise<number | null>;
}

/** Bytes kept free beyond the download itself, so a full disk never breaks the node. */
export const DISK_RESERVE_BYTES = 512 * 1024 * 1024;

/** The real disk: node:fs `statfs` when `--allow-sys=statfs` is granted, else unknown. */
export const systemDiskSpace: DiskSpace = {
  async freeBytes(dir: string): Promise<number | null> {
    try {
      // "statfs" is a sys kind Deno checks at runtime; its type list lags behind.
      const desc = { name: "sys", kind: "statfs" } as unknown as Deno.PermissionDescriptor;
      if ((await Deno.permissions.query(desc)).state !== "granted") return null;
      const s = await statfs(dir);
      return Number(s.bavail) * Number(s.bsize);
    } catch {
      return null;
    }
  },
};
