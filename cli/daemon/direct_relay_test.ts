// A direct-mode request relayed over the job socket (docs/protocol.md §14): the daemon answers
// relay_open/relay_frame with the same admission and run as POST /direct, replies with
// relay_frame/relay_close, and signs its receipt of the job as for a gateway job.
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { npubEncode } from "nostr-tools/nip19";
import { conversationKey, createTicket, FrameOpener, FrameSealer } from "../../shared/direct/mod.ts";
import {
  createLogger,
  fastestSecp256k1,
  type NodeFrame,
  type NostrEvent,
  parseNodeFrame,
  type Secp256k1Backend,
} from "../../shared/mod.ts";
import { sampleAdvert, startTestEngine, within } from "../../testing/mod.ts";
import { NodeDaemon } from "./node_daemon.ts";

const MODEL = "infernet-test-echo";

/** A control plane stand-in: registration, its key, and a job socket that relays one request. */
function startStandIn(platformPubkey: string) {
  const received: NodeFrame[] = [];
  let socket: WebSocket | null = null;
  let welcomed: () => void;
  const ready = new Promise<void>((r) => (welcomed = r));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/api/nodes/register") return Response.json({ ok: true });
    if (path === "/api/nodes/heartbeat") return Response.json({ ok: true });
    if (path === "/.well-known/infernet.json") return Response.json({ platform_pubkey: platformPubkey });
    if (path === "/api/nodes/ws") {
      const { socket: ws, response } = Deno.upgradeWebSocket(req);
      socket = ws;
      ws.onopen = () => ws.send(JSON.stringify({ type: "challenge", challenge: "c" }));
      ws.onmessage = (e) => {
        const f = parseNodeFrame(String(e.data));
        if (f?.type === "auth") {
          ws.send(JSON.stringify({ type: "welcome", pubkey: f.event.pubkey, ping_interval_ms: 60_000 }));
          welcomed();
        } else if (f) received.push(f);
      };
      return response;
    }
    return new Response("no", { status: 404 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    received,
    ready,
    send: (frame: unknown) => socket!.send(JSON.stringify(frame)),
    close: () => server.shutdown(),
  };
}

const waitFor = (cond: () => boolean, what: string) =>
  within(
    (async () => {
      for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
    })(),
    5000,
    what,
  );

/** A daemon on the stand-in's socket, for the test engine (`secp`: a backend to count its calls). */
function daemonFor(cpUrl: string, engineUrl: string, nodeKey: Uint8Array, secp?: Secp256k1Backend) {
  const pubkey = getPublicKey(nodeKey);
  return new NodeDaemon({
    server: cpUrl,
    identity: { secretKey: nodeKey, pubkey, npub: npubEncode(pubkey) },
    advert: sampleAdvert({
      models: [{ id: MODEL, contextLength: 4096, promptPricePer1k: 1000, completionPricePer1k: 1000 }],
    }),
    engineBaseUrl: engineUrl,
    log: createLogger({ level: "silent" }),
    heartbeatIntervalMs: 60_000,
    secp,
  });
}

/** A ticket for `node` and the consumer key `consumerKey`, valid for a minute. */
function ticketFor(platformKey: Uint8Array, node: string, consumerKey: Uint8Array, jobId: string) {
  const now = Math.floor(Date.now() / 1000);
  return createTicket(platformKey, {
    job_id: jobId,
    buyer_did: "did:infernet:buyer",
    model: MODEL,
    max_cost: "1000000",
    node,
    consumer: getPublicKey(consumerKey),
    target: "node",
    model_key: null,
    prompt_tokens: 4,
    max_tokens: 32,
    expires_at: now + 60,
    created_at: now,
  });
}

Deno.test("relay - a relayed request is answered over the socket, then receipted", async () => {
  const engine = await startTestEngine();
  const platformKey = generateSecretKey();
  const cp = startStandIn(getPublicKey(platformKey));
  const nodeKey = generateSecretKey();
  const pubkey = getPublicKey(nodeKey);
  const daemon = daemonFor(cp.url, engine.url, nodeKey);
  try {
    await daemon.start();
    await within(cp.ready, 5000, "the node's auth");
    const consumerKey = generateSecretKey();
    const ticket = ticketFor(platformKey, pubkey, consumerKey, "job_relay_1");
    const key = conversationKey(consumerKey, pubkey);
    const sealer = new FrameSealer(key, "job_relay_1", "c2n");
    const request = { model: MODEL, stream: true, messages: [{ role: "user", content: "hi there" }] };
    cp.send({
      type: "relay_open",
      job_id: "job_relay_1",
      header: { ticket, consumer: getPublicKey(consumerKey) },
    });
    for (const frame of [...sealer.message(JSON.stringify(request)), sealer.end()]) {
      cp.send({ type: "relay_frame", job_id: "job_relay_1", frame });
    }
    await waitFor(() => cp.received.some((f) => f.type === "receipt"), "the node's receipt");
    const opener = new FrameOpener(key, "job_relay_1", "n2c");
    const texts: string[] = [];
    let ended = false;
    for (const f of cp.received) {
      if (f.type !== "relay_frame") continue;
      const o = opener.open(f.frame);
      if (o.type === "message") texts.push(JSON.parse(o.text).choices?.[0]?.delta?.content ?? "");
      if (o.type === "end") ended = true;
    }
    assert.ok(ended);
    assert.equal(texts.join(""), "Echo: hi there");
    const close = cp.received.find((f) => f.type === "relay_close");
    assert.deepEqual(close, { type: "relay_close", job_id: "job_relay_1", error: null });
    const receipt = cp.received.find((f) => f.type === "receipt");
    assert.ok(receipt?.type === "receipt");
    const content = JSON.parse(receipt.event.content);
    assert.equal(content.task_id, "job_relay_1");
    assert.equal(content.outcome, "success");
    assert.equal(content.model, MODEL);
    // The same ticket relayed again is refused, with nothing sent to the engine.
    const events = engine.events.length;
    cp.send({ type: "relay_open", job_id: "job_relay_1", header: { ticket } });
    await waitFor(() => cp.received.filter((f) => f.type === "relay_close").length === 2, "the refusal");
    const refusal = cp.received.filter((f) => f.type === "relay_close")[1];
    assert.ok(refusal.type === "relay_close");
    assert.equal(refusal.error?.code, "ticket_reused");
    assert.equal(engine.events.length, events);
    // A ticket relayed under another job's id is refused: its answer would reach the wrong stream.
    cp.send({ type: "relay_open", job_id: "job_relay_2", header: { ticket } });
    await waitFor(
      () => cp.received.some((f) => f.type === "relay_close" && f.job_id === "job_relay_2"),
      "refusal",
    );
    const other = cp.received.find((f) => f.type === "relay_close" && f.job_id === "job_relay_2");
    assert.ok(other?.type === "relay_close");
    assert.equal(other.error?.code, "ticket_invalid");
    assert.equal(engine.events.length, events);
  } finally {
    await daemon.stop();
    await cp.close();
    await engine.close();
  }
});

Deno.test("relay - a ticket announced over the socket is checked then, not again for its request", async () => {
  const engine = await startTestEngine();
  const platformKey = generateSecretKey();
  const cp = startStandIn(getPublicKey(platformKey));
  const nodeKey = generateSecretKey();
  const pubkey = getPublicKey(nodeKey);
  const secp = await fastestSecp256k1();
  const calls = { verify: 0, ecdh: 0 };
  const daemon = daemonFor(
    cp.url,
    engine.url,
    nodeKey,
    {
      ...secp,
      verifyEvent: (e: NostrEvent) => (calls.verify++, secp.verifyEvent(e)),
      sharedX: (sk: Uint8Array, pk: string) => (calls.ecdh++, secp.sharedX(sk, pk)),
    } as typeof secp,
  );
  try {
    await daemon.start();
    await within(cp.ready, 5000, "the node's auth");
    await daemon.platformKeys.refresh();
    const consumerKey = generateSecretKey();
    const ticket = ticketFor(platformKey, pubkey, consumerKey, "job_ahead_1");
    cp.send({ type: "ticket", ticket });
    await waitFor(() => calls.verify === 1 && calls.ecdh === 1, "the ticket checked ahead");
    const key = conversationKey(consumerKey, pubkey);
    const sealer = new FrameSealer(key, "job_ahead_1", "c2n");
    const request = { model: MODEL, messages: [{ role: "user", content: "ahead" }] };
    cp.send({
      type: "relay_open",
      job_id: "job_ahead_1",
      header: { ticket, consumer: getPublicKey(consumerKey) },
    });
    for (const frame of [...sealer.message(JSON.stringify(request)), sealer.end()]) {
      cp.send({ type: "relay_frame", job_id: "job_ahead_1", frame });
    }
    await waitFor(() => cp.received.some((f) => f.type === "relay_close"), "the answer");
    assert.deepEqual(cp.received.find((f) => f.type === "relay_close"), {
      type: "relay_close",
      job_id: "job_ahead_1",
      error: null,
    });
    const opener = new FrameOpener(key, "job_ahead_1", "n2c");
    const texts = cp.received.flatMap((f) => {
      if (f.type !== "relay_frame") return [];
      const o = opener.open(f.frame);
      return o.type === "message" ? [JSON.parse(o.text).choices[0].message.content] : [];
    });
    assert.deepEqual(texts, ["Echo: ahead"]);
    // The request itself cost no signature check and no ECDH.
    assert.deepEqual(calls, { verify: 1, ecdh: 1 });
  } finally {
    await daemon.stop();
    await cp.close();
    await engine.close();
  }
});
