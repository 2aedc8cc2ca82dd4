// Jobs over relays against a real local relay, a real daemon's slots and the test engine: answers
// stream (and not) through sealed ephemeral chunks; every bad request gets a kind-7000 error with
// its code, never a run and never a pending voucher; a down relay costs nothing.
import assert from "node:assert/strict";
import { finalizeEvent, generateSecretKey, getPublicKey, type NostrEvent } from "nostr-tools/pure";
import { npubEncode } from "nostr-tools/nip19";
import { conversationKey } from "../../shared/direct/mod.ts";
import {
  createLogger,
  createVoucher,
  newVoucherId,
  PURE_SECP256K1,
  type VoucherContent,
} from "../../shared/mod.ts";
import { RelayPool } from "../../shared/relay/mod.ts";
import { relayChat, type RelayVoucher } from "../../shared/relay/relay_client.ts";
import {
  JOB_FEEDBACK_KIND,
  jobRequestTemplate,
  newJobId,
  readFeedback,
  type RelayJobParams,
} from "../../shared/relay/relay_client_events.ts";
import type { RunningRelay } from "../../shared/relay/relay_server.ts";
import { sampleAdvert, startTestEngine, type TestEngine, within } from "../../testing/mod.ts";
import { startTestRelay } from "../../testing/relay_socket.ts";
import { NodeDaemon } from "./node_daemon.ts";
import { PlatformKeyCache } from "./platform_key_cache.ts";
import { RelayJobs } from "./relay_jobs.ts";
import { RelayOffers } from "./relay_offers.ts";
import { createDirectHandler } from "./direct_server.ts";
import { JOB_REQUEST_KIND } from "../../shared/relay/relay_client_events.ts";

const MODEL = "infernet-test-echo";
const PRICE = 2_000;

interface World {
  relays: RunningRelay[];
  engine: TestEngine;
  daemon: NodeDaemon;
  jobs: RelayJobs;
  offers: RelayOffers;
  pool: RelayPool;
  platformKey: Uint8Array;
  nodeKey: Uint8Array;
  home: string;
  voucher(patch?: Partial<VoucherContent>, signer?: Uint8Array): RelayVoucher;
  close(): Promise<void>;
}

async function world(
  opts: { downRelay?: boolean; nodeSkewS?: number; direct?: boolean } = {},
): Promise<World> {
  const relays = [await startTestRelay()];
  const urls = [relays[0].url];
  if (opts.downRelay) urls.push("ws://127.0.0.1:9"); // nothing listens there
  const engine = await startTestEngine({ tokenDelayMs: 0 });
  const platformKey = generateSecretKey();
  const nodeKey = generateSecretKey();
  const pubkey = getPublicKey(nodeKey);
  const identity = { secretKey: nodeKey, pubkey, npub: npubEncode(pubkey) };
  const home = await Deno.makeTempDir({ prefix: "infernet-relay-jobs-" });
  const log = createLogger({ level: "silent" });
  // With `direct`, the node's endpoint serves POST /job (and /direct), and its offers name it.
  let answerJob: (event: unknown) => Response = () => new Response(null, { status: 503 });
  const http = opts.direct
    ? Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      createDirectHandler({
        openDirect: () => Promise.reject(new Error("no tickets here")),
        answerJob: (e) => answerJob(e),
      }),
    )
    : null;
  const advert = sampleAdvert({
    maxConcurrency: 4,
    models: [{ id: MODEL, contextLength: 4096, promptPricePer1k: PRICE, completionPricePer1k: PRICE }],
    endpoint: http ? `http://127.0.0.1:${http.addr.port}` : null,
  });
  const platformKeys = new PlatformKeyCache(() => Promise.resolve(getPublicKey(platformKey)));
  const daemon = new NodeDaemon({
    server: "http://127.0.0.1:9",
    identity,
    advert,
    engineBaseUrl: engine.url,
    log,
    platformKeys,
    secp: PURE_SECP256K1,
  });
  const jobs = new RelayJobs({
    relays: urls,
    identity,
    host: { advert: () => daemon.advert(), run: (job, sealer, emit) => daemon.runSealed(job, sealer, emit) },
    platformKeys,
    home,
    log,
    secp: PURE_SECP256K1,
    nowS: () => Math.floor(Date.now() / 1000) + (opts.nodeSkewS ?? 0),
  });
  const offers = new RelayOffers({
    relays: urls,
    identity,
    advert: () => advert,
    freeSlots: () => 4,
    server: null,
    log,
    publishTimeoutMs: 500,
  });
  await jobs.start();
  answerJob = (e) => jobs.answerHttp(e);
  await offers.start();
  const pool = new RelayPool(urls, {
    verifyEvent: PURE_SECP256K1.verifyEvent,
    publishTimeoutMs: 500,
    eoseTimeoutMs: 500,
  });
  const now = Math.floor(Date.now() / 1000);
  return {
    relays,
    engine,
    daemon,
    jobs,
    offers,
    pool,
    platformKey,
    nodeKey,
    home,
    voucher: (patch = {}, signer = platformKey) => {
      const secretKey = generateSecretKey();
      const event = createVoucher(signer, {
        voucher_id: newVoucherId(),
        buyer_did: "did:infernet:test",
        consumer: getPublicKey(secretKey),
        max_nano: "1000000000",
        currency: "USD",
        expires_at: now + 3600,
        created_at: now,
        ...patch,
      });
      return { event, secretKey };
    },
    close: async () => {
      await http?.shutdown();
      pool.close();
      await offers.stop();
      await jobs.stop();
      await daemon.stop();
      await engine.close();
      for (const r of relays) await r.close();
      await Deno.remove(home, { recursive: true });
    },
  };
}

const chat = (stream: boolean, extra: Record<string, unknown> = {}) => ({
  model: MODEL,
  messages: [{ role: "user", content: "hello over the relays" }],
  max_tokens: 8,
  stream,
  ...extra,
});

function textOf(messages: unknown[]): string {
  return messages.map((m) => {
    const c = (m as { choices?: { delta?: { content?: string }; message?: { content?: string } }[] }).choices
      ?.[0];
    return c?.delta?.content ?? c?.message?.content ?? "";
  }).join("");
}

Deno.test("relay jobs - a completion streams in order, and a whole one arrives, each paid by one voucher", async () => {
  const w = await world();
  try {
    const vouchers = [w.voucher(), w.voucher()];
    const results: unknown[] = [];
    const streamed: unknown[] = [];
    for await (
      const m of relayChat({
        pool: w.pool,
        body: chat(true),
        takeVoucher: () => vouchers.shift() ?? null,
        secp: PURE_SECP256K1,
        onResult: (s) => results.push(s),
      })
    ) streamed.push(m);
    assert.ok(streamed.length > 1, "several chunks");
    assert.ok(textOf(streamed).length > 0);
    const whole: unknown[] = [];
    for await (
      const m of relayChat({
        pool: w.pool,
        body: chat(false),
        takeVoucher: () => vouchers.shift() ?? null,
        secp: PURE_SECP256K1,
        onResult: (s) => results.push(s),
      })
    ) whole.push(m);
    assert.equal(whole.length, 1);
    assert.equal(textOf(whole), textOf(streamed), "the echo answers the same either way");
    assert.equal(results.length, 2);
    const pending = await w.jobs.pending.read();
    assert.equal(pending.length, 2, "both vouchers wait for redemption");
    for (const p of pending) {
      assert.equal(p.receipt.pubkey, getPublicKey(w.nodeKey));
      const receipt = JSON.parse(p.receipt.content);
      assert.equal(
        receipt.task_id,
        JSON.parse(p.voucher.content).voucher_id,
        "the receipt names the voucher",
      );
      assert.ok(receipt.usage.completion_tokens > 0);
      assert.deepEqual(p.price, { prompt_per_1k: PRICE, completion_per_1k: PRICE });
    }
    assert.equal(w.jobs.stats.completed, 2);
  } finally {
    await w.close();
  }
});

/** Publishes a hand-made request and returns the node's kind-7000 error (code, reason). */
async function refusalOf(
  w: World,
  opts: {
    voucher?: RelayVoucher;
    signer?: Uint8Array;
    params?: Partial<RelayJobParams>;
    ttlS?: number;
    createdAt?: number;
    content?: string;
    jobId?: string;
    sealTo?: string;
  } = {},
): Promise<{ code: string | null; message: string; request: NostrEvent }> {
  const v = opts.voucher ?? w.voucher();
  const signer = opts.signer ?? v.secretKey;
  const node = getPublicKey(w.nodeKey);
  const key = conversationKey(signer, opts.sealTo ?? node);
  const template = jobRequestTemplate(key, {
    node,
    jobId: opts.jobId ?? newJobId(),
    params: { request: chat(false), voucher: v.event, price: [PRICE, PRICE], ...opts.params },
    createdAt: opts.createdAt ?? Math.floor(Date.now() / 1000),
    ttlS: opts.ttlS ?? 60,
  });
  if (opts.content !== undefined) template.content = opts.content;
  const request = finalizeEvent(template, signer);
  const feedback = new Promise<NostrEvent>((resolve) => {
    const sub = w.pool.subscribe([{ kinds: [JOB_FEEDBACK_KIND], "#e": [request.id] }], {
      onevent: (e) => {
        if (readFeedback(e).status !== "error") return;
        sub.close();
        resolve(e);
      },
    });
  });
  await new Promise((r) => setTimeout(r, 50));
  await w.pool.publish(request);
  const e = await within(feedback, 10_000, `the node's error to ${JSON.stringify(opts).slice(0, 80)}`);
  return { ...readFeedback(e), request };
}

Deno.test("relay jobs - every bad request gets its kind-7000 error and no run, no pending voucher", async () => {
  const w = await world();
  try {
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Parameters<typeof refusalOf>[1]][] = [
      ["model_not_served", { params: { request: { ...chat(false), model: "no-such-model" } } }],
      ["price_too_low", { params: { price: [PRICE - 1, PRICE] } }],
      ["voucher_forged", { voucher: w.voucher({}, generateSecretKey()) }],
      ["voucher_expired", { voucher: w.voucher({ expires_at: now - 1, created_at: now - 100 }) }],
      ["voucher_insufficient", { voucher: w.voucher({ max_nano: "1" }) }],
      // One choice of 1,000 tokens fits in 10,000 nano-USD at this price; eight do not.
      ["voucher_insufficient", {
        voucher: w.voucher({ max_nano: "10000" }),
        params: { request: { ...chat(false), max_tokens: 1000, n: 8 } },
      }],
      ["voucher_foreign", { signer: generateSecretKey() }],
      ["request_undecryptable", { sealTo: getPublicKey(generateSecretKey()) }],
      ["request_too_large", { content: "x".repeat(100_001) }],
      ["request_undecryptable", { content: "not a frame" }],
      ["request_invalid", { params: { price: "free" as unknown as [number, number] } }],
    ];
    for (const [code, opts] of cases) {
      const got = await refusalOf(w, opts);
      assert.equal(got.code, code, `${code}: ${got.message}`);
      assert.ok(got.message.length > 0);
    }
    // A voucher spent once is refused the second time, whatever request carries it.
    const v = w.voucher();
    const answer: unknown[] = [];
    for await (
      const m of relayChat({ pool: w.pool, body: chat(false), takeVoucher: () => v, secp: PURE_SECP256K1 })
    ) answer.push(m);
    assert.equal(answer.length, 1);
    assert.equal((await refusalOf(w, { voucher: v })).code, "voucher_reused");
    // The same job id from the same signer again is a replay.
    const v2 = w.voucher();
    const jobId = newJobId();
    const first = await refusalOf(w, { voucher: v2, jobId, params: { price: [0, 0] } });
    assert.equal(first.code, "price_too_low");
    assert.equal((await refusalOf(w, { voucher: v2, jobId })).code, "request_replayed");
    assert.equal((await w.jobs.pending.read()).length, 1, "only the job that ran is pending");
    assert.equal(w.jobs.stats.completed, 1);
  } finally {
    await w.close();
  }
});

Deno.test("relay jobs - a request past its expiry at the node is refused, not run", async () => {
  // Relays drop events already expired (NIP-40); a node whose clock is ahead sees one that is not.
  const w = await world({ nodeSkewS: 120 });
  try {
    assert.equal((await refusalOf(w, { ttlS: 60 })).code, "request_expired");
    assert.equal((await w.jobs.pending.read()).length, 0);
  } finally {
    await w.close();
  }
});

Deno.test("relay jobs - a node that refuses is replaced by the next offer before the first token", async () => {
  const w = await world();
  try {
    const vouchers = [w.voucher({ max_nano: "1" }), w.voucher()];
    const fallbacks: string[] = [];
    const offers = await (await import("../../shared/relay/mod.ts")).discoverOffers(w.pool, { model: MODEL });
    assert.equal(offers.length, 1);
    const answer: unknown[] = [];
    // The same node twice: the first attempt's voucher is too small, the second pays.
    for await (
      const m of relayChat({
        pool: w.pool,
        body: chat(false),
        offers: [offers[0], offers[0]],
        takeVoucher: () => vouchers.shift() ?? null,
        secp: PURE_SECP256K1,
        onFallback: (_node, err) => fallbacks.push(err.code),
      })
    ) answer.push(m);
    assert.deepEqual(fallbacks, ["voucher_insufficient"]);
    assert.equal(answer.length, 1);
  } finally {
    await w.close();
  }
});

Deno.test("relay jobs - with one of two relays down, jobs still run", async () => {
  const w = await world({ downRelay: true });
  try {
    const v = w.voucher();
    const answer: unknown[] = [];
    for await (
      const m of relayChat({ pool: w.pool, body: chat(true), takeVoucher: () => v, secp: PURE_SECP256K1 })
    ) answer.push(m);
    assert.ok(answer.length > 1);
  } finally {
    await w.close();
  }
});

Deno.test("relay jobs - an offer with a direct endpoint: found on the relay, run over HTTP", async () => {
  const w = await world({ direct: true });
  try {
    const vouchers = [w.voucher(), w.voucher(), w.voucher()];
    const take = () => vouchers.shift() ?? null;
    const direct: unknown[] = [];
    for await (
      const m of relayChat({ pool: w.pool, body: chat(true), takeVoucher: take, secp: PURE_SECP256K1 })
    ) {
      direct.push(m);
    }
    assert.ok(direct.length > 1);
    const repo = w.relays[0].repository;
    assert.equal(repo.find({ kinds: [JOB_REQUEST_KIND] }).length, 0, "the request never touched the relay");
    // The same node over the relays when asked to.
    const relayed: unknown[] = [];
    for await (
      const m of relayChat({
        pool: w.pool,
        body: chat(true),
        takeVoucher: take,
        secp: PURE_SECP256K1,
        relayOnly: true,
      })
    ) relayed.push(m);
    assert.equal(textOf(relayed), textOf(direct));
    assert.equal(repo.find({ kinds: [JOB_REQUEST_KIND] }).length, 1);
    // A refusal comes back as the same kind-7000 error, over HTTP.
    const spent = w.voucher();
    for await (
      const _ of relayChat({
        pool: w.pool,
        body: chat(false),
        takeVoucher: () => spent,
      })
    ) { /* paid */ }
    const err = await (async () => {
      for await (
        const _ of relayChat({
          pool: w.pool,
          body: chat(false),
          takeVoucher: () => spent,
          maxAttempts: 1,
        })
      ) {
        /* nothing */
      }
    })().then(() => null, (e) => e);
    assert.equal(err?.code, "voucher_reused");
  } finally {
    await w.close();
  }
});

Deno.test("relay jobs - a consumer that stops reading POST /job early leaves no error behind", async () => {
  const w = await world();
  try {
    // Signed, but no job (no voucher): the node answers with a kind-7000 error into a stream the
    // consumer has already cancelled. A close or enqueue on it would be an unhandled rejection.
    const request = finalizeEvent(
      { kind: JOB_REQUEST_KIND, created_at: Math.floor(Date.now() / 1000), tags: [], content: "x" },
      generateSecretKey(),
    );
    const before = w.jobs.stats.requests;
    const res = w.jobs.answerHttp(request);
    await res.body!.cancel();
    await within(
      (async () => {
        for (let i = 0; i < 200 && w.jobs.stats.requests === before; i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
      })(),
      5_000,
      "the request handled",
    );
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(w.jobs.stats.requests, before + 1);
  } finally {
    await w.close();
  }
});
