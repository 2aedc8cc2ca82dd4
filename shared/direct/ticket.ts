// Direct-mode tickets (docs/protocol.md §14): the control plane's signed permission for one job on
// one node (kind 7478): which job, whose money (a buyer pseudonym), which model, the most it may
// cost, the node, the consumer's one-off key, how the request is encrypted, and until when. A node
// checks it offline against the control plane's published key and accepts each job id once.
import { type EventTemplate, finalizeEvent, type NostrEvent } from "nostr-tools/pure";
import { type EventVerifier, hasValidSignature, parseEvent, tagValue } from "../nostr/event.ts";
import { isRecord } from "../json/is_record.ts";
import { canonicalJson, type CanonicalValue } from "../receipts/canonical_json.ts";

/** A ticket for one job on one node, signed by the control plane. */
export const TICKET_KIND = 7478;

/** The `t` tag of a ticket. */
export const TICKET_TAG = "infernet-ticket";

/** Whose key the request is encrypted to: the node's own, or the model's (IPIP-0028). */
export type TicketTarget = "node" | "model";

/** A ticket's fields (wire names: the content, byte for byte). */
export interface TicketContent {
  job_id: string;
  buyer_did: string;
  model: string;
  /** The most the job may cost, nano-USD, as a decimal integer string. */
  max_cost: string;
  /** The node's pubkey (hex): the only node that may run it. */
  node: string;
  /** The consumer's one-off key for this request (hex); its usage acknowledgement is signed by it. */
  consumer: string;
  target: TicketTarget;
  /** The model key the request is encrypted to when `target` is "model"; else null. */
  model_key: string | null;
  /** The prompt's tokens as the consumer counted them (o200k); the node refuses a longer prompt. */
  prompt_tokens: number;
  max_tokens: number;
  /** Unix seconds after which the ticket is refused. */
  expires_at: number;
  created_at: number;
}

/** Why a ticket was refused. */
export type TicketRefusal =
  | "ticket_invalid"
  | "ticket_forged"
  | "ticket_expired"
  | "ticket_foreign";

declare const verified: unique symbol;

/** A ticket whose signature, signer, content and time were checked. */
export interface VerifiedTicket {
  readonly [verified]: true;
  event: NostrEvent;
  content: TicketContent;
}

/** A ticket check's outcome. */
export type TicketCheck = { ok: true; ticket: VerifiedTicket } | {
  ok: false;
  code: TicketRefusal;
  reason: string;
};

const HEX64 = /^[0-9a-f]{64}$/;
const isNat = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
const isStr = (v: unknown, max: number) => typeof v === "string" && v.length > 0 && v.length <= max;

const FIELDS: Record<keyof TicketContent, (v: unknown) => boolean> = {
  job_id: (v) => isStr(v, 128),
  buyer_did: (v) => isStr(v, 128),
  model: (v) => isStr(v, 256),
  max_cost: (v) => typeof v === "string" && /^(0|[1-9][0-9]{0,18})$/.test(v),
  node: (v) => typeof v === "string" && HEX64.test(v),
  consumer: (v) => typeof v === "string" && HEX64.test(v),
  target: (v) => v === "node" || v === "model",
  model_key: (v) => v === null || (typeof v === "string" && HEX64.test(v)),
  prompt_tokens: isNat,
  max_tokens: isNat,
  expires_at: isNat,
  created_at: isNat,
};

/**
 * Signs a ticket with the control plane's key (by `secp`, a faster secp256k1 backend, when given).
 * @example createTicket(platformKey, { job_id, …, expires_at: now + 60, created_at: now })
 */
export function createTicket(
  platformSecretKey: Uint8Array,
  content: TicketContent,
  opts: { secp?: { finalizeEvent(t: EventTemplate, sk: Uint8Array): NostrEvent } } = {},
): NostrEvent {
  return (opts.secp?.finalizeEvent ?? finalizeEvent)({
    kind: TICKET_KIND,
    created_at: content.created_at,
    tags: [["t", TICKET_TAG], ["p", content.node], ["job", content.job_id]],
    content: canonicalJson(content as unknown as CanonicalValue),
  }, platformSecretKey);
}

/**
 * Checks a ticket as received: signed by `platformPubkey`, well formed, for `node`, and not
 * expired at `nowS`. Single use is the holder's to enforce (a node remembers job ids until they
 * expire). `verify` checks the signature (a faster secp256k1 backend's; default nostr-tools' pure
 * one). Never throws.
 */
export function verifyTicket(
  raw: unknown,
  opts: { platformPubkey: string; node: string; nowS: number; verify?: EventVerifier },
): TicketCheck {
  const event = parseEvent(raw);
  if (!event || event.kind !== TICKET_KIND) {
    return { ok: false, code: "ticket_invalid", reason: `not a ticket (kind ${TICKET_KIND} event)` };
  }
  // The signer first: a ticket from anyone else is refused without any signature work.
  if (event.pubkey !== opts.platformPubkey) {
    return {
      ok: false,
      code: "ticket_forged",
      reason: "the ticket is not signed by the control plane's key",
    };
  }
  if (!hasValidSignature(event, opts.verify)) {
    return { ok: false, code: "ticket_forged", reason: "the ticket's signature is wrong" };
  }
  let c: unknown;
  try {
    c = JSON.parse(event.content);
  } catch {
    return { ok: false, code: "ticket_invalid", reason: "the ticket's content is not JSON" };
  }
  if (!isRecord(c)) {
    return { ok: false, code: "ticket_invalid", reason: "the ticket's content is not an object" };
  }
  for (const [name, check] of Object.entries(FIELDS)) {
    if (!check(c[name])) {
      return { ok: false, code: "ticket_invalid", reason: `ticket ${name} is missing or invalid` };
    }
  }
  if (
    Object.keys(c).length !== Object.keys(FIELDS).length ||
    canonicalJson(c as CanonicalValue) !== event.content
  ) {
    return { ok: false, code: "ticket_invalid", reason: "the ticket's content is not canonical" };
  }
  const t = c as unknown as TicketContent;
  if (
    tagValue(event, "p") !== t.node || tagValue(event, "job") !== t.job_id ||
    t.created_at !== event.created_at
  ) {
    return { ok: false, code: "ticket_invalid", reason: "the ticket's tags differ from its content" };
  }
  if ((t.target === "model") !== (t.model_key !== null)) {
    return {
      ok: false,
      code: "ticket_invalid",
      reason: "a model-key ticket names the model key, and only it does",
    };
  }
  if (t.node !== opts.node) {
    return { ok: false, code: "ticket_foreign", reason: "the ticket is for another node" };
  }
  if (opts.nowS > t.expires_at) {
    return { ok: false, code: "ticket_expired", reason: "the ticket has expired" };
  }
  return { ok: true, ticket: { event, content: t } as VerifiedTicket };
}
