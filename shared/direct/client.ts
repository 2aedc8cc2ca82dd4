// Direct mode's consumer (docs/protocol.md §14): route a chat request, seal it to the chosen
// node's key (or the model's), call the node directly or through the control plane's relay, open
// the answer, and acknowledge what was received. Apps import it to talk privately without the
// proxy (`infernet proxy` is built on it); the control plane sees the route, never the text.
import { type EventTemplate, generateSecretKey, getPublicKey, type NostrEvent } from "nostr-tools/pure";
import { isRecord } from "../json/is_record.ts";
import { completionLimit } from "../openai/completion_limit.ts";
import { addGeneratedBesideContent, type TokenTexts } from "../openai/token_texts.ts";
import { artifactHash } from "../receipts/receipt.ts";
import { createUsageAck } from "./acks.ts";
import { countPromptTokens, countTextTokens, countTokenTexts } from "./count.ts";
import { conversationKey, type SharedXBackend } from "./conversation_key.ts";
import { FrameOpener, FrameSealer, FramingError, type Opened } from "./framing.ts";
import type { Nip44Cipher } from "./nip44_cipher.ts";
import { responseLines } from "./ndjson.ts";

/** An OpenAI chat completion request (the fields direct mode reads; the rest travels sealed). */
export interface ChatRequest {
  model: string;
  messages: unknown[];
  stream?: boolean;
  max_tokens?: number;
  max_completion_tokens?: number;
  [field: string]: unknown;
}

/** The secp256k1 work of a consumer: a backend of shared/nostr/secp256k1.ts fits. */
export interface ConsumerSecp extends SharedXBackend {
  getPublicKey(secretKey: Uint8Array): string;
  finalizeEvent(template: EventTemplate, secretKey: Uint8Array): NostrEvent;
}

/** Options of {@link privateChat}. */
export interface PrivateChatOptions {
  /** The control plane's base URL, e.g. https://infernet.example. */
  server: string;
  apiKey: string;
  body: ChatRequest;
  signal?: AbortSignal;
  fetch?: typeof fetch;
  /** Whose key to seal to: the node's (default) or the model's when the node holds a grant. */
  target?: "node" | "model";
  /** Always go through the control plane's relay, even to nodes with a direct endpoint. */
  relayOnly?: boolean;
  /**
   * OpenRouter-style provider options for the route, as for /v1/chat/completions; by default the
   * body's own `provider`, which is then left out of what the node receives.
   */
  provider?: Record<string, unknown>;
  /** How long a node has to send its first message before the next one is tried (default 30 s). */
  firstTokenTimeoutMs?: number;
  /** Called with the route once the control plane has answered (its job id names the job). */
  onRoute?: (route: RouteAnswer) => void;
  /** Called once per candidate that failed before its first token (the next is tried). */
  onFallback?: (node: string, err: DirectError) => void;
  /** Called when the usage acknowledgement could not be posted (the answer stands). */
  onAckError?: (err: unknown) => void;
  /** The secp256k1 backend for the key, the ECDH and the ack (default nostr-tools' pure one). */
  secp?: ConsumerSecp;
  /** The NIP-44 implementation for the frames (default nostr-tools'; `fastestNip44()` is cheaper). */
  cipher?: Nip44Cipher;
}

/** A failed private request: an HTTP status to answer with and a stable code. */
export class DirectError extends Error {
  override name = "DirectError";
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.status = status;
    this.code = code;
  }
}

/** One node the control plane chose, with its ticket (wire names as /v1/route answers). */
export interface RouteCandidate {
  node: string;
  npub?: string;
  endpoint: string | null;
  relay: string;
  model_key: string | null;
  ticket: NostrEvent;
}

/** /v1/route's answer. */
export interface RouteAnswer {
  job_id: string;
  expires_at: number;
  candidates: RouteCandidate[];
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Nodes seen to fold an answer's end into its last frame (docs/protocol.md §14): they open a
 * request folded the same way, one frame fewer each way. Bounded; forgotten when one refuses it.
 */
const foldingNodes = new Set<string>();
const MAX_FOLDING_NODES = 10_000;

function parseRoute(x: unknown): RouteAnswer {
  const bad = (why: string) =>
    new DirectError(502, "bad_route", `the control plane's route is malformed: ${why}`);
  if (!isRecord(x) || typeof x.job_id !== "string" || !Array.isArray(x.candidates)) {
    throw bad("no job or candidates");
  }
  const candidates = x.candidates.map((c): RouteCandidate => {
    if (
      !isRecord(c) || typeof c.node !== "string" || !HEX64.test(c.node) || typeof c.relay !== "string" ||
      !isRecord(c.ticket) || (c.endpoint !== null && typeof c.endpoint !== "string")
    ) throw bad("a candidate lacks its node, relay or ticket");
    const modelKey = typeof c.model_key === "string" && HEX64.test(c.model_key) ? c.model_key : null;
    return { ...c, model_key: modelKey, ticket: c.ticket as unknown as NostrEvent } as RouteCandidate;
  });
  if (candidates.length === 0) throw new DirectError(503, "no_node_available", "the route names no node");
  return { job_id: x.job_id, expires_at: Number(x.expires_at), candidates };
}

/** The key a candidate's request is sealed to: the model's when its ticket says so, else the node's. */
function recipientOf(c: RouteCandidate): string {
  try {
    const t = JSON.parse(c.ticket.content);
    if (t?.target === "model" && typeof t.model_key === "string") return t.model_key;
  } catch { /* a malformed ticket is the node's to refuse */ }
  return c.node;
}

/**
 * For `target` "model": the candidates whose ticket seals to a model key (IPIP-0028); a route
 * that offers none is an error, not a silent fall back to the nodes' own keys.
 */
function modelCandidates(route: RouteAnswer, model: string): RouteCandidate[] {
  const out = route.candidates.filter((c) => c.model_key !== null && recipientOf(c) === c.model_key);
  if (out.length === 0) {
    throw new DirectError(
      404,
      "model_key_not_found",
      `the route offers no model key for '${model}': no available node holds a grant of one; ` +
        `ask with target "node" (infernet proxy --target node) instead`,
    );
  }
  return out;
}

/** A first frame that does not open: the answer is not sealed with the key the ticket names. */
function keyMismatch(c: RouteCandidate, recipient: string, cause: FramingError): DirectError {
  const whose = recipient === c.node ? "the node's own key" : `model key ${recipient.slice(0, 12)}…`;
  return new DirectError(
    502,
    "answer_key_mismatch",
    `node ${c.node.slice(0, 12)}… answered with another key than its ticket's (${whose}), or its ` +
      `answer was tampered with: refused, not billed`,
    { cause },
  );
}

async function errorOf(res: Response, fallbackCode: string): Promise<DirectError> {
  const text = await res.text().catch(() => "");
  let code = fallbackCode;
  let message = `HTTP ${res.status}`;
  try {
    const e = JSON.parse(text)?.error;
    if (typeof e?.code === "string") code = e.code;
    if (typeof e?.message === "string") message = e.message;
  } catch { /* not JSON: keep the status */ }
  return new DirectError(res.status, code, message);
}

/** What was received from the node that answered: counted and hashed for the acknowledgement. */
class Received {
  texts: string[] = [];
  /** Generated beside the content (reasoning, tool calls): counted, not hashed. */
  generated: TokenTexts = { texts: [], fixed: 0 };
  any = false;
  add(index: number, text: unknown) {
    if (typeof text !== "string") return;
    this.texts[index] = (this.texts[index] ?? "") + text;
  }
  /** Records one answer message (a chunk or the whole body). */
  take(msg: unknown) {
    this.any = true;
    if (!isRecord(msg) || !Array.isArray(msg.choices)) return;
    for (const ch of msg.choices) {
      if (!isRecord(ch)) continue;
      const index = Number.isSafeInteger(ch.index) ? ch.index as number : 0;
      const part = isRecord(ch.delta) ? ch.delta : isRecord(ch.message) ? ch.message : undefined;
      this.add(index, part?.content);
      addGeneratedBesideContent(part, this.generated);
    }
  }
  get ordered(): string[] {
    return Array.from(this.texts, (t) => t ?? "");
  }
}

/**
 * Runs one chat request in direct mode and yields the answer: each chunk object for a stream, the
 * response body otherwise. Falls back to the next candidate before the first token; after it, an
 * error ends the stream (a {@link DirectError}). Aborting `signal`, or leaving the loop, stops the
 * node. At the end, posts the consumer's signed usage acknowledgement (kind 7479).
 * @example for await (const chunk of privateChat({ server, apiKey, body: { model, messages, stream: true } })) …
 */
export async function* privateChat(opts: PrivateChatOptions): AsyncGenerator<unknown, void, undefined> {
  const doFetch = opts.fetch ?? fetch;
  const server = opts.server.replace(/\/+$/, "");
  const auth = { authorization: `Bearer ${opts.apiKey}` };
  const { provider: bodyProvider, ...body } = opts.body;
  const provider = opts.provider ?? bodyProvider;
  const oneOff = generateSecretKey();
  const consumer = (opts.secp?.getPublicKey ?? getPublicKey)(oneOff);
  const promptTokens = countPromptTokens(Array.isArray(body.messages) ? body.messages : [], body.tools);
  const limit = completionLimit(body);

  const routeRes = await doFetch(`${server}/v1/route`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({
      model: body.model,
      // The ticket's limit covers every choice (docs/protocol.md §14).
      max_tokens: limit.perChoice === null ? undefined : limit.perChoice * limit.choices,
      prompt_tokens: promptTokens,
      consumer,
      target: opts.target,
      provider,
      stream: body.stream === true,
    }),
    signal: opts.signal,
  });
  if (!routeRes.ok) throw await errorOf(routeRes, "route_failed");
  const route = parseRoute(await routeRes.json());
  opts.onRoute?.(route);
  const candidates = opts.target === "model" ? modelCandidates(route, body.model) : route.candidates;
  const request = JSON.stringify(body);
  let last: DirectError | null = null;
  /** The last node that took the request (HTTP 200) but whose answer opened nothing. */
  let unopened: string | null = null;
  const ackOf = (node: string) => ({ jobId: route.job_id, node, promptTokens, secp: opts.secp });
  const ackNothing = (node: string) =>
    postAck(doFetch, server, auth, oneOff, ackOf(node), null)
      .catch((err) => opts.onAckError?.(err));

  for (const cand of candidates) {
    opts.signal?.throwIfAborted();
    const attempt = new AbortController();
    const onAbort = () => attempt.abort(opts.signal?.reason);
    opts.signal?.addEventListener("abort", onAbort);
    const recipient = recipientOf(cand);
    const key = conversationKey(oneOff, recipient, { secp: opts.secp, cipher: opts.cipher });
    const received = new Received();
    let answered = false;
    let openedAny = false;
    const timeoutMs = opts.firstTokenTimeoutMs ?? 30_000;
    const silent = new DirectError(504, "node_timeout", `the node sent nothing within ${timeoutMs} ms`);
    const timer = setTimeout(() => attempt.abort(silent), timeoutMs);
    try {
      const sealer = new FrameSealer(key, route.job_id, "c2n", { cipher: opts.cipher });
      const fold = foldingNodes.has(cand.node);
      const lines = [
        JSON.stringify({ ticket: cand.ticket, consumer, fold_end: true }),
        ...(fold ? sealer.message(request, { end: true }) : [...sealer.message(request), sealer.end()]),
      ];
      const direct = cand.endpoint !== null && !opts.relayOnly;
      const url = direct ? `${cand.endpoint!.replace(/\/+$/, "")}/direct` : `${server}${cand.relay}`;
      let res: Response;
      try {
        res = await doFetch(url, {
          method: "POST",
          headers: { ...(direct ? {} : auth), "content-type": "application/x-ndjson" },
          body: lines.join("\n") + "\n",
          signal: attempt.signal,
        });
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        throw new DirectError(
          502,
          "node_unreachable",
          `could not reach the node: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      }
      if (!res.ok || !res.body) {
        const refused = await errorOf(res, "node_refused");
        if (fold && refused.code.startsWith("frame_")) foldingNodes.delete(cand.node);
        throw refused;
      }
      answered = true;
      const opener = new FrameOpener(key, route.job_id, "n2c", { cipher: opts.cipher });
      for await (const line of responseLines(res)) {
        let opened: Opened;
        try {
          opened = opener.open(line);
        } catch (err) {
          if (openedAny || !(err instanceof FramingError) || err.code !== "frame_undecryptable") throw err;
          throw keyMismatch(cand, recipient, err);
        }
        openedAny = true;
        if (opened.type === "partial") continue;
        if (opened.type === "end") break;
        if (opened.type === "error") throw new DirectError(502, opened.code, opened.message);
        let msg: unknown;
        try {
          msg = JSON.parse(opened.text);
        } catch {
          throw new DirectError(502, "frame_invalid", "the node's answer is not JSON");
        }
        clearTimeout(timer);
        received.take(msg);
        if (opened.end && foldingNodes.size < MAX_FOLDING_NODES) foldingNodes.add(cand.node);
        yield msg;
        if (opened.end) break;
      }
      if (!opener.ended) throw new DirectError(502, "stream_truncated", "the node's answer ended early");
      return;
    } catch (thrown) {
      if (opts.signal?.aborted) throw thrown;
      const err = attempt.signal.reason === silent ? silent : thrown;
      const e = err instanceof DirectError
        ? err
        : err instanceof FramingError
        ? new DirectError(502, err.code, err.message, { cause: err })
        : new DirectError(502, "node_failed", (err as Error).message ?? String(err), { cause: err });
      if (received.any) throw e; // After the first token the stream is this node's.
      opts.onFallback?.(cand.node, e);
      last = e;
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      attempt.abort(); // Leaving early (the consumer went away) stops the node.
      if (received.any) {
        await postAck(doFetch, server, auth, oneOff, ackOf(cand.node), received)
          .catch((err) => opts.onAckError?.(err));
      } else if (answered) {
        unopened = cand.node;
        // Gone before the first message: say so now, as nothing follows (the node bills nothing).
        if (opts.signal?.aborted) await ackNothing(cand.node);
      }
    }
  }
  // Every node failed. One that took the request may still sign a receipt: the ack says nothing
  // of its answer was opened, so the control plane bills nothing for it.
  if (unopened !== null) await ackNothing(unopened);
  const status = last && last.status >= 400 && last.status < 500 ? last.status : 502;
  throw new DirectError(status, last?.code ?? "no_node_answered", `no node answered: ${last?.message}`, {
    cause: last,
  });
}

async function postAck(
  doFetch: typeof fetch,
  server: string,
  auth: Record<string, string>,
  oneOff: Uint8Array,
  job: { jobId: string; node: string; promptTokens: number; secp?: ConsumerSecp },
  received: Received | null,
): Promise<void> {
  const { jobId } = job;
  // Null: nothing of the node's answer was opened (artifact_hash null, docs/protocol.md §14).
  const texts = received?.ordered ?? [];
  const ack = createUsageAck(oneOff, {
    job_id: jobId,
    node: job.node,
    prompt_tokens: job.promptTokens,
    completion_tokens: texts.reduce((n, t) => n + countTextTokens(t), 0) +
      (received ? countTokenTexts(received.generated) : 0),
    artifact_hash: received ? artifactHash(texts) : null,
    created_at: Math.floor(Date.now() / 1000),
  }, { secp: job.secp });
  const res = await doFetch(`${server}/v1/route/${encodeURIComponent(jobId)}/usage`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify(ack),
    signal: AbortSignal.timeout(10_000),
  });
  await res.body?.cancel();
  if (!res.ok) {
    throw new DirectError(res.status, "ack_refused", `the usage ack was refused: HTTP ${res.status}`);
  }
}
