// The node's side of jobs over relays (docs/protocol.md §18): it subscribes to kind-5050 requests
// that name it (`#p`), checks each one before any work (expiry, replay, size, the sealed frames,
// the model, the price, the voucher: signed by the control plane's key, for this signer, unexpired,
// never used, large enough), answers `processing` or an `error` with a code (kind 7000), streams the
// sealed answer as ephemeral chunk events and ends with a sealed result (kind 6050). The voucher and
// the job's signed receipt are kept in `<home>/vouchers/pending/<voucher id>.json`, for redemption when the
// control plane is reachable. A relay that sends garbage or forgeries costs nothing: the pool
// verifies every event, and every refusal happens before the engine is asked anything.
import {
  conversationKey,
  FrameOpener,
  FrameSealer,
  FramingError,
  type SharedXBackend,
} from "../../shared/direct/mod.ts";
import {
  completionFieldsProblem,
  completionLimit,
  fastestSecp256k1,
  isRecord,
  type Logger,
  type NodeAdvert,
  type NostrEvent,
  parseEvent,
  type Secp256k1Backend,
  tagValue,
  verifyVoucher,
  type VoucherContent,
  withCompletionLimit,
} from "../../shared/mod.ts";
import type { EventTemplate } from "nostr-tools/pure";
import { type PoolSubscription, RelayPool } from "../../shared/relay/mod.ts";
import {
  chunkTemplate,
  feedbackTemplate,
  JOB_ID,
  JOB_REQUEST_KIND,
  MAX_REQUEST_CONTENT,
  MAX_REQUEST_TTL_S,
  type RelayJobErrorCode,
  type RelayJobParams,
  resultTemplate,
} from "../../shared/relay/relay_client_events.ts";
import type { NodeIdentity } from "../identity/node_key.ts";
import type { JobFrame } from "./engine_proxy.ts";
import type { DirectRun } from "./direct_run.ts";
import { ReceiptChain } from "./job_receipt.ts";
import type { PlatformKeyCache } from "./platform_key_cache.ts";
import { countPromptTokens } from "./prompt_tokens.ts";
import { PendingVouchers } from "./relay_jobs_pending.ts";

/** What the daemon lends the relay jobs: its models and prices, and a slot to run a job in. */
export interface RelayJobHost {
  advert(): NodeAdvert;
  /** Runs a job in one of the node's slots, emitting sealed frames; null when the node is busy. */
  run(job: JobFrame, sealer: FrameSealer, emit: (payload: string) => void): Promise<DirectRun> | null;
}

/** What {@link RelayJobs} needs. */
export interface RelayJobsOptions {
  relays: readonly string[];
  identity: NodeIdentity;
  host: RelayJobHost;
  platformKeys: PlatformKeyCache;
  /** `$INFERNET_HOME`: the vouchers to redeem are kept under `vouchers/pending/`. */
  home: string;
  log: Logger;
  nowS?: () => number;
  secp?: Secp256k1Backend;
  /** Most completion tokens a request without `max_tokens` gets (default 4,096). */
  defaultMaxTokens?: number;
}

/** Where a job's events go: every relay, or an HTTP answer's lines. */
type Send = (template: EventTemplate) => Promise<void>;

/** A request that passed every check, ready to run. */
interface AdmittedJob {
  job: JobFrame;
  /** The node's prices the job is charged at, nano-USD per 1,000 tokens. */
  price: { prompt_per_1k: number; completion_per_1k: number };
  key: Uint8Array;
  voucherEvent: NostrEvent;
  voucher: VoucherContent;
}

/** A refusal before any work. */
class Refusal extends Error {
  constructor(readonly code: RelayJobErrorCode, message: string) {
    super(message);
  }
}

/** The node's NIP-90 service on relays. */
export class RelayJobs {
  #opts: RelayJobsOptions & { nowS: () => number; defaultMaxTokens: number };
  #pool: RelayPool | null = null;
  #sub: PoolSubscription | null = null;
  #secp: Secp256k1Backend | null = null;
  #pending: PendingVouchers;
  #receipts: ReceiptChain;
  /** Request ids and `<signer>:<job id>` taken, each until its request expires. */
  #seen = new Map<string, number>();
  #running = new Set<Promise<void>>();
  /** What the service did, for tests and `infernet status`. */
  readonly stats = { requests: 0, refused: 0, completed: 0, failed: 0 };

  constructor(opts: RelayJobsOptions) {
    this.#opts = {
      ...opts,
      nowS: opts.nowS ?? (() => Math.floor(Date.now() / 1000)),
      defaultMaxTokens: opts.defaultMaxTokens ?? 4_096,
    };
    this.#pending = new PendingVouchers(opts.home, opts.identity.secretKey);
    // A chain of its own: these receipts reach the control plane only when their vouchers are redeemed.
    this.#receipts = new ReceiptChain(opts.identity.secretKey);
  }

  /** The vouchers waiting for redemption. */
  get pending(): PendingVouchers {
    return this.#pending;
  }

  /** Loads the vouchers already taken, connects and subscribes; resolves once every relay answered. */
  async start(): Promise<void> {
    await this.#pending.load();
    this.#secp = this.#opts.secp ?? await fastestSecp256k1();
    this.#receipts.useFinalizer(this.#secp.finalizeEvent);
    this.#pool = new RelayPool(this.#opts.relays, { verifyEvent: this.#secp.verifyEvent });
    // Live requests only (by the wall clock, with 30 s for clock skew): one stored while the node was
    // away has had its consumer move on to another node with a fresh voucher, so running it now
    // would charge a job nobody waits for.
    const since = Math.floor(Date.now() / 1000) - 30;
    await new Promise<void>((resolve) => {
      this.#sub = this.#pool!.subscribe(
        [{ kinds: [JOB_REQUEST_KIND], "#p": [this.#opts.identity.pubkey], since }],
        { onevent: (e) => this.#track(this.#onRequest(e, (t) => this.#publish(t))), oneose: resolve },
      );
    });
  }

  /** Stops taking requests; waits for the running ones; closes the relays. */
  async stop(): Promise<void> {
    this.#sub?.close();
    this.#sub = null;
    await Promise.allSettled([...this.#running]);
    this.#pool?.close();
    this.#pool = null;
  }

  #track(p: Promise<void>): void {
    this.#running.add(p);
    void p.finally(() => this.#running.delete(p));
  }

  async #publish(template: EventTemplate): Promise<void> {
    const pool = this.#pool, secp = this.#secp;
    if (!pool || !secp) return;
    const results = await pool.publish(secp.finalizeEvent(template, this.#opts.identity.secretKey));
    if (!results.some((r) => r.ok)) {
      this.#opts.log.warn("no relay took a job event", { kind: template.kind, why: results[0]?.reason });
    }
  }

  /**
   * A request posted to the node's direct endpoint (`POST <endpoint>/job`, docs/protocol.md §18):
   * the same checks and events, as NDJSON lines of the response instead of relay publishes.
   */
  answerHttp(raw: unknown): Response {
    const secp = this.#secp;
    const event = parseEvent(raw);
    if (!secp || !event || !secp.verifyEvent(event)) {
      const message = "the body is not a signed job request";
      return Response.json({ error: { code: "request_invalid", message } }, { status: 400 });
    }
    const encoder = new TextEncoder();
    // Open until the job ends or the consumer stops reading (it has what it wanted, or went away):
    // a cancelled stream refuses enqueue and close, and a throw here would be a daemon's unhandled
    // rejection.
    let open = true;
    const body = new ReadableStream<Uint8Array>({
      start: (out) => {
        const send = (t: EventTemplate) => {
          if (!open) return Promise.resolve();
          const signed = secp.finalizeEvent(t, this.#opts.identity.secretKey);
          out.enqueue(encoder.encode(JSON.stringify(signed) + "\n"));
          return Promise.resolve();
        };
        this.#track(
          this.#onRequest(event, send).finally(() => {
            if (!open) return;
            open = false;
            out.close();
          }),
        );
      },
      cancel: () => {
        open = false;
      },
    });
    return new Response(body, {
      headers: { "content-type": "application/x-ndjson", "cache-control": "no-store" },
    });
  }

  async #onRequest(request: NostrEvent, send: Send): Promise<void> {
    this.stats.requests++;
    const nowS = this.#opts.nowS();
    try {
      const admitted = await this.#admit(request, nowS);
      await this.#run(request, admitted, send);
    } catch (err) {
      const refusal = err instanceof Refusal
        ? err
        : new Refusal("node_error", "the node failed to handle the request");
      if (!(err instanceof Refusal)) {
        this.#opts.log.error("relay job failed", { id: request.id, err: (err as Error).message });
      }
      this.stats.refused++;
      await send(
        feedbackTemplate(request, "error", { code: refusal.code, message: refusal.message, createdAt: nowS }),
      ).catch(() => {});
    }
  }

  /** Every check, in order, before any work; throws a {@link Refusal}. */
  async #admit(request: NostrEvent, nowS: number): Promise<AdmittedJob> {
    const secp = this.#secp!;
    // The pool verified the signature; the subscription's filter is the relay's to honour, not trusted.
    if (request.kind !== JOB_REQUEST_KIND || tagValue(request, "p") !== this.#opts.identity.pubkey) {
      throw new Refusal("request_invalid", "not a job request for this node");
    }
    const jobId = tagValue(request, "job") ?? "";
    if (!JOB_ID.test(jobId)) throw new Refusal("request_invalid", "the request's job tag is not rj_<32 hex>");
    const expiresAt = Number(tagValue(request, "expiration"));
    if (!Number.isSafeInteger(expiresAt) || expiresAt - request.created_at > MAX_REQUEST_TTL_S) {
      throw new Refusal(
        "request_invalid",
        `a request needs an expiration at most ${MAX_REQUEST_TTL_S} s ahead`,
      );
    }
    if (expiresAt < nowS) throw new Refusal("request_expired", "the request has expired");
    if (request.created_at > nowS + 60) {
      throw new Refusal("request_invalid", "the request is from the future");
    }
    this.#forgetExpired(nowS);
    const pair = `${request.pubkey}:${jobId}`;
    if (this.#seen.has(request.id) || this.#seen.has(pair)) {
      throw new Refusal("request_replayed", `job ${jobId} was already received`);
    }
    this.#seen.set(request.id, expiresAt);
    this.#seen.set(pair, expiresAt);
    if (request.content.length > MAX_REQUEST_CONTENT) {
      throw new Refusal("request_too_large", `the request is over ${MAX_REQUEST_CONTENT} characters`);
    }
    let key: Uint8Array;
    try {
      key = conversationKey(this.#opts.identity.secretKey, request.pubkey, { secp: secp as SharedXBackend });
    } catch {
      throw new Refusal("request_undecryptable", "the signer's key is not a secp256k1 point");
    }
    const params = openParams(key, jobId, request.content);
    const model = typeof params.request.model === "string" ? params.request.model : "";
    const offered = this.#opts.host.advert().models.find((m) => m.id === model);
    if (!offered) throw new Refusal("model_not_served", "this node does not serve the requested model");
    const [pp, cp] = [offered.promptPricePer1k, offered.completionPricePer1k];
    if (params.price[0] < pp || params.price[1] < cp) {
      throw new Refusal("price_too_low", `the node's price is ${pp}/${cp} nano-USD per 1,000 tokens`);
    }
    const voucher = await this.#checkVoucher(params.voucher, request.pubkey, nowS);
    // The most the job may cost at the node's price must fit in the voucher (nano-USD, integers).
    const maxNano = BigInt(voucher.max_nano);
    const promptTokens = BigInt(await countPromptTokens(params.request.messages as unknown[]));
    const promptCost = promptTokens * BigInt(pp);
    const problem = completionFieldsProblem(params.request);
    if (problem) throw new Refusal("request_invalid", problem);
    // Every choice may use the whole limit: the worst case is the limit times n.
    const limit = completionLimit(params.request);
    const choices = BigInt(limit.choices);
    const asked = limit.perChoice;
    let maxTokens = asked === null ? BigInt(this.#opts.defaultMaxTokens) : BigInt(asked);
    if (asked === null && cp > 0) {
      const affordable = (maxNano * 1000n - promptCost) / (BigInt(cp) * choices);
      if (affordable < maxTokens) maxTokens = affordable;
    }
    const worst = (promptCost + maxTokens * choices * BigInt(cp) + 999n) / 1000n;
    if (maxTokens < 0n || worst > maxNano || (asked === null && maxTokens === 0n)) {
      throw new Refusal(
        "voucher_insufficient",
        `the voucher pays ${maxNano} nano-USD; this job may cost ${worst < 0n ? "more" : worst}`,
      );
    }
    if (!this.#pending.claim(voucher.voucher_id)) {
      throw new Refusal("voucher_reused", "the voucher was already spent on this node");
    }
    const stream = params.request.stream === true;
    const body: Record<string, unknown> = {
      ...withCompletionLimit(params.request, Number(maxTokens)),
      model,
    };
    if (stream) {
      body.stream_options = {
        ...(isRecord(params.request.stream_options) ? params.request.stream_options : {}),
        include_usage: true,
      };
    }
    const job: JobFrame = { type: "job", job_id: jobId, kind: "chat", stream, body };
    const price = { prompt_per_1k: pp, completion_per_1k: cp };
    return { job, price, key, voucherEvent: params.voucher, voucher };
  }

  async #checkVoucher(raw: unknown, signer: string, nowS: number): Promise<VoucherContent> {
    const platformKeys = this.#opts.platformKeys;
    const known = platformKeys.current ?? await platformKeys.refresh().catch(() => null);
    if (known === null) {
      throw new Refusal("platform_key_unknown", "the node does not know the control plane's key");
    }
    const verify = (platformPubkey: string) =>
      verifyVoucher(raw, { platformPubkey, nowS, verifyEvent: this.#secp!.verifyEvent });
    let check = verify(known);
    if (!check.ok && check.code === "voucher_forged") {
      // A rotated control-plane key; refresh() is rate limited, so forgeries cannot make it hammer.
      const fresh = await platformKeys.refresh().catch(() => null);
      if (fresh !== null && fresh !== known) check = verify(fresh);
    }
    if (!check.ok) throw new Refusal(check.code, check.message);
    if (check.voucher.content.consumer !== signer) {
      throw new Refusal(
        "voucher_foreign",
        "the voucher names another consumer key than the request's signer",
      );
    }
    return check.voucher.content;
  }

  async #run(request: NostrEvent, a: AdmittedJob, publish: Send): Promise<void> {
    const sealer = new FrameSealer(a.key, a.job.job_id, "n2c");
    // Each event is handed to every socket at once, in order; nothing waits for a relay's OK, so a
    // down or slow relay delays no chunk (its own copies time out on their own).
    const sent: Promise<void>[] = [];
    const send = (template: EventTemplate) => sent.push(publish(template));
    const running = this.#opts.host.run(
      a.job,
      sealer,
      (payload) => send(chunkTemplate(request, payload, this.#opts.nowS())),
    );
    if (running === null) {
      this.#pending.release(a.voucher.voucher_id);
      throw new Refusal("node_busy", "the node is at capacity");
    }
    // Synchronous up to its publish: the feedback goes out before the first chunk.
    sent.unshift(publish(feedbackTemplate(request, "processing", { createdAt: this.#opts.nowS() })));
    const { outcome, output } = await running;
    const summary = output.summary("chat");
    const receiptOutcome = outcome === "completed"
      ? "success"
      : outcome === "failed"
      ? "failure"
      : "cancelled";
    // The receipt's task is the voucher: redemption binds the two (docs/protocol.md §17).
    const receipt = this.#receipts.sign({ ...a.job, job_id: a.voucher.voucher_id }, summary, receiptOutcome);
    if (outcome === "completed") this.stats.completed++;
    else this.stats.failed++;
    send(resultTemplate(request, a.key, {
      outcome: receiptOutcome,
      usage: summary.usage,
      artifact_hash: summary.artifactHash,
      receipt: receipt.id,
    }, this.#opts.nowS()));
    await this.#pending.keep({ voucher: a.voucherEvent, receipt, price: a.price });
    await Promise.allSettled(sent);
  }

  #forgetExpired(nowS: number): void {
    if (this.#seen.size < 10_000) return;
    for (const [id, at] of this.#seen) if (at < nowS) this.#seen.delete(id);
  }
}

/** Opens the request's frames: exactly one message, then the end; its parameters, checked. */
function openParams(key: Uint8Array, jobId: string, content: string): RelayJobParams {
  const opener = new FrameOpener(key, jobId, "c2n");
  let text: string | null = null;
  try {
    for (const line of content.split("\n")) {
      const opened = opener.open(line);
      if (opened.type === "message") {
        if (text !== null) throw new FramingError("frame_invalid", "a request is one message");
        text = opened.text;
      } else if (opened.type === "error") throw new FramingError("frame_invalid", "the request is an error");
    }
  } catch (err) {
    if (!(err instanceof FramingError)) throw err;
    const code = err.code === "frame_undecryptable" ? "request_undecryptable" : "request_invalid";
    throw new Refusal(code, `the request's frames: ${err.message}`);
  }
  if (!opener.ended || text === null) {
    throw new Refusal("request_invalid", "the request has no message and end");
  }
  let p: unknown;
  try {
    p = JSON.parse(text);
  } catch {
    throw new Refusal("request_invalid", "the request's parameters are not JSON");
  }
  if (
    !isRecord(p) || !isRecord(p.request) || !Array.isArray(p.request.messages) ||
    typeof p.request.model !== "string" || !Array.isArray(p.price) || p.price.length !== 2 ||
    !p.price.every((n) => Number.isSafeInteger(n) && n >= 0)
  ) {
    throw new Refusal("request_invalid", "the parameters need a chat request, a voucher and the price");
  }
  return p as unknown as RelayJobParams;
}
