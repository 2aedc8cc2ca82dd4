// IPIP-0028 model keys (docs/protocol.md §14): a published model artifact (by its file's SHA-256)
// gets a secp256k1 key held by its publisher. The publisher announces it (kind 7480) and grants
// its secret to the nodes it authorises (kind 7481: the secret hex, NIP-44 v2 encrypted from the
// publisher to the node). Creating and checking the events only: no decryption here, so the
// control plane, which stores and serves both, can import this file.
import { finalizeEvent, type NostrEvent } from "nostr-tools/pure";
import { checkCanonicalEvent, type FieldChecks, HEX64, isHex64, isNat, isText } from "./canonical_event.ts";
import { hasValidSignature, parseEvent, tagValue } from "../nostr/event.ts";
import { canonicalJson, type CanonicalValue } from "../receipts/canonical_json.ts";

/** A model key's announcement, signed by the publisher. */
export const MODEL_KEY_KIND = 7480;

/** A grant of a model key's secret to one node, signed by the publisher. */
export const MODEL_KEY_GRANT_KIND = 7481;

/** The `t` tag of an announcement. */
export const MODEL_KEY_TAG = "infernet-model-key";

/** An announcement's fields (wire names: the content, byte for byte). */
export interface ModelKeyContent {
  model: string;
  /** SHA-256 hex of the model's file. */
  artifact_sha256: string;
  /** The model key (hex x-only pubkey). */
  model_pubkey: string;
  created_at: number;
}

declare const verifiedKey: unique symbol;
declare const verifiedGrant: unique symbol;

/** An announcement whose signature, content and tags were checked. */
export interface VerifiedModelKey {
  readonly [verifiedKey]: true;
  event: NostrEvent;
  content: ModelKeyContent;
}

/** A grant whose signature and tags were checked (its content stays sealed to the node). */
export interface VerifiedModelKeyGrant {
  readonly [verifiedGrant]: true;
  event: NostrEvent;
  /** The node it is granted to (hex). */
  node: string;
  /** The announcement's event id. */
  announcement: string;
}

/** Why a model-key event was refused. */
export type ModelKeyRefusal = "model_key_invalid" | "model_key_forged";

const FIELDS: FieldChecks<ModelKeyContent> = {
  model: isText(256),
  artifact_sha256: isHex64,
  model_pubkey: isHex64,
  created_at: isNat,
};

/** Signs a model key's announcement with the publisher's key. */
export function createModelKeyAnnouncement(
  publisherSecretKey: Uint8Array,
  content: ModelKeyContent,
): NostrEvent {
  return finalizeEvent({
    kind: MODEL_KEY_KIND,
    created_at: content.created_at,
    tags: [["t", MODEL_KEY_TAG], ["x", content.artifact_sha256], ["p", content.model_pubkey]],
    content: canonicalJson(content as unknown as CanonicalValue),
  }, publisherSecretKey);
}

/** Checks an announcement: signature, canonical content, and tags that repeat it. Never throws. */
export function verifyModelKeyAnnouncement(
  raw: unknown,
): { ok: true; key: VerifiedModelKey } | { ok: false; code: ModelKeyRefusal; reason: string } {
  const c = checkCanonicalEvent<ModelKeyContent>(raw, MODEL_KEY_KIND, FIELDS);
  if (!c.ok) {
    return {
      ok: false,
      code: c.code === "forged" ? "model_key_forged" : "model_key_invalid",
      reason: c.reason,
    };
  }
  const e = c.event;
  if (
    tagValue(e, "t") !== MODEL_KEY_TAG || tagValue(e, "x") !== c.content.artifact_sha256 ||
    tagValue(e, "p") !== c.content.model_pubkey
  ) {
    return {
      ok: false,
      code: "model_key_invalid",
      reason: "the announcement's tags differ from its content",
    };
  }
  return { ok: true, key: { event: e, content: c.content } as VerifiedModelKey };
}

/**
 * Signs a grant: `sealedSecret` is the model secret's hex, already NIP-44 v2 encrypted by the
 * publisher to the node (the CLI does that; see shared/direct/mod.ts for the cipher).
 */
export function createModelKeyGrant(
  publisherSecretKey: Uint8Array,
  grant: { node: string; announcement: string; sealedSecret: string; createdAt: number },
): NostrEvent {
  return finalizeEvent({
    kind: MODEL_KEY_GRANT_KIND,
    created_at: grant.createdAt,
    tags: [["p", grant.node], ["e", grant.announcement]],
    content: grant.sealedSecret,
  }, publisherSecretKey);
}

/** Checks a grant's signature and tags (its signer is the caller's to match). Never throws. */
export function verifyModelKeyGrant(
  raw: unknown,
): { ok: true; grant: VerifiedModelKeyGrant } | { ok: false; code: ModelKeyRefusal; reason: string } {
  const e = parseEvent(raw);
  if (!e || e.kind !== MODEL_KEY_GRANT_KIND) {
    return { ok: false, code: "model_key_invalid", reason: `not a kind ${MODEL_KEY_GRANT_KIND} event` };
  }
  if (!hasValidSignature(e)) return { ok: false, code: "model_key_forged", reason: "the signature is wrong" };
  const node = tagValue(e, "p");
  const announcement = tagValue(e, "e");
  if (!node || !HEX64.test(node) || !announcement || !HEX64.test(announcement)) {
    return {
      ok: false,
      code: "model_key_invalid",
      reason: "a grant names one node (p) and one announcement (e)",
    };
  }
  if (e.content.length === 0 || e.content.length > 4096) {
    return {
      ok: false,
      code: "model_key_invalid",
      reason: "the grant's sealed secret is missing or too long",
    };
  }
  return { ok: true, grant: { event: e, node, announcement } as VerifiedModelKeyGrant };
}
