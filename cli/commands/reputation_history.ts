// What `infernet reputation` reads from a control plane, each piece checked before it is used: the
// platform's key (/.well-known/infernet.json), the published score, and every receipt and
// verification of the node, page by page, each signature verified against that key.
import {
  type ChainProblem,
  checkChain,
  isRecord,
  type NodeReceiptContent,
  nostrDid,
  type PlatformReceiptContent,
  type ReputationReceipt,
  reputationReceiptOf,
  type ReputationVerification,
  reputationVerificationOf,
  verifyNodeReceipt,
  verifyPlatformReceipt,
  verifyVerification,
} from "../../shared/mod.ts";
import { CliError } from "../cli_error.ts";
import { readNodeAnswer } from "../daemon/signed_request.ts";

/** Pages read at most per list: far more than any node's history, so a looping server cannot hang us. */
const MAX_PAGES = 100_000;
const TIMEOUT_MS = 15_000;

/** The score the server published (GET /api/reputation/<key>). */
export interface ServerReputation {
  pubkey: string;
  npub: string;
  formula: number;
  score: number;
  suspicion: number;
  reliability: number;
  samples: number;
  components: Record<string, number | null>;
  computedAt: number;
  halfLifeS: number;
}

/** A node's verified history. */
export interface VerifiedHistory {
  receipts: ReputationReceipt[];
  verifications: ReputationVerification[];
  /** Problems in the platform's receipt chain for the node (a gap means receipts are missing). */
  chainProblems: ChainProblem[];
}

/** GETs a public JSON object from the control plane. */
export async function getPublicJson(
  server: string,
  path: string,
  what: string,
): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(server + path, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    throw new CliError(
      "server_unreachable",
      `cannot reach the control plane at ${server}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  return await readNodeAnswer(res, what);
}

/** The control plane's receipt-signing key (hex), from /.well-known/infernet.json. */
export async function fetchPlatformKey(server: string): Promise<string> {
  const body = await getPublicJson(server, "/.well-known/infernet.json", "cannot read the platform's key");
  const key = body.platform_pubkey;
  if (typeof key !== "string" || !/^[0-9a-f]{64}$/.test(key)) {
    throw new CliError("server_refused", "the server's /.well-known/infernet.json names no platform_pubkey");
  }
  return key;
}

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** The server's published reputation of `node`. */
export async function fetchServerReputation(server: string, node: string): Promise<ServerReputation> {
  const b = await getPublicJson(server, `/api/reputation/${node}`, "cannot read the node's reputation");
  const ok = b.pubkey === node && typeof b.npub === "string" && isNum(b.formula) && isNum(b.score) &&
    isNum(b.suspicion) && isNum(b.reliability) && isNum(b.samples) && isRecord(b.components) &&
    Number.isSafeInteger(b.computed_at) && Number.isSafeInteger(b.half_life_s) &&
    (b.half_life_s as number) > 0;
  if (!ok) throw new CliError("server_refused", "the server sent a reputation this CLI cannot read");
  return {
    pubkey: node,
    npub: b.npub as string,
    formula: b.formula as number,
    score: b.score as number,
    suspicion: b.suspicion as number,
    reliability: b.reliability as number,
    samples: b.samples as number,
    components: b.components as Record<string, number | null>,
    computedAt: b.computed_at as number,
    halfLifeS: b.half_life_s as number,
  };
}

/** Reads every page of a list; `items` picks the page's entries. `next` is an opaque cursor. */
async function readAllPages(
  server: string,
  path: string,
  what: string,
  items: (page: Record<string, unknown>) => unknown,
): Promise<unknown[]> {
  const out: unknown[] = [];
  const cursors = new Set<string>();
  let after: string | null = null;
  for (let pages = 0; pages < MAX_PAGES; pages++) {
    const query = after === null ? "" : `&after=${encodeURIComponent(after)}`;
    const page = await getPublicJson(server, path + query, what);
    const list = items(page);
    if (!Array.isArray(list)) throw new CliError("server_refused", `${what}: the page holds no list`);
    out.push(...list);
    const next = page.next ?? null;
    if (next === null || list.length === 0) return out;
    if (typeof next !== "string" && typeof next !== "number") {
      throw new CliError("server_refused", `${what}: the next page's cursor is not a string`);
    }
    if (cursors.has(String(next))) {
      throw new CliError("server_refused", `${what}: the next page (${next}) was already read`);
    }
    after = String(next);
    cursors.add(after);
  }
  throw new CliError("server_refused", `${what}: more than ${MAX_PAGES} pages`);
}

function invalid(what: string, reason: string): CliError {
  return new CliError("receipt_invalid", `${what}: ${reason}`);
}

/** Checks one `{receipt, node_receipt}` item of `node` and returns its facts. */
function checkReceiptItem(
  item: unknown,
  node: string,
  platformKey: string,
): { content: PlatformReceiptContent; id: string; facts: ReputationReceipt } {
  if (!isRecord(item)) throw invalid("a receipt item", "not an object");
  const p = verifyPlatformReceipt(item.receipt, platformKey);
  if (!p.ok) throw invalid("a platform receipt", p.reason);
  const c = p.value.content;
  const what = `receipt ${p.value.event.id}`;
  if (c.agent_did !== nostrDid(node)) throw invalid(what, "it is another node's");
  let nodeContent: NodeReceiptContent | null = null;
  if (c.node_receipt !== null) {
    const n = verifyNodeReceipt(item.node_receipt);
    if (!n.ok) throw invalid(`${what}: its node receipt`, n.reason);
    if (n.value.event.id !== c.node_receipt || n.value.event.pubkey !== node) {
      throw invalid(what, "its node receipt is not the one it names");
    }
    if (n.value.content.task_id !== c.task_id) throw invalid(what, "its node receipt is for another job");
    nodeContent = n.value.content;
  }
  return { content: c, id: p.value.event.id, facts: reputationReceiptOf(c, nodeContent) };
}

/** Reads and verifies every receipt and verification of `node` the server publishes. */
export async function fetchVerifiedHistory(
  server: string,
  node: string,
  platformKey: string,
): Promise<VerifiedHistory> {
  const items = await readAllPages(
    server,
    `/api/receipts?node=${node}&limit=500`,
    "cannot list the node's receipts",
    (page) => page.receipts,
  );
  const seen = new Set<string>();
  const receipts: ReputationReceipt[] = [];
  const links = [];
  for (const item of items) {
    const r = checkReceiptItem(item, node, platformKey);
    if (seen.has(r.id)) continue;
    seen.add(r.id);
    receipts.push(r.facts);
    links.push({ id: r.id, seq: r.content.seq, prev: r.content.prev, createdAt: r.content.created_at });
  }
  const events = await readAllPages(
    server,
    `/api/verifications?node=${node}&limit=500`,
    "cannot list the node's verifications",
    (page) => page.verifications,
  );
  const verifications: ReputationVerification[] = [];
  for (const raw of events) {
    const v = verifyVerification(raw, platformKey);
    if (!v.ok) throw invalid("a verification", v.reason);
    if (v.value.content.agent_did !== nostrDid(node)) {
      throw invalid(`verification ${v.value.event.id}`, "it is another node's");
    }
    if (seen.has(v.value.event.id)) continue;
    seen.add(v.value.event.id);
    verifications.push(reputationVerificationOf(v.value.content));
  }
  return { receipts, verifications, chainProblems: checkChain(links) };
}
