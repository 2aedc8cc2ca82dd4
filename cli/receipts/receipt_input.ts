// What `infernet receipts verify` reads: the JSON of `GET /api/receipts/{job}` or
// `GET /api/receipts?node=…` (one page or an array of pages), JSON lines of events, or the URL of
// either endpoint (following `next` to the end, with the control plane's key from its
// /.well-known/infernet.json).
import { isRecord } from "../../shared/mod.ts";
import { CliError } from "../cli_error.ts";
import type { ReceiptSet } from "./verify_receipts.ts";

/** At most this many pages are followed from a URL (at the server's page size, a long history). */
export const MAX_PAGES = 10_000;

const TIMEOUT_MS = 15_000;

function bad(message: string): CliError {
  return new CliError("bad_receipts", message);
}

/** Adds one parsed JSON value (page, item, event, or an array of them) to `set`. */
function addValue(set: ReceiptSet, value: unknown, where: string): void {
  if (Array.isArray(value)) {
    for (const v of value) addValue(set, v, where);
  } else if (isRecord(value) && Array.isArray(value.receipts)) {
    for (const item of value.receipts) addValue(set, item, where);
  } else if (isRecord(value) && "receipt" in value) {
    set.items.push({ receipt: value.receipt, node_receipt: value.node_receipt ?? null });
  } else if (isRecord(value) && "kind" in value) {
    set.events.push(value);
  } else {
    throw bad(`${where}: neither a receipts page, a receipt item nor an event`);
  }
}

/** Parses a file's text: one JSON document, else JSON lines. */
export function parseReceiptsText(text: string): ReceiptSet {
  const set: ReceiptSet = { items: [], events: [] };
  let whole: unknown;
  try {
    whole = JSON.parse(text);
  } catch {
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim() === "") continue;
      let value: unknown;
      try {
        value = JSON.parse(lines[i]);
      } catch {
        throw bad(`line ${i + 1} is not JSON`);
      }
      addValue(set, value, `line ${i + 1}`);
    }
    return set;
  }
  addValue(set, whole, "the input");
  return set;
}

async function getJson(url: URL): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, {
      signal: AbortSignal.timeout(TIMEOUT_MS),
      headers: { accept: "application/json" },
    });
  } catch (err) {
    throw new CliError("server_unreachable", `cannot reach ${url.origin}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new CliError("server_refused", `${url.pathname} answered ${res.status}`);
  }
  try {
    return await res.json();
  } catch (err) {
    throw new CliError("server_refused", `${url.pathname} answered with something other than JSON`, {
      cause: err,
    });
  }
}

/** The control plane's receipt key (hex), from `<origin>/.well-known/infernet.json`. */
export async function fetchPlatformKey(origin: string): Promise<string> {
  const body = await getJson(new URL("/.well-known/infernet.json", origin));
  const key = isRecord(body) ? body.platform_pubkey : undefined;
  if (typeof key !== "string" || !/^[0-9a-f]{64}$/.test(key)) {
    throw new CliError("server_refused", `${origin}/.well-known/infernet.json has no platform_pubkey`);
  }
  return key;
}

/** Fetches receipts from a receipts URL, following `next` cursors (at most {@link MAX_PAGES}). */
export async function fetchReceipts(url: URL): Promise<ReceiptSet> {
  if (!/^\/api\/receipts(\/[^/]+)?\/?$/.test(url.pathname)) {
    throw new CliError("usage", `receipts verify: ${url.href} is not a /api/receipts URL`);
  }
  const set: ReceiptSet = { items: [], events: [] };
  let page = new URL(url);
  const seen = new Set<string>();
  for (let n = 0; n < MAX_PAGES; n++) {
    const body = await getJson(page);
    if (!isRecord(body) || !Array.isArray(body.receipts)) {
      throw new CliError("server_refused", `${page.pathname} did not answer with a receipts page`);
    }
    addValue(set, body, page.href);
    const next = body.next;
    if (next === null || next === undefined) return set;
    if (typeof next !== "string" || seen.has(next)) {
      throw new CliError(
        "server_refused",
        `the server's next cursor ${JSON.stringify(next)} does not advance`,
      );
    }
    seen.add(next);
    page = new URL(page);
    page.searchParams.set("after", next);
  }
  throw new CliError("server_refused", `more than ${MAX_PAGES} pages of receipts; stopped`);
}
