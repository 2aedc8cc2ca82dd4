// The daemon's log file, `$INFERNET_HOME/logs/daemon.log`, used when the service starts it or
// with `infernet start --log-file`. Lines are appended synchronously (nothing is lost on exit);
// past a size limit the file is rotated to daemon.log.1 … daemon.log.<keep>.

/** Where the daemon logs, relative to the node's home. */
export const LOG_FILE = "logs/daemon.log";

/** Size at which the log is rotated. */
export const LOG_MAX_BYTES = 10 * 1024 * 1024;

/** Rotated files kept besides the current one. */
export const LOG_KEEP = 3;

/** Options for {@link RotatingLogFile.open}. */
export interface LogFileOptions {
  maxBytes?: number;
  keep?: number;
}

/** The log file's path. */
export function logFilePath(home: string): string {
  return `${home}/${LOG_FILE}`;
}

const encoder = new TextEncoder();

/** An append-only log file rotated by size. */
export class RotatingLogFile {
  #path: string;
  #maxBytes: number;
  #keep: number;
  #file: Deno.FsFile;
  #size: number;

  private constructor(path: string, opts: Required<LogFileOptions>, file: Deno.FsFile, size: number) {
    this.#path = path;
    this.#maxBytes = opts.maxBytes;
    this.#keep = opts.keep;
    this.#file = file;
    this.#size = size;
  }

  /** Opens (creating the folder and file) for appending. */
  static open(path: string, opts: LogFileOptions = {}): RotatingLogFile {
    Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")), { recursive: true, mode: 0o700 });
    const file = Deno.openSync(path, { append: true, create: true, mode: 0o600 });
    const size = file.statSync().size;
    return new RotatingLogFile(path, { maxBytes: LOG_MAX_BYTES, keep: LOG_KEEP, ...opts }, file, size);
  }

  /** Appends one line, rotating first when it would pass the size limit. */
  writeLine(line: string): void {
    const bytes = encoder.encode(line.endsWith("\n") ? line : line + "\n");
    if (this.#size > 0 && this.#size + bytes.length > this.#maxBytes) this.#rotate();
    let written = 0;
    while (written < bytes.length) written += this.#file.writeSync(bytes.subarray(written));
    this.#size += bytes.length;
  }

  #rotate(): void {
    this.#file.close();
    for (let i = this.#keep - 1; i >= 1; i--) {
      try {
        Deno.renameSync(`${this.#path}.${i}`, `${this.#path}.${i + 1}`);
      } catch {
        // No such rotation yet.
      }
    }
    Deno.renameSync(this.#path, `${this.#path}.1`);
    this.#file = Deno.openSync(this.#path, { append: true, create: true, mode: 0o600 });
    this.#size = 0;
  }

  /** Closes the file. */
  close(): void {
    try {
      this.#file.close();
    } catch {
      // Already closed.
    }
  }
}
