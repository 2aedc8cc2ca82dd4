// Admitting a direct-mode request (docs/protocol.md §14), whatever carried it (the node's own
// `POST /direct`, or the control plane's relay over the job socket): the ticket (signed by the
// control plane, for this node, not expired, used once), the key the consumer encrypted to (the
// node's, or a model key granted to it), the request's frames, and the request itself (the
// ticket's model, served here; a prompt no longer than the consumer said; max_tokens within the
// ticket). Every refusal comes before any work: the engine is not asked anything.
import {
  conversationKey,
  FrameOpener,
  FrameSealer,
  FramingError,
  type Nip44Cipher,
  type SharedXBackend,
  type TicketContent,
  verifyTicket,
} from "../../shared/direct/mod.ts";
import {
  completionFieldsProblem,
  completionLimit,
  isRecord,
  type NostrEvent,
  nowSeconds,
  withCompletionLimit,
} from "../../shared/mod.ts";
import type { JobFrame } from "./engine_proxy.ts";
import type { PlatformKeyCache } from "./platform_key_cache.ts";
import type { UsedTickets } from "./used_tickets.ts";
import { promptTokensOver } from "./prompt_tokens.ts";
import type { TicketHeadStarts } from "./ticket_head_start.ts";

/** A refusal: the HTTP status and the error's code and reason. */
export interface DirectRefusal {
  status: number;
  code: string;
  message: string;
}

/** An admitted request, ready to run. */
export interface AdmittedDirect {
  ticket: TicketContent;
  /** The request as a job for the engine proxy (its body: the decrypted OpenAI request). */
  job: JobFrame;
  /** Seals the answer to the consumer (n2c) with the request's conversation key. */
  sealer: FrameSealer;
  /** The consumer opens folded ends (its header's `fold_end`): a whole answer's end is in its last frame. */
  foldEnd: boolean;
}

/** An admission's outcome. */
export type Admission = { ok: true; admitted: AdmittedDirect } | { ok: false; refusal: DirectRefusal };

/** What admission checks against. */
export interface DirectAdmissionDeps {
  nodeSecretKey: Uint8Array;
  nodePubkey: string;
  platformKeys: PlatformKeyCache;
  usedTickets: UsedTickets;
  /** The models the node serves now. */
  servedModels: () => readonly string[];
  /** The secret of a model key granted to this node, or null. */
  modelSecret: (pubkey: string) => Promise<Uint8Array | null>;
  nowS?: () => number;
  /** The secp256k1 backend for the ticket's signature and the ECDH (default nostr-tools' pure one). */
  secp?: SharedXBackend & { verifyEvent(event: NostrEvent): boolean };
  /** The NIP-44 implementation for the frames (default nostr-tools'). */
  cipher?: Nip44Cipher;
  /** Largest encrypted request, in bytes of frames (default 8 MiB). */
  maxRequestBytes?: number;
  /** The job id the transport announced (a relay's `job_id`); the ticket must be for it. */
  jobId?: string;
  /** Tickets the control plane announced and the node checked ahead (ticket_head_start.ts). */
  headStarts?: TicketHeadStarts;
}

/** The next c2n frame (a NIP-44 payload), or null when the request ended. */
export type NextFrame = () => Promise<string | null>;

const DEFAULT_MAX_REQUEST_BYTES = 8 * 1024 * 1024;

const TICKET_STATUS: Record<string, number> = {
  ticket_invalid: 400,
  ticket_forged: 401,
  ticket_expired: 401,
  ticket_foreign: 403,
};

const refuse = (status: number, code: string, message: string): Admission => ({
  ok: false,
  refusal: { status, code, message },
});

/** The most prompt tokens a ticket allows: the consumer's count, with room for tokenizer drift. */
export function promptTokenLimit(ticketPromptTokens: number): number {
  return Math.floor(ticketPromptTokens * 1.25) + 16;
}

async function checkTicket(header: unknown, deps: DirectAdmissionDeps, nowS: number) {
  const raw = isRecord(header) ? header.ticket : undefined;
  const verify = (platformPubkey: string) =>
    verifyTicket(raw, { platformPubkey, node: deps.nodePubkey, nowS, verify: deps.secp?.verifyEvent });
  let known = deps.platformKeys.current;
  let check = known === null ? null : verify(known);
  // An unknown signer may be a rotated control-plane key: fetch it again (rate limited) and retry.
  if (check === null || (!check.ok && check.code === "ticket_forged")) {
    const fresh = await deps.platformKeys.refresh().catch(() => null);
    if (fresh !== null && fresh !== known) {
      known = fresh;
      check = verify(fresh);
    }
  }
  return check;
}

/** Reads the request's frames to the end (an `end` frame, or folded into the message); the message. */
async function openRequest(opener: FrameOpener, next: NextFrame, maxBytes: number): Promise<string> {
  let bytes = 0;
  let message: string | null = null;
  // Bounded: every frame counts against maxBytes, and a frame is never empty.
  for (;;) {
    const payload = await next();
    if (payload === null) throw new FramingError("frame_invalid", "the request ended before its end frame");
    bytes += payload.length;
    if (bytes > maxBytes) throw new FramingError("frame_invalid", `the request is over ${maxBytes} bytes`);
    const opened = opener.open(payload);
    if (opened.type === "end") break;
    if (opened.type === "error") throw new FramingError("frame_invalid", "the consumer ended with an error");
    if (opened.type === "message") {
      if (message !== null) throw new FramingError("frame_invalid", "a request is one message");
      message = opened.text;
      if (opened.end) break;
    }
  }
  if (message === null) throw new FramingError("frame_invalid", "the request carried no message");
  return message;
}

/** Checks a request's header and reads its frames; the admitted job, or why it is refused. */
export async function admitDirect(
  header: unknown,
  next: NextFrame,
  deps: DirectAdmissionDeps,
): Promise<Admission> {
  const nowS = (deps.nowS ?? nowSeconds)();
  // A ticket checked ahead (the same event, not expired) is not checked again, nor its ECDH redone.
  const ahead = deps.headStarts?.take(isRecord(header) ? header.ticket : undefined, nowS) ?? null;
  const check = ahead ? { ok: true as const, ticket: ahead.ticket } : await checkTicket(header, deps, nowS);
  if (check === null) {
    return refuse(503, "platform_key_unknown", "the node does not know the control plane's key");
  }
  if (!check.ok) return refuse(TICKET_STATUS[check.code] ?? 400, check.code, check.reason);
  const t = check.ticket.content;
  if (deps.jobId !== undefined && deps.jobId !== t.job_id) {
    return refuse(400, "ticket_invalid", `the ticket is for job ${t.job_id}, not ${deps.jobId}`);
  }
  if (isRecord(header) && header.consumer !== undefined && header.consumer !== t.consumer) {
    return refuse(400, "ticket_invalid", "the header's consumer key is not the ticket's");
  }
  if (!deps.servedModels().includes(t.model)) {
    return refuse(404, "model_not_served", `this node does not serve ${t.model} now`);
  }
  let secret = deps.nodeSecretKey;
  if (t.target === "model") {
    const modelSecret = await deps.modelSecret(t.model_key as string).catch(() => null);
    if (modelSecret === null) {
      return refuse(403, "model_key_not_granted", `this node holds no grant of model key ${t.model_key}`);
    }
    secret = modelSecret;
  }
  const claim = deps.usedTickets.claim(t.job_id, t.expires_at, nowS);
  if (claim === "reused") return refuse(409, "ticket_reused", `job ${t.job_id} was already taken`);
  if (claim === "full") return refuse(503, "node_busy", "the node has too many live tickets");
  let key: Uint8Array;
  try {
    // The head start's key only if it was made with the secret in force now (a grant may have been
    // replaced): the same object, as the node's key and a cached grant are; else the ECDH again.
    key = ahead?.key?.secret === secret
      ? ahead.key.key
      : conversationKey(secret, t.consumer, { secp: deps.secp, cipher: deps.cipher });
  } catch {
    return refuse(400, "ticket_invalid", "the ticket's consumer key is not a secp256k1 point");
  }
  let text: string;
  try {
    text = await openRequest(
      new FrameOpener(key, t.job_id, "c2n", { cipher: deps.cipher }),
      next,
      deps.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
    );
  } catch (err) {
    if (err instanceof FramingError) return refuse(400, err.code, err.message);
    throw err;
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return refuse(400, "request_invalid", "the request is not JSON");
  }
  if (!isRecord(body) || !Array.isArray(body.messages)) {
    return refuse(400, "request_invalid", "the request is not a chat completion request");
  }
  if (body.model !== undefined && body.model !== t.model) {
    return refuse(400, "request_invalid", `the request names ${String(body.model)}, the ticket ${t.model}`);
  }
  const limit = promptTokenLimit(t.prompt_tokens);
  const counted = await promptTokensOver(body.messages, limit);
  if (counted !== null) {
    return refuse(400, "prompt_too_long", `the prompt has ${counted} tokens; the ticket allows ${limit}`);
  }
  const problem = completionFieldsProblem(body);
  if (problem) return refuse(400, "request_invalid", problem);
  // The ticket's max_tokens covers every choice; the engine gets one limit a choice, in max_tokens.
  const { perChoice, choices } = completionLimit(body);
  const each = perChoice ?? Math.floor(t.max_tokens / choices);
  if (each * choices > t.max_tokens || (perChoice === null && each === 0)) {
    return refuse(
      400,
      "max_tokens_exceeded",
      `max_tokens ${perChoice ?? "(default)"} × n ${choices} is above the ticket's ${t.max_tokens}`,
    );
  }
  const stream = body.stream === true;
  const jobBody: Record<string, unknown> = { ...withCompletionLimit(body, each), model: t.model };
  // The node's receipt needs the engine's usage of a stream too.
  if (stream) {
    jobBody.stream_options = {
      ...(isRecord(body.stream_options) ? body.stream_options : {}),
      include_usage: true,
    };
  }
  return {
    ok: true,
    admitted: {
      ticket: t,
      job: { type: "job", job_id: t.job_id, kind: "chat", stream, body: jobBody },
      sealer: new FrameSealer(key, t.job_id, "n2c", { cipher: deps.cipher }),
      foldEnd: isRecord(header) && header.fold_end === true,
    },
  };
}
