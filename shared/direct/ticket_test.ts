import assert from "node:assert/strict";
import { finalizeEvent, generateSecretKey, getPublicKey, type NostrEvent } from "nostr-tools/pure";
import { canonicalJson, type CanonicalValue } from "../receipts/canonical_json.ts";
import { createTicket, TICKET_KIND, type TicketContent, verifyTicket } from "./ticket.ts";

const platform = generateSecretKey();
const platformPubkey = getPublicKey(platform);
const node = getPublicKey(generateSecretKey());
const consumer = getPublicKey(generateSecretKey());
const NOW = 1_780_000_000;

const content: TicketContent = {
  job_id: "job_01",
  buyer_did: "did:infernet:buyer:abc",
  model: "qwen2.5-0.5b-instruct",
  max_cost: "123456789",
  node,
  consumer,
  target: "node",
  model_key: null,
  prompt_tokens: 42,
  max_tokens: 256,
  expires_at: NOW + 60,
  created_at: NOW,
};
const opts = { platformPubkey, node, nowS: NOW + 1 };

/** Signs an arbitrary kind-7478 event with the platform key (or another), as a forger could. */
function signed(text: string, tags?: string[][], key = platform, createdAt = NOW): NostrEvent {
  return finalizeEvent({
    kind: TICKET_KIND,
    created_at: createdAt,
    tags: tags ?? [["t", "infernet-ticket"], ["p", node], ["job", "job_01"]],
    content: text,
  }, key);
}

function refusal(raw: unknown, o = opts): string {
  const check = verifyTicket(raw, o);
  return check.ok ? "accepted" : check.code;
}

Deno.test("ticket - a signed ticket verifies, with canonical content and its tags", () => {
  const event = createTicket(platform, content);
  assert.equal(event.kind, 7478);
  assert.equal(event.pubkey, platformPubkey);
  assert.equal(event.created_at, NOW);
  assert.deepEqual(event.tags, [["t", "infernet-ticket"], ["p", node], ["job", "job_01"]]);
  assert.equal(
    event.content,
    `{"buyer_did":"did:infernet:buyer:abc","consumer":"${consumer}","created_at":${NOW},` +
      `"expires_at":${NOW + 60},"job_id":"job_01","max_cost":"123456789","max_tokens":256,` +
      `"model":"qwen2.5-0.5b-instruct","model_key":null,"node":"${node}","prompt_tokens":42,"target":"node"}`,
  );
  const check = verifyTicket(JSON.parse(JSON.stringify(event)), opts);
  assert.ok(check.ok);
  assert.deepEqual(check.ticket.content, content);
  assert.equal(check.ticket.event.id, event.id);
});

Deno.test("ticket - a model-key ticket names its key", () => {
  const modelKey = getPublicKey(generateSecretKey());
  const ok = createTicket(platform, { ...content, target: "model", model_key: modelKey });
  assert.equal(refusal(ok), "accepted");
  assert.equal(
    refusal(createTicket(platform, { ...content, target: "model", model_key: null })),
    "ticket_invalid",
  );
  assert.equal(refusal(createTicket(platform, { ...content, model_key: modelKey })), "ticket_invalid");
});

Deno.test("ticket - ticket_invalid: not an event, another kind, content not a ticket", () => {
  const good = createTicket(platform, content);
  for (const raw of [null, "x", 7478, {}, [], { ...good, sig: "00" }, { ...good, tags: "p" }]) {
    assert.equal(refusal(raw), "ticket_invalid", JSON.stringify(raw));
  }
  assert.equal(refusal(finalizeEvent({ ...good, kind: 7475 }, platform)), "ticket_invalid");
  assert.equal(refusal(signed("not json")), "ticket_invalid");
  assert.equal(refusal(signed("[1,2]")), "ticket_invalid");
  assert.equal(refusal(signed("null")), "ticket_invalid");
});

Deno.test("ticket - ticket_invalid: every field missing or malformed", () => {
  const bad: Record<keyof TicketContent, unknown[]> = {
    job_id: ["", 1, "j".repeat(129)],
    buyer_did: ["", null, "d".repeat(129)],
    model: ["", null, "m".repeat(257)],
    max_cost: [123, "-1", "01", "1.5", "1e3", "", "1".repeat(20)],
    node: ["", node.toUpperCase(), node.slice(1), 1],
    consumer: [null, consumer + "0", "npub1xyz"],
    target: ["nodes", null, ""],
    model_key: ["", "zz", 0],
    prompt_tokens: [-1, 1.5, "42", null, 2 ** 53],
    max_tokens: [-1, 0.5, "256"],
    expires_at: [-1, "1", null],
    created_at: [-1, 1.5],
  };
  const reason = (c: Record<string, unknown>) => {
    const check = verifyTicket(signed(canonicalJson(c as CanonicalValue)), opts);
    return check.ok ? "accepted" : `${check.code}: ${check.reason}`;
  };
  assert.equal(reason({ ...content }), "accepted");
  for (const [name, values] of Object.entries(bad)) {
    const missing: Record<string, unknown> = { ...content };
    delete missing[name];
    assert.equal(reason(missing), `ticket_invalid: ticket ${name} is missing or invalid`);
    for (const value of values) {
      assert.equal(
        reason({ ...content, [name]: value }),
        `ticket_invalid: ticket ${name} is missing or invalid`,
        `${name} = ${value}`,
      );
    }
  }
});

Deno.test("ticket - ticket_invalid: extra fields, content not canonical, tags or time that differ", () => {
  const canonical = createTicket(platform, content).content;
  assert.equal(refusal(signed(canonical)), "accepted");
  const extra = canonicalJson({ ...content, extra: 1 } as unknown as CanonicalValue);
  assert.equal(refusal(signed(extra)), "ticket_invalid");
  assert.equal(refusal(signed(JSON.stringify(content))), "ticket_invalid"); // unsorted keys
  assert.equal(refusal(signed(canonical.replace(",", ", "))), "ticket_invalid"); // whitespace
  assert.equal(refusal(signed(canonical + "\n")), "ticket_invalid");
  const other = getPublicKey(generateSecretKey());
  assert.equal(refusal(signed(canonical, [["p", other], ["job", "job_01"]])), "ticket_invalid");
  assert.equal(refusal(signed(canonical, [["p", node], ["job", "job_02"]])), "ticket_invalid");
  assert.equal(refusal(signed(canonical, [["p", node]])), "ticket_invalid");
  assert.equal(refusal(signed(canonical, [])), "ticket_invalid");
  assert.equal(refusal(signed(canonical, undefined, platform, NOW + 1)), "ticket_invalid");
});

Deno.test("ticket - ticket_forged: altered after signing, or signed by another key", () => {
  const good = createTicket(platform, content);
  const altered = {
    ...good,
    content: good.content.replace('"max_cost":"123456789"', '"max_cost":"999999999"'),
  };
  assert.notEqual(altered.content, good.content);
  assert.equal(refusal(altered), "ticket_forged");
  assert.equal(refusal({ ...good, tags: [...good.tags, ["x", "y"]] }), "ticket_forged");
  const stranger = generateSecretKey();
  assert.equal(refusal(createTicket(stranger, content)), "ticket_forged");
  // A stranger's ticket stays forged even when the node is told the stranger's key is not the platform's.
  assert.equal(
    refusal(createTicket(platform, content), { ...opts, platformPubkey: getPublicKey(stranger) }),
    "ticket_forged",
  );
});

Deno.test("ticket - ticket_foreign: for another node", () => {
  const other = getPublicKey(generateSecretKey());
  assert.equal(refusal(createTicket(platform, content), { ...opts, node: other }), "ticket_foreign");
});

Deno.test("ticket - ticket_expired: refused after expires_at, accepted up to it", () => {
  const ticket = createTicket(platform, content);
  assert.equal(refusal(ticket, { ...opts, nowS: NOW + 60 }), "accepted");
  assert.equal(refusal(ticket, { ...opts, nowS: NOW + 61 }), "ticket_expired");
});

Deno.test("ticket - verifying never throws and never trusts the caller's object", () => {
  const good = createTicket(platform, content);
  const check = verifyTicket(good, opts);
  assert.ok(check.ok);
  assert.notEqual(check.ticket.event, good);
  (good.tags[1] as string[])[1] = "changed";
  assert.equal(check.ticket.event.tags[1][1], node);
  assert.equal(refusal(undefined), "ticket_invalid");
});
