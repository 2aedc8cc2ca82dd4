// NIP-98-signed requests from the operator's commands to the node API (a GET signs the empty
// body), and one reader for the answers: JSON on success, the server's own message as a CliError.
import { createNip98Header, isRecord, sleep } from "../../shared/mod.ts";
import { CliError } from "../cli_error.ts";

/**
 * Sends a NIP-98-signed request (JSON body when `payload` is given). A NIP-98 event id covers
 * the second, URL, method and body, so the same request twice in one second is refused as a
 * replay; that refusal changed nothing, so it is signed afresh in the next second and sent once
 * more.
 */
export async function signedRequest(
  server: string,
  method: "GET" | "POST",
  path: string,
  secretKey: Uint8Array,
  payload?: unknown,
): Promise<Response> {
  const res = await send(server, method, path, secretKey, payload);
  if (res.status !== 401) return res;
  const body = await res.clone().json().catch(() => null);
  if (body?.error?.code !== "nip98_replayed") return res;
  await res.body?.cancel();
  await sleep(1000 - (Date.now() % 1000) + 10);
  return await send(server, method, path, secretKey, payload);
}

/** Sends a NIP-98-signed GET to the control plane. */
export function signedGet(server: string, path: string, secretKey: Uint8Array): Promise<Response> {
  return signedRequest(server, "GET", path, secretKey);
}

async function send(
  server: string,
  method: "GET" | "POST",
  path: string,
  secretKey: Uint8Array,
  payload: unknown,
): Promise<Response> {
  const url = server + path;
  const body = payload === undefined ? "" : JSON.stringify(payload);
  const headers: Record<string, string> = { authorization: createNip98Header(secretKey, url, method, body) };
  if (payload !== undefined) headers["content-type"] = "application/json";
  try {
    return await fetch(url, {
      method,
      headers,
      body: payload === undefined ? undefined : body,
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    throw new CliError(
      "server_unreachable",
      `cannot reach the control plane at ${server}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** The JSON object of a node API answer, or a CliError carrying the server's message. */
export async function readNodeAnswer(res: Response, what: string): Promise<Record<string, unknown>> {
  const text = await res.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON (a proxy's error page): reported by status below.
  }
  const isObject = isRecord(body);
  if (!res.ok) {
    const message = isObject ? (body as { error?: { message?: unknown } }).error?.message : undefined;
    throw new CliError(
      "server_refused",
      `${what}: ${typeof message === "string" ? message : `HTTP ${res.status}`}`,
    );
  }
  if (!isObject) throw new CliError("server_refused", `${what}: the server's answer is not a JSON object`);
  return body as Record<string, unknown>;
}
