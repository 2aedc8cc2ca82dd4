// `infernet login`: signs the operator in to the dashboard with the node's key (a device-code
// flow, NIP-98 signed throughout). It shows a code and a URL, waits for a browser to enter the
// code, shows which browser did, and approves it only when the operator says so (or `--yes`).
import { CliError } from "../cli_error.ts";
import { sleep } from "../../shared/mod.ts";
import { loadIdentity, loadKeyFile } from "../identity/node_key.ts";
import { readNodeAnswer, signedRequest } from "../daemon/signed_request.ts";
import { type CommandContext, loadNodeConfig, resolveServer } from "./context.ts";
import { parseFlags } from "./flags.ts";

/** What the command needs from the terminal and the clock (tests swap them). */
export interface LoginDeps {
  /** Asks a yes/no question; default: the terminal's prompt. */
  confirm?: (question: string) => boolean | Promise<boolean>;
  /** Whether an operator can answer; default: stdin is a terminal. */
  isTerminal?: boolean;
  /** Waits between polls; default: setTimeout. */
  sleep?: (ms: number) => Promise<void>;
}

/** The server's answer to starting a login. */
interface DeviceStart {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

interface BrowserClaim {
  address: string;
  user_agent: string;
  claimed_at: string;
}

function parseStart(body: Record<string, unknown>): DeviceStart {
  const s = body as Partial<DeviceStart>;
  if (
    typeof s.device_code !== "string" || typeof s.user_code !== "string" ||
    typeof s.verification_uri !== "string" || typeof s.verification_uri_complete !== "string" ||
    !Number.isSafeInteger(s.expires_in) || !Number.isSafeInteger(s.interval)
  ) throw new CliError("server_refused", "login: the server's answer is not a device login");
  return {
    ...(s as DeviceStart),
    // A server asking for a poll storm or an endless wait is bounded here.
    interval: Math.min(30, Math.max(1, s.interval!)),
    expires_in: Math.min(3600, Math.max(1, s.expires_in!)),
  };
}

function parseClaim(raw: unknown): BrowserClaim | null {
  const b = raw as Partial<BrowserClaim> | null;
  if (!b || typeof b.address !== "string" || typeof b.user_agent !== "string") return null;
  return { address: b.address, user_agent: b.user_agent, claimed_at: String(b.claimed_at ?? "") };
}

function expired(): CliError {
  return new CliError(
    "login_expired",
    "the login code expired before it was approved; run 'infernet login' again",
  );
}

function terminalConfirm(question: string): boolean {
  return /^y(es)?$/i.test((prompt(question) ?? "").trim());
}

/**
 * Runs `infernet login [--server URL] [--key FILE] [--yes] [--json]`; `--key` signs in with another
 * key file (an operator's nsec) instead of the node's.
 */
export async function runLogin(ctx: CommandContext, deps: LoginDeps = {}): Promise<void> {
  const f = parseFlags("login", ctx.args, {
    server: { type: "string" },
    yes: { type: "boolean" },
    json: { type: "boolean" },
    key: { type: "string" },
  });
  const { home, config } = await loadNodeConfig(ctx);
  const identity = f.key ? await loadKeyFile(f.key) : await loadIdentity(home);
  const server = resolveServer(f.server, config, ctx.env);
  const sk = identity.secretKey;
  const wait = deps.sleep ?? sleep;

  const start = parseStart(
    await readNodeAnswer(await signedRequest(server, "POST", "/api/login/device", sk, {}), "login refused"),
  );
  if (f.json) {
    const { device_code: _, ...shown } = start;
    ctx.print(JSON.stringify({ event: "started", ...shown }));
  } else {
    ctx.print(`To sign in to the dashboard, open ${start.verification_uri_complete}`);
    ctx.print(`or go to ${start.verification_uri} and enter the code ${start.user_code}`);
    ctx.print(`(the code expires in ${Math.round(start.expires_in / 60)} minutes; waiting for a browser…)`);
  }

  const poll = async (): Promise<Record<string, unknown>> => {
    const res = await signedRequest(server, "POST", "/api/login/device/poll", sk, {
      device_code: start.device_code,
    });
    if (res.status === 404) {
      await res.body?.cancel();
      throw expired();
    }
    return await readNodeAnswer(res, "login poll refused");
  };

  // Bounded twice: by the code's lifetime and by the number of polls that lifetime allows.
  const deadline = Date.now() + start.expires_in * 1000;
  const maxPolls = Math.ceil(start.expires_in / start.interval) + 2;
  let browser: BrowserClaim | null = null;
  for (let i = 0; i < maxPolls && Date.now() < deadline && !browser; i++) {
    await wait(start.interval * 1000);
    const answer = await poll();
    if (answer.status === "expired") throw expired();
    if (answer.status === "claimed") {
      browser = parseClaim(answer.browser);
      if (!browser) {
        throw new CliError("server_refused", "login: the server did not say which browser entered the code");
      }
    } else if (answer.status !== "pending") {
      throw new CliError("server_refused", `login: unexpected state '${String(answer.status)}'`);
    }
  }
  if (!browser) throw expired();

  const seen = `${browser.address} (${browser.user_agent || "no user agent"}) at ${browser.claimed_at}`;
  if (f.json) ctx.print(JSON.stringify({ event: "claimed", browser }));
  else ctx.print(`a browser entered the code: ${seen}`);

  let approve: boolean;
  if (f.yes) approve = true;
  else if (deps.isTerminal ?? Deno.stdin.isTerminal()) {
    approve = await (deps.confirm ?? terminalConfirm)("Approve this browser? [y/N]");
  } else {
    // Deny, so the browser is told at once rather than left waiting for the code to expire.
    await decide(server, sk, start.device_code, false).catch(() => {});
    throw new CliError(
      "usage",
      "not approving without a terminal to ask; run it in a terminal or pass --yes",
    );
  }
  await decide(server, sk, start.device_code, approve);
  if (!approve) throw new CliError("login_denied", "denied: that browser is not signed in");
  if (f.json) ctx.print(JSON.stringify({ event: "approved", browser }));
  else ctx.print("approved: the browser signs in on its next check (within a few seconds)");
}

async function decide(server: string, sk: Uint8Array, deviceCode: string, approve: boolean): Promise<void> {
  const res = await signedRequest(server, "POST", "/api/login/device/decision", sk, {
    device_code: deviceCode,
    approve,
  });
  if (res.status === 404 || res.status === 410) {
    await res.body?.cancel();
    throw expired();
  }
  await readNodeAnswer(res, approve ? "approval refused" : "denial refused");
}
