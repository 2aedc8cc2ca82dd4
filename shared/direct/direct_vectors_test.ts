// Our own vectors (testdata/direct.vectors.json), for other implementations of direct mode: fixed
// keys, a ticket, and frames sealed with given nonces. This test re-derives every one of them.
import assert from "node:assert/strict";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { getPublicKey, type NostrEvent } from "nostr-tools/pure";
import { v2 as nip44 } from "nostr-tools/nip44";
import { conversationKey } from "./conversation_key.ts";
import { FrameOpener, FrameSealer, type Opened } from "./framing.ts";
import { createTicket, type TicketContent, verifyTicket } from "./ticket.ts";
import { type Nip44Cipher, NOSTR_TOOLS_NIP44 } from "./nip44_cipher.ts";
import { nativeNip44 } from "./nip44_native.ts";

type Frame =
  & { nonce: string }
  & (
    | { plaintext: string; payload: string }
    | { plaintext_bytes: number; plaintext_sha256: string; payload_sha256: string }
  );

interface DirectVectors {
  keys: Record<
    | "platform_sec"
    | "platform_pub"
    | "node_sec"
    | "node_pub"
    | "consumer_sec"
    | "consumer_pub"
    | "conversation_key",
    string
  >;
  ticket: { content: TicketContent; event: NostrEvent };
  streams: {
    job_id: string;
    direction: "c2n" | "n2c";
    messages: ({ text: string } | { pattern: string; repeat: number })[];
    /** "folded": the last message's last frame carries the end (`e: 1`); no end frame follows. */
    last: "end" | "folded" | { error: { code: string; message: string } };
    frames: Frame[];
  }[];
}

const v: DirectVectors = JSON.parse(
  await Deno.readTextFile(new URL("./testdata/direct.vectors.json", import.meta.url)),
);
const utf8 = new TextEncoder();
const hexSha256 = (text: string) => bytesToHex(sha256(utf8.encode(text)));
const ck = hexToBytes(v.keys.conversation_key);

Deno.test("direct vectors - keys and the conversation key, from either side", () => {
  for (const who of ["platform", "node", "consumer"] as const) {
    assert.equal(getPublicKey(hexToBytes(v.keys[`${who}_sec`])), v.keys[`${who}_pub`]);
  }
  assert.equal(
    bytesToHex(conversationKey(hexToBytes(v.keys.consumer_sec), v.keys.node_pub)),
    v.keys.conversation_key,
  );
  assert.equal(
    bytesToHex(conversationKey(hexToBytes(v.keys.node_sec), v.keys.consumer_pub)),
    v.keys.conversation_key,
  );
});

Deno.test("direct vectors - the ticket: its content, id and signature", () => {
  const { content, event } = v.ticket;
  assert.equal(content.node, v.keys.node_pub);
  assert.equal(content.consumer, v.keys.consumer_pub);
  // BIP-340 signatures take fresh randomness, so only the id is re-derived byte for byte.
  const again = createTicket(hexToBytes(v.keys.platform_sec), content);
  assert.equal(again.content, event.content);
  assert.deepEqual(again.tags, event.tags);
  assert.equal(again.id, event.id);
  const check = verifyTicket(event, {
    platformPubkey: v.keys.platform_pub,
    node: v.keys.node_pub,
    nowS: content.created_at,
  });
  assert.ok(check.ok);
  assert.deepEqual(check.ticket.content, content);
});

// Both NIP-44 implementations must give every frame byte for byte (the native one when it loads).
const ciphers: Nip44Cipher[] = [NOSTR_TOOLS_NIP44, ...(nativeNip44() ? [nativeNip44()!] : [])];

for (const cipher of ciphers) {
  Deno.test(`direct vectors - frames: sealed with the given nonces, then opened (${cipher.name})`, () => {
    assert.equal(v.streams.length, 4);
    for (const [i, s] of v.streams.entries()) {
      const sealer = new FrameSealer(ck, s.job_id, s.direction, {
        nonce: (n) => hexToBytes(s.frames[n].nonce),
        cipher,
      });
      const texts = s.messages.map((m) => "text" in m ? m.text : m.pattern.repeat(m.repeat));
      const folded = s.last === "folded";
      const payloads = texts.flatMap((t, m) => sealer.message(t, { end: folded && m === texts.length - 1 }));
      if (s.last === "end") payloads.push(sealer.end());
      else if (typeof s.last === "object") {
        payloads.push(sealer.error(s.last.error.code, s.last.error.message));
      }
      assert.equal(payloads.length, s.frames.length, `stream ${i}`);
      payloads.forEach((payload, n) => {
        const f = s.frames[n];
        const plaintext = nip44.decrypt(payload, ck);
        if ("payload" in f) {
          assert.equal(plaintext, f.plaintext, `stream ${i} frame ${n}`);
          assert.equal(payload, f.payload, `stream ${i} frame ${n}`);
        } else {
          assert.equal(utf8.encode(plaintext).length, f.plaintext_bytes, `stream ${i} frame ${n}`);
          assert.equal(hexSha256(plaintext), f.plaintext_sha256, `stream ${i} frame ${n}`);
          assert.equal(hexSha256(payload), f.payload_sha256, `stream ${i} frame ${n}`);
        }
      });
      const opener = new FrameOpener(ck, s.job_id, s.direction, { cipher });
      const opened = payloads.map((p) => opener.open(p)).filter((o) => o.type !== "partial");
      const want: Opened[] = texts.map((text, m) =>
        folded && m === texts.length - 1 ? { type: "message", text, end: true } : { type: "message", text }
      );
      if (s.last === "end") want.push({ type: "end" });
      else if (typeof s.last === "object") want.push({ type: "error", ...s.last.error });
      assert.ok(opener.ended, `stream ${i} ended`);
      assert.deepEqual(opened, want);
    }
  });
}
