// The consumer's side of jobs over relays (docs/protocol.md §18): find the model's offers on the
// relays, cheapest first, seal the chat request and a voucher to the chosen node (kind 5050), and
// read its answer from the sealed chunk events in order, with no control plane in the path. A node
// that refuses, stays silent or breaks its stream before the first message is replaced by the next
// offer, with a fresh voucher (a voucher is never shown to two nodes).
import { type EventTemplate, finalizeEvent, type NostrEvent, verifyEvent } from "nostr-tools/pure";
import { parseEvent } from "../nostr/event.ts";
import { readLines } from "../direct/ndjson.ts";
import { conversationKey, type SharedXBackend } from "../direct/conversation_key.ts";
import { FrameOpener, FramingError } from "../direct/framing.ts";
import { type ChatRequest, DirectError } from "../direct/client.ts";
import { discoverOffers } from "./discovery.ts";
import type { Offer } from "./offer.ts";
import type { RelayPool } from "./relay_pool.ts";
import type { RelayReputations } from "./relay_reputation.ts";
import {
  JOB_CHUNK_KIND,
  JOB_FEEDBACK_KIND,
  JOB_RESULT_KIND,
  jobRequestTemplate,
  newJobId,
  openResult,
  readFeedback,
  type RelayJobSummary,
} from "./relay_client_events.ts";

/** A voucher and the secret of the consumer key it names (which signs the request). */
export interface RelayVoucher {
  event: NostrEvent;
  secretKey: Uint8Array;
}

/** Options of {@link relayChat}. */
export interface RelayChatOptions {
  pool: RelayPool;
  body: ChatRequest;
  /** The next unspent voucher (each attempt takes one), or null when none is left. */
  takeVoucher: () => RelayVoucher | null | Promise<RelayVoucher | null>;
  /**
   * Offers to try, in order (default: the model's offers on the pool's relays, cheapest first, or
   * ranked by `reputations` when given).
   */
  offers?: Offer[];
  /** Ranks discovered offers by reputation bucket, then price, from receipts on the relays (§18). */
  reputations?: RelayReputations;
  /** At most this many nodes are tried (default 3). */
  maxAttempts?: number;
  /** How long a node has to send its first message (default 30 s). */
  firstTokenTimeoutMs?: number;
  /** How long the result (kind 6050) may lag the answer's end (default 5 s). */
  resultTimeoutMs?: number;
  /** The request's lifetime on the relays (default 120 s). */
  ttlS?: number;
  signal?: AbortSignal;
  /** secp256k1 work (a backend of shared/nostr/secp256k1.ts; default nostr-tools' pure code). */
  secp?: SharedXBackend & {
    finalizeEvent(t: EventTemplate, sk: Uint8Array): NostrEvent;
    verifyEvent?(e: NostrEvent): boolean;
  };
  /** Always through the relays, even to a node whose offer names a direct endpoint. */
  relayOnly?: boolean;
  fetch?: typeof fetch;
  /** Called with each node tried, before its request goes out. */
  onAttempt?: (offer: Offer, jobId: string) => void;
  /** Called for each node that failed before its first message. */
  onFallback?: (node: string, err: DirectError) => void;
  /** Called with the node's sealed result (usage, artifact hash, receipt id). */
  onResult?: (summary: RelayJobSummary) => void;
}

const STATUS: Record<string, number> = {
  model_not_served: 404,
  price_too_low: 402,
  voucher_insufficient: 402,
  voucher_forged: 402,
  voucher_expired: 402,
  voucher_foreign: 402,
  voucher_reused: 402,
  node_busy: 503,
};

/** Events of one request, waited on one at a time with a deadline. */
class Inbox {
  #queue: NostrEvent[] = [];
  #wake: (() => void) | null = null;
  #failed: DirectError | null = null;
  push(e: NostrEvent): void {
    this.#queue.push(e);
    this.#wake?.();
  }
  /** Ends the wait with an error (no relay took the request). */
  fail(err: DirectError): void {
    this.#failed = err;
    this.#wake?.();
  }
  async next(deadlineMs: number, signal?: AbortSignal): Promise<NostrEvent | null> {
    while (this.#queue.length === 0) {
      if (this.#failed) throw this.#failed;
      const left = deadlineMs - Date.now();
      if (left <= 0) return null;
      signal?.throwIfAborted();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        signal?.addEventListener("abort", done, { once: true });
        this.#wake = done;
        function done() {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          resolve();
        }
      });
      this.#wake = null;
    }
    return this.#queue.shift()!;
  }
}

/**
 * Runs one chat request over relays and yields the answer: each chunk object for a stream, the
 * response body otherwise. Throws a {@link DirectError} (OpenAI-style status and code).
 * @example for await (const chunk of relayChat({ pool, body, takeVoucher })) …
 */
export async function* relayChat(opts: RelayChatOptions): AsyncGenerator<unknown, void, undefined> {
  const { pool, body } = opts;
  let offers = opts.offers ?? await discoverOffers(pool, { model: body.model });
  if (!opts.offers && opts.reputations) offers = await opts.reputations.rank(offers);
  if (offers.length === 0) {
    throw new DirectError(503, "no_node_available", `no live offer of ${body.model} on the relays`);
  }
  let last: DirectError | null = null;
  for (const offer of offers.slice(0, opts.maxAttempts ?? 3)) {
    opts.signal?.throwIfAborted();
    let yielded = false;
    try {
      for await (const msg of attempt(opts, offer)) {
        yielded = true;
        yield msg;
      }
      return;
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      const e = err instanceof DirectError
        ? err
        : new DirectError(502, "node_failed", (err as Error).message ?? String(err), { cause: err });
      if (yielded || e.code === "no_voucher") throw e;
      opts.onFallback?.(offer.pubkey, e);
      last = e;
    }
  }
  const status = last && last.status >= 400 && last.status < 500 ? last.status : 502;
  throw new DirectError(status, last?.code ?? "no_node_answered", `no node answered: ${last?.message}`, {
    cause: last,
  });
}

async function* attempt(opts: RelayChatOptions, offer: Offer): AsyncGenerator<unknown, void, undefined> {
  const voucher = await opts.takeVoucher();
  if (!voucher) {
    throw new DirectError(402, "no_voucher", "no unspent voucher is left: take more from the control plane");
  }
  const key = conversationKey(voucher.secretKey, offer.pubkey, { secp: opts.secp });
  const jobId = newJobId();
  const createdAt = Math.floor(Date.now() / 1000);
  const { provider: _provider, ...chat } = opts.body;
  const template = jobRequestTemplate(key, {
    node: offer.pubkey,
    jobId,
    params: { request: chat, voucher: voucher.event, price: [offer.promptPer1k, offer.completionPer1k] },
    createdAt,
    ttlS: opts.ttlS ?? 120,
  });
  const request = (opts.secp?.finalizeEvent ?? finalizeEvent)(template, voucher.secretKey);
  opts.onAttempt?.(offer, jobId);
  const inbox = new Inbox();
  if (offer.endpoint && !opts.relayOnly) {
    // The node has a direct endpoint: the relays only found it; the same events go over HTTP.
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const posting = postJob(opts, offer, request, inbox, stop.signal);
    try {
      yield* answer(opts, inbox, key, jobId);
    } finally {
      // Leaving early (an error, the consumer gone) hangs up, so the node stops the job.
      stop.abort();
      opts.signal?.removeEventListener("abort", onAbort);
      await posting;
    }
    return;
  }
  let subscribed!: () => void;
  const ready = new Promise<void>((r) => (subscribed = r));
  // Subscribed before the request goes out: chunks are ephemeral, a relay keeps none for later.
  const sub = opts.pool.subscribe(
    [{
      kinds: [JOB_FEEDBACK_KIND, JOB_RESULT_KIND, JOB_CHUNK_KIND],
      "#e": [request.id],
      authors: [offer.pubkey],
    }],
    { onevent: (e) => e.pubkey === offer.pubkey && inbox.push(e), oneose: () => subscribed() },
  );
  try {
    await ready;
    // Not awaited: the first relay's OK is enough, and a down one must not hold the answer back.
    void opts.pool.publish(request).then((published) => {
      if (published.some((r) => r.ok)) return;
      const why = published.map((r) => `${r.url}: ${r.reason}`).join("; ");
      inbox.fail(new DirectError(502, "relay_refused", `no relay took the request (${why})`));
    });
    yield* answer(opts, inbox, key, jobId);
  } finally {
    sub.close();
  }
}

/** Reads one job's events from `inbox`: feedback, chunks in order, the result. */
async function* answer(
  opts: RelayChatOptions,
  inbox: Inbox,
  key: Uint8Array,
  jobId: string,
): AsyncGenerator<unknown, void, undefined> {
  const opener = new FrameOpener(key, jobId, "n2c");
  let deadline = Date.now() + (opts.firstTokenTimeoutMs ?? 30_000);
  let summary: RelayJobSummary | null = null;
  let first = true;
  while (!(opener.ended && summary)) {
    const e = await inbox.next(deadline, opts.signal);
    if (e === null) {
      if (opener.ended) return; // The answer is whole; only its sealed summary is late.
      throw new DirectError(
        504,
        "node_timeout",
        first ? "the node sent nothing in time" : "the node went silent",
      );
    }
    if (e.kind === JOB_FEEDBACK_KIND) {
      const f = readFeedback(e);
      if (f.status !== "error") continue;
      const code = f.code ?? "node_error";
      throw new DirectError(STATUS[code] ?? (code.startsWith("request_") ? 400 : 502), code, f.message);
    }
    if (e.kind === JOB_RESULT_KIND) {
      summary = openResult(e, key);
      if (summary) opts.onResult?.(summary);
      continue;
    }
    let opened;
    try {
      opened = opener.open(e.content);
    } catch (err) {
      if (err instanceof FramingError) throw new DirectError(502, err.code, err.message, { cause: err });
      throw err;
    }
    if (opened.type === "error") throw new DirectError(502, opened.code, opened.message);
    if (opened.type === "end") {
      deadline = Date.now() + (opts.resultTimeoutMs ?? 5_000);
      continue;
    }
    if (opened.type !== "message") continue;
    let msg: unknown;
    try {
      msg = JSON.parse(opened.text);
    } catch {
      throw new DirectError(502, "frame_invalid", "the node's answer is not JSON");
    }
    first = false;
    // Between messages, the node has as long again as it had for the first.
    deadline = Date.now() + (opts.firstTokenTimeoutMs ?? 30_000);
    yield msg;
  }
}

/** POSTs the request to the node's `/job` and feeds the events of its NDJSON answer into `inbox`. */
async function postJob(
  opts: RelayChatOptions,
  offer: Offer,
  request: NostrEvent,
  inbox: Inbox,
  signal: AbortSignal,
): Promise<void> {
  const verify = opts.secp?.verifyEvent ?? verifyEvent;
  try {
    const res = await (opts.fetch ?? fetch)(`${offer.endpoint!.replace(/\/+$/, "")}/job`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request),
      signal,
    });
    if (!res.ok || !res.body) {
      const e = await res.json().catch(() => null);
      const code = typeof e?.error?.code === "string" ? e.error.code : "node_refused";
      return inbox.fail(
        new DirectError(
          res.status >= 400 ? res.status : 502,
          code,
          e?.error?.message ?? `HTTP ${res.status}`,
        ),
      );
    }
    for await (const line of readLines(res.body)) {
      let raw: unknown;
      try {
        raw = JSON.parse(line);
      } catch {
        continue;
      }
      // Checked like a relay's events: well formed, signed, by the node.
      const event = parseEvent(raw);
      if (event && event.pubkey === offer.pubkey && verify(event)) inbox.push(event);
    }
    // Read after everything above: an answer already whole never sees it.
    inbox.fail(new DirectError(502, "stream_truncated", "the node's answer ended early"));
  } catch (err) {
    if (signal.aborted) return;
    inbox.fail(
      new DirectError(502, "node_unreachable", `could not reach the node: ${(err as Error).message}`),
    );
  }
}
