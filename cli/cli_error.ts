// The CLI's one error: a stable code, a one-line message for the operator, and an exit code.

/** Stable codes for CLI failures. */
export type CliErrorCode =
  | "usage"
  | "no_identity"
  | "identity_exists"
  | "bad_identity"
  | "config"
  | "no_engine"
  | "server_unreachable"
  | "server_refused"
  | "not_registered"
  | "model_not_found"
  | "no_fitting_quant"
  | "hub_unauthorized"
  | "hub_error"
  | "download_failed"
  | "hash_mismatch"
  | "disk_full"
  | "interrupted"
  | "upgrade_failed"
  | "restart_for_upgrade"
  | "daemon_running"
  | "stop_timeout"
  | "service"
  | "checks_failed"
  | "login_expired"
  | "login_denied"
  | "bad_receipts"
  | "receipts_invalid"
  | "receipt_invalid"
  | "reputation_disagrees"
  | "model_key";

/** An error printed as one line by `cli/main.ts`, which then exits with `exitCode`. */
export class CliError extends Error {
  readonly code: CliErrorCode;
  readonly exitCode: number;
  constructor(code: CliErrorCode, message: string, opts: { exitCode?: number; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = "CliError";
    this.code = code;
    this.exitCode = opts.exitCode ?? (code === "usage" ? 2 : 1);
  }
}
