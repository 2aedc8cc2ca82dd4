// A node's live offer of one model on Nostr relays (docs/protocol.md §16): an addressable event,
// kind 31434 with `d` = the model id, so a relay keeps only the newest per node and model; it
// carries the price, VRAM tier and capacity in tags (filterable, no JSON to parse) and a NIP-40
// expiration, so an offer a node stops refreshing disappears by itself.
import type { EventTemplate, NostrEvent } from "nostr-tools/pure";
import { nowSeconds, parseEvent, tagValue } from "../nostr/event.ts";
import { NODE_RECORD_KIND } from "../nostr/node_record.ts";
import { DELETION_KIND } from "../nostr/operator_claim.ts";
import { isVramTier, type VramTier } from "../hardware/tiers.ts";
import { isQuantization, type Quantization } from "../hardware/quantization.ts";
import { priceOutOfBounds } from "../pricing/price.ts";

/** Addressable kind of an offer (30000–39999: the newest per pubkey and `d` is kept). */
export const OFFER_KIND = 31434;

/** The `t` tag that marks an Infernet offer. */
export const OFFER_TAG = "infernet-offer";

/** The longest an offer may claim to live: a node refreshes far more often. */
export const MAX_OFFER_TTL_S = 3_600;

/** What a node offers for one model (camelCase; the wire form is tags). */
export interface OfferInput {
  nodeId: string;
  model: string;
  promptPer1k: number;
  completionPer1k: number;
  vramTier: VramTier;
  maxConcurrency: number;
  freeSlots: number;
  contextLength?: number | null;
  quantization?: Quantization;
  /** The node's direct-mode endpoint (§14), when it has one. */
  endpoint?: string | null;
  /** Where its receipts are public (`<control plane>/api/receipts?node=<hex>`), when known. */
  receiptsUrl?: string | null;
}

declare const verifiedOffer: unique symbol;

/** An offer from a verified event whose tags were checked. */
export type Offer = OfferInput & {
  readonly pubkey: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly event: NostrEvent;
  readonly [verifiedOffer]: true;
};

/** The unsigned offer event (sign with a Secp256k1Backend's finalizeEvent). */
export function offerTemplate(
  input: OfferInput,
  pubkey: string,
  ttlS: number,
  createdAt = nowSeconds(),
): EventTemplate {
  const tags: string[][] = [
    ["d", input.model],
    ["t", OFFER_TAG],
    ["a", `${NODE_RECORD_KIND}:${pubkey}:${input.nodeId}`],
    ["price", String(input.promptPer1k), String(input.completionPer1k)],
    ["tier", input.vramTier],
    ["capacity", String(input.maxConcurrency), String(input.freeSlots)],
  ];
  if (input.contextLength != null) tags.push(["context", String(input.contextLength)]);
  if (input.quantization) tags.push(["quantization", input.quantization]);
  if (input.endpoint) tags.push(["endpoint", input.endpoint]);
  if (input.receiptsUrl) tags.push(["receipts", input.receiptsUrl]);
  tags.push(["expiration", String(createdAt + ttlS)]);
  return { kind: OFFER_KIND, created_at: createdAt, tags, content: "" };
}

/** A NIP-09 deletion of the offers of `models` (by address), for a node that stops. */
export function offerDeletionTemplate(
  pubkey: string,
  models: string[],
  createdAt = nowSeconds(),
): EventTemplate {
  return {
    kind: DELETION_KIND,
    created_at: createdAt,
    tags: [...models.map((m) => ["a", `${OFFER_KIND}:${pubkey}:${m}`]), ["k", String(OFFER_KIND)]],
    content: "node stopped",
  };
}

/** The outcome of {@link readOffer}. */
export type OfferCheck = { ok: true; offer: Offer } | { ok: false; reason: string };

const NAT = /^(0|[1-9]\d{0,15})$/;
const nat = (s: string | undefined) => s !== undefined && NAT.test(s) ? Number(s) : null;

/**
 * Checks an offer from untrusted JSON: shape, kind, tags, prices inside the tier's published bounds,
 * not expired at `nowS`, and the signature, on a fresh copy (a verdict cached on the caller's
 * object never carries over). Never throws.
 */
export function readOffer(
  raw: unknown,
  opts: { verifyEvent: (event: NostrEvent) => boolean; nowS?: number },
): OfferCheck {
  const event = parseEvent(raw);
  if (!event) return { ok: false, reason: "not a well-formed Nostr event" };
  const check = offerOfVerifiedEvent(event, opts.nowS ?? nowSeconds());
  return check.ok && !opts.verifyEvent(event) ? { ok: false, reason: "signature is invalid" } : check;
}

/**
 * The same checks but the signature, for an event a RelayPool delivered: the pool parsed it into a
 * fresh object and verified that object.
 */
export function offerOfVerifiedEvent(event: NostrEvent, nowS: number): OfferCheck {
  const no = (reason: string): OfferCheck => ({ ok: false, reason });
  if (event.kind !== OFFER_KIND) return no(`kind must be ${OFFER_KIND}`);
  if (tagValue(event, "t") !== OFFER_TAG) return no(`needs a t tag '${OFFER_TAG}'`);
  const model = tagValue(event, "d");
  if (!model || !/^[\x21-\x7e]{1,200}$/.test(model)) return no("d tag must be a model id");
  const expiresAt = nat(tagValue(event, "expiration"));
  if (expiresAt === null) return no("needs an expiration tag");
  if (expiresAt <= nowS) return no("expired");
  if (expiresAt - event.created_at > MAX_OFFER_TTL_S) return no("expiration is too far ahead");
  const address = tagValue(event, "a")?.split(":") ?? [];
  if (address.length !== 3 || address[0] !== String(NODE_RECORD_KIND) || address[1] !== event.pubkey) {
    return no("a tag must name the node record of the same key");
  }
  const nodeId = address[2];
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(nodeId)) return no("bad node id");
  const price = event.tags.find((t) => t[0] === "price") ?? [];
  const promptPer1k = nat(price[1]);
  const completionPer1k = nat(price[2]);
  if (promptPer1k === null || completionPer1k === null) return no("price tag must be two integers");
  const vramTier = tagValue(event, "tier");
  if (!isVramTier(vramTier)) return no("tier tag must be a VRAM tier");
  const priceProblem = priceOutOfBounds(vramTier, promptPer1k, "prompt price") ??
    priceOutOfBounds(vramTier, completionPer1k, "completion price");
  if (priceProblem) return no(priceProblem);
  const capacity = event.tags.find((t) => t[0] === "capacity") ?? [];
  const maxConcurrency = nat(capacity[1]);
  const freeSlots = nat(capacity[2]);
  if (!maxConcurrency || freeSlots === null || freeSlots > maxConcurrency) {
    return no("capacity tag must be max and free slots");
  }
  const context = tagValue(event, "context");
  const contextLength = context === undefined ? null : nat(context);
  if (context !== undefined && contextLength === null) return no("context tag must be an integer");
  const quantization = tagValue(event, "quantization");
  if (quantization !== undefined && !isQuantization(quantization)) return no("unknown quantization");
  const endpoint = tagValue(event, "endpoint") ?? null;
  const receiptsUrl = tagValue(event, "receipts") ?? null;
  if ((endpoint && !isHttpUrl(endpoint)) || (receiptsUrl && !isHttpUrl(receiptsUrl))) {
    return no("endpoint and receipts must be http(s) URLs");
  }
  const offer = {
    nodeId,
    model,
    promptPer1k,
    completionPer1k,
    vramTier,
    maxConcurrency,
    freeSlots,
    contextLength,
    ...(quantization ? { quantization: quantization as Quantization } : {}),
    endpoint,
    receiptsUrl,
    pubkey: event.pubkey,
    createdAt: event.created_at,
    expiresAt,
    event,
  };
  return { ok: true, offer: offer as Offer };
}

function isHttpUrl(s: string): boolean {
  try {
    return s.length <= 512 && ["http:", "https:"].includes(new URL(s).protocol);
  } catch {
    return false;
  }
}
