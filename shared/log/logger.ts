/** Log levels, most verbose first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;

/** One of the log levels. */
export type LogLevel = typeof LOG_LEVELS[number];

/** A structured logger: one JSON object per line on stderr. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger that adds these fields to every line. */
  child(fields: Record<string, unknown>): Logger;
}

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Lines below this level are dropped; the default ("warn") keeps logs quiet. */
  level?: LogLevel;
  /** Where lines go; stderr by default. */
  write?: (line: string) => void;
  fields?: Record<string, unknown>;
}

/** True when `x` names a log level. */
export function isLogLevel(x: unknown): x is LogLevel {
  return typeof x === "string" && (LOG_LEVELS as readonly string[]).includes(x);
}

const encoder = new TextEncoder();

/**
 * Writes a line to stderr; a line that cannot be written (the reader closed the pipe) is dropped:
 * a daemon whose terminal or log reader went away keeps serving.
 */
function writeStderr(line: string): void {
  try {
    Deno.stderr.writeSync(encoder.encode(line + "\n"));
  } catch {
    // Nowhere to report it.
  }
}

/** Creates a structured logger, quiet (warn and above) by default. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const min = LOG_LEVELS.indexOf(opts.level ?? "warn");
  const write = opts.write ?? writeStderr;
  const base = opts.fields ?? {};
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (LOG_LEVELS.indexOf(level) < min) return;
    const line = { time: new Date().toISOString(), level, msg, ...base, ...fields };
    write(JSON.stringify(line, errorReplacer));
  };
  return {
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
    child: (fields) => createLogger({ ...opts, fields: { ...base, ...fields } }),
  };
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, cause: value.cause, stack: value.stack };
  }
  if (typeof value === "bigint") return value.toString();
  return value;
}
