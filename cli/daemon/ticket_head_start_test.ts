// Tickets checked ahead: only good tickets for this node are kept, a request gets the head start
// only with the very event announced (once, unexpired), and admission with a head start admits
// what it would admit without, refuses what it would refuse, and does no signature check or ECDH.
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { conversationKey, createTicket, FrameSealer, type TicketContent } from "../../shared/direct/mod.ts";
import { fastestSecp256k1, type NostrEvent } from "../../shared/mod.ts";
import { admitDirect, type DirectAdmissionDeps } from "./direct_admission.ts";
import { PlatformKeyCache } from "./platform_key_cache.ts";
import { TicketHeadStarts } from "./ticket_head_start.ts";
import { UsedTickets } from "./used_tickets.ts";

const NOW = 1_800_000_000;
const secp = await fastestSecp256k1();

/** A node, the control plane's key, and a secp256k1 backend that counts its expensive calls. */
function setup(opts: { max?: number; grants?: Map<string, Uint8Array> } = {}) {
  const platformSk = generateSecretKey();
  const nodeSk = generateSecretKey();
  const node = getPublicKey(nodeSk);
  const calls = { verify: 0, ecdh: 0 };
  const counting = {
    ...secp,
    verifyEvent: (e: NostrEvent) => (calls.verify++, secp.verifyEvent(e)),
    sharedX: (sk: Uint8Array, pk: string) => (calls.ecdh++, secp.sharedX(sk, pk)),
  } as typeof secp;
  let platformPubkey: string | null = getPublicKey(platformSk);
  const heads = new TicketHeadStarts({
    nodeSecretKey: nodeSk,
    nodePubkey: node,
    platformPubkey: () => platformPubkey,
    secp: counting,
    modelSecret: (pk) => Promise.resolve(opts.grants?.get(pk) ?? null),
    max: opts.max,
  });
  let seq = 0;
  const ticket = (patch: Partial<TicketContent> = {}, signer = platformSk) => {
    const consumerSk = generateSecretKey();
    const content: TicketContent = {
      job_id: `job_ahead_${++seq}`,
      buyer_did: "did:infernet:buyer",
      model: "m",
      max_cost: "1000",
      node,
      consumer: getPublicKey(consumerSk),
      target: "node",
      model_key: null,
      prompt_tokens: 16,
      max_tokens: 16,
      expires_at: NOW + 60,
      created_at: NOW,
      ...patch,
    };
    // As it travels: JSON, so the held event and the request's are never the same object.
    const event = JSON.parse(JSON.stringify(createTicket(signer, content)));
    return { event, content, consumerSk };
  };
  const deps = (): DirectAdmissionDeps => ({
    nodeSecretKey: nodeSk,
    nodePubkey: node,
    platformKeys: new PlatformKeyCache(() => Promise.resolve(getPublicKey(platformSk))),
    usedTickets: new UsedTickets(),
    servedModels: () => ["m"],
    modelSecret: (pk) => Promise.resolve(opts.grants?.get(pk) ?? null),
    nowS: () => NOW,
    secp: counting,
    headStarts: heads,
  });
  return {
    heads,
    calls,
    node,
    nodeSk,
    ticket,
    deps,
    forgetPlatformKey: () => (platformPubkey = null),
  };
}

/** A request's frames for a ticket: one chat message with its end folded in, sealed to `to`. */
function framesFor(t: { content: TicketContent; consumerSk: Uint8Array }, to: string) {
  const key = conversationKey(t.consumerSk, to);
  const body = JSON.stringify({ model: "m", messages: [{ role: "user", content: "hi" }] });
  const frames = new FrameSealer(key, t.content.job_id, "c2n").message(body, { end: true });
  let i = 0;
  return () => Promise.resolve(frames[i++] ?? null);
}

Deno.test("head start - a good ticket is checked and its key computed once, on announcement", () => {
  const s = setup();
  const t = s.ticket();
  assert.equal(s.heads.announce(t.event, NOW), true);
  assert.deepEqual(s.calls, { verify: 1, ecdh: 1 });
  const held = s.heads.take(JSON.parse(JSON.stringify(t.event)), NOW);
  assert.ok(held);
  assert.equal(held.ticket.content.job_id, t.content.job_id);
  assert.deepEqual(held.key?.key, conversationKey(s.nodeSk, t.content.consumer));
  assert.equal(held.key?.secret, s.nodeSk);
  // Once: a second request with the same ticket is checked in full (and refused as reused there).
  assert.equal(s.heads.take(t.event, NOW), null);
  assert.equal(s.heads.size, 0);
  assert.deepEqual(s.calls, { verify: 1, ecdh: 1 });
});

Deno.test("head start - forged, foreign, expired and malformed announcements are not kept", () => {
  const s = setup();
  const forged = s.ticket({}, generateSecretKey());
  assert.equal(s.heads.announce(forged.event, NOW), false);
  const foreign = s.ticket({ node: getPublicKey(generateSecretKey()) });
  assert.equal(s.heads.announce(foreign.event, NOW), false);
  const expired = s.ticket({ expires_at: NOW - 1 });
  assert.equal(s.heads.announce(expired.event, NOW), false);
  const badSig = s.ticket();
  assert.equal(s.heads.announce({ ...badSig.event, sig: "00".repeat(64) }, NOW), false);
  for (const junk of [null, "ticket", 7, {}, { kind: 7478 }]) {
    assert.equal(s.heads.announce(junk, NOW), false);
  }
  const notAPoint = s.ticket({ consumer: "ff".repeat(32) });
  assert.equal(s.heads.announce(notAPoint.event, NOW), false);
  assert.equal(s.heads.size, 0);
  // Without the control plane's key nothing is checked ahead.
  s.forgetPlatformKey();
  assert.equal(s.heads.announce(s.ticket().event, NOW), false);
  assert.equal(s.heads.size, 0);
});

Deno.test("head start - only the announced event itself takes it, and not once expired", () => {
  const s = setup();
  const t = s.ticket();
  s.heads.announce(t.event, NOW);
  // The same id and signature around other content, tags, time or signer: no head start.
  const altered = [
    { ...t.event, content: t.event.content.replace('"max_tokens":16', '"max_tokens":9999') },
    { ...t.event, tags: [...t.event.tags, ["x", "y"]] },
    { ...t.event, created_at: t.event.created_at + 1 },
    { ...t.event, pubkey: getPublicKey(generateSecretKey()) },
    { ...t.event, sig: "11".repeat(64) },
    { ...t.event, kind: 1 },
  ];
  for (const a of altered) assert.equal(s.heads.take(a, NOW), null, JSON.stringify(a).slice(0, 80));
  for (const junk of [undefined, null, "x", {}, { id: 5 }]) assert.equal(s.heads.take(junk, NOW), null);
  assert.equal(s.heads.size, 1);
  // Past its expiry it is dropped, not handed out.
  assert.equal(s.heads.take(t.event, NOW + 61), null);
  assert.equal(s.heads.size, 0);
});

Deno.test("head start - bounded: expired tickets go first, then the oldest", () => {
  const s = setup({ max: 3 });
  const early = s.ticket({ expires_at: NOW + 5 });
  const [a, b, c, d] = [s.ticket(), s.ticket(), s.ticket(), s.ticket()];
  s.heads.announce(early.event, NOW);
  s.heads.announce(a.event, NOW);
  s.heads.announce(b.event, NOW);
  assert.equal(s.heads.size, 3);
  // At NOW + 10 the early one has expired: it makes the room.
  s.heads.announce(c.event, NOW + 10);
  assert.equal(s.heads.size, 3);
  assert.equal(s.heads.take(early.event, NOW), null);
  // Nothing expired: the oldest (a) makes the room.
  s.heads.announce(d.event, NOW + 10);
  assert.equal(s.heads.size, 3);
  assert.equal(s.heads.take(a.event, NOW + 10), null);
  for (const t of [b, c, d]) assert.ok(s.heads.take(t.event, NOW + 10));
  // A ticket announced twice is held once.
  const e = s.ticket();
  assert.equal(s.heads.announce(e.event, NOW), true);
  assert.equal(s.heads.announce(e.event, NOW), false);
  assert.equal(s.heads.size, 1);
});

Deno.test("head start - a model-key ticket's key is made with the granted secret, used while it holds", async () => {
  const modelSk = generateSecretKey();
  const modelKey = getPublicKey(modelSk);
  const grants = new Map([[modelKey, modelSk]]);
  const s = setup({ grants });
  const deps = s.deps();
  // Announced, then the grant's lookup resolves: one check, one ECDH with the model secret.
  const t = s.ticket({ target: "model", model_key: modelKey });
  assert.equal(s.heads.announce(t.event, NOW), true);
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(s.calls, { verify: 1, ecdh: 1 });
  const admitted = await admitDirect({ ticket: t.event }, framesFor(t, modelKey), deps);
  assert.ok(admitted.ok, JSON.stringify(admitted));
  assert.deepEqual(s.calls, { verify: 1, ecdh: 1 });
  // The grant replaced by another secret after the announcement: the key is made again with it.
  const u = s.ticket({ target: "model", model_key: modelKey });
  s.heads.announce(u.event, NOW);
  await new Promise((r) => setTimeout(r, 0));
  grants.set(modelKey, generateSecretKey());
  const stale = await admitDirect({ ticket: u.event }, framesFor(u, modelKey), deps);
  assert.deepEqual(s.calls, { verify: 2, ecdh: 3 });
  assert.ok(!stale.ok);
  assert.match(stale.refusal.code, /^frame_/);
  // The grant gone: refused as without a head start.
  const v = s.ticket({ target: "model", model_key: modelKey });
  s.heads.announce(v.event, NOW);
  await new Promise((r) => setTimeout(r, 0));
  grants.delete(modelKey);
  const gone = await admitDirect({ ticket: v.event }, framesFor(v, modelKey), deps);
  assert.ok(!gone.ok);
  assert.equal(gone.refusal.code, "model_key_not_granted");
  // Not granted when announced: the ticket is still checked ahead, with no key.
  const w = s.ticket({ target: "model", model_key: getPublicKey(generateSecretKey()) });
  assert.equal(s.heads.announce(w.event, NOW), true);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(s.heads.take(w.event, NOW)?.key, null);
});

Deno.test("head start - admission with it admits the same request with no signature check or ECDH", async () => {
  const s = setup();
  const t = s.ticket();
  s.heads.announce(t.event, NOW);
  const before = { ...s.calls };
  const deps = s.deps();
  const admitted = await admitDirect(
    { ticket: t.event, consumer: t.content.consumer },
    framesFor(t, s.node),
    deps,
  );
  assert.ok(admitted.ok, JSON.stringify(admitted));
  assert.deepEqual(s.calls, before);
  assert.equal(admitted.admitted.job.job_id, t.content.job_id);
  assert.deepEqual(admitted.admitted.job.body.messages, [{ role: "user", content: "hi" }]);
  // Used once: the same ticket again is checked in full and refused as reused.
  const again = await admitDirect({ ticket: t.event }, framesFor(t, s.node), deps);
  assert.ok(!again.ok);
  assert.equal(again.refusal.code, "ticket_reused");
  assert.equal(s.calls.verify, before.verify + 1);

  // Without a head start the same kind of request costs one check and one ECDH.
  const cold = s.ticket();
  const coldCalls = { ...s.calls };
  const admittedCold = await admitDirect({ ticket: cold.event }, framesFor(cold, s.node), deps);
  assert.ok(admittedCold.ok);
  assert.deepEqual(s.calls, { verify: coldCalls.verify + 1, ecdh: coldCalls.ecdh + 1 });
});

Deno.test("head start - admission still refuses what it refuses without one", async () => {
  const s = setup();
  const deps = s.deps();
  // The announced ticket's id and signature around a forged content: checked in full, forged.
  const t = s.ticket();
  s.heads.announce(t.event, NOW);
  const forged = { ...t.event, content: t.event.content.replace('"max_tokens":16', '"max_tokens":9999') };
  const refused = await admitDirect({ ticket: forged }, framesFor(t, s.node), deps);
  assert.ok(!refused.ok);
  assert.equal(refused.refusal.code, "ticket_forged");
  // A request for a model the node no longer serves is refused even with a head start.
  const u = s.ticket();
  s.heads.announce(u.event, NOW);
  const served = await admitDirect({ ticket: u.event }, framesFor(u, s.node), {
    ...deps,
    servedModels: () => [],
  });
  assert.ok(!served.ok);
  assert.equal(served.refusal.code, "model_not_served");
  // Frames sealed to another key do not open with the head start's key either.
  const v = s.ticket();
  s.heads.announce(v.event, NOW);
  const wrong = { ...v, consumerSk: generateSecretKey() };
  const garbled = await admitDirect({ ticket: v.event }, framesFor(wrong, s.node), deps);
  assert.ok(!garbled.ok);
  assert.match(garbled.refusal.code, /^frame_/);
  // The header's consumer key must be the ticket's.
  const w = s.ticket();
  s.heads.announce(w.event, NOW);
  const otherConsumer = await admitDirect(
    { ticket: w.event, consumer: getPublicKey(generateSecretKey()) },
    framesFor(w, s.node),
    deps,
  );
  assert.ok(!otherConsumer.ok);
  assert.equal(otherConsumer.refusal.code, "ticket_invalid");
});
