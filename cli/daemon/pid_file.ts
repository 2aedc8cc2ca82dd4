// The running daemon's pid file, `$INFERNET_HOME/daemon.pid`. The daemon holds an exclusive lock
// on it while it runs, so a pid file whose lock is free is stale (a crashed or killed daemon),
// whatever its pid now names; no process table is read and no signal is needed to tell.
import { CliError } from "../cli_error.ts";

/** The pid file's name in the node's home. */
export const PID_FILE = "daemon.pid";

/** What the pid file says about the daemon. */
export interface DaemonPid {
  pid: number | null;
  /** True while a daemon holds the file's lock. */
  running: boolean;
}

/** The pid file's path. */
export function pidFilePath(home: string): string {
  return `${home}/${PID_FILE}`;
}

/** The daemon's pid file, held for the daemon's lifetime. */
export class PidFile {
  #file: Deno.FsFile;
  #path: string;

  private constructor(file: Deno.FsFile, path: string) {
    this.#file = file;
    this.#path = path;
  }

  /** Takes the lock and writes this process's pid; fails when another daemon holds it. */
  static async acquire(home: string): Promise<PidFile> {
    const path = pidFilePath(home);
    const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
    if (!(await file.tryLock(true))) {
      file.close();
      const pid = (await readDaemonPid(home))?.pid;
      throw new CliError(
        "daemon_running",
        `a node daemon is already running${pid ? ` (pid ${pid})` : ""}; stop it with 'infernet stop'`,
      );
    }
    await file.truncate(0);
    await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
    return new PidFile(file, path);
  }

  /** Removes the file and releases the lock. */
  async release(): Promise<void> {
    await Deno.remove(this.#path).catch(() => {});
    try {
      this.#file.close();
    } catch {
      // Already closed.
    }
  }
}

/** Reads the pid file: null when there is none; `running` false when it is stale. */
export async function readDaemonPid(home: string): Promise<DaemonPid | null> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(pidFilePath(home), { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
  try {
    const running = !(await file.tryLock(false));
    const text = new TextDecoder().decode(await readAll(file)).trim();
    const pid = /^\d+$/.test(text) ? Number(text) : null;
    return { pid, running };
  } finally {
    file.close();
  }
}

async function readAll(file: Deno.FsFile): Promise<Uint8Array> {
  const buf = new Uint8Array(64);
  const n = await file.read(buf);
  return buf.subarray(0, n ?? 0);
}

/** Removes a stale pid file (one no daemon holds); true when it did. */
export async function removeStalePidFile(home: string): Promise<boolean> {
  const state = await readDaemonPid(home);
  if (!state || state.running) return false;
  await Deno.remove(pidFilePath(home)).catch(() => {});
  return true;
}
