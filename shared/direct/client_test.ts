import assert from "node:assert/strict";
import { generateSecretKey } from "nostr-tools/pure";
import { type DirectError, privateChat } from "./client.ts";
import { verifyUsageAck } from "./acks.ts";
import { artifactHash } from "../receipts/receipt.ts";
import { countPromptTokens } from "./count.ts";
import { type StandInNode, startDirectStandIn } from "../../testing/direct_stand_in.ts";
import { nativeBackend, PURE_SECP256K1 } from "../mod.ts";
import { nativeSecp256k1 } from "../nostr/native.ts";

const MESSAGES = [{ role: "user", content: "Say something private." }];
const ANSWER = "Private answers travel sealed.";

async function collect(gen: AsyncGenerator<unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const x of gen) out.push(x);
  return out;
}

function deltas(chunks: unknown[]): string {
  // deno-lint-ignore no-explicit-any
  return chunks.map((c: any) => c.choices[0].delta.content).join("");
}

async function withStandIn(
  nodes: StandInNode[],
  fn: (s: ReturnType<typeof startDirectStandIn>) => Promise<void>,
) {
  const s = startDirectStandIn(nodes);
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

Deno.test("private chat - streams a sealed answer from a direct node and acknowledges its usage", async () => {
  await withStandIn([{ behaviour: "ok", direct: true }], async (s) => {
    const body = { model: "m", messages: MESSAGES, stream: true, max_tokens: 50 };
    const chunks = await collect(privateChat({ server: s.url, apiKey: "k", body }));
    assert.equal(deltas(chunks), ANSWER);
    assert.deepEqual(s.requests[0], [body]);
    assert.equal(s.relayed, 0);
    const route = s.routes[0];
    assert.equal(route.prompt_tokens, countPromptTokens(MESSAGES));
    assert.equal(route.max_tokens, 50);
    assert.equal(s.acks.length, 1);
    const check = verifyUsageAck(s.acks[0]);
    assert.ok(check.ok);
    assert.equal(check.ack.event.pubkey, route.consumer, "signed by the one-off key the route named");
    assert.equal(check.ack.content.job_id, "job_standin1");
    assert.equal(check.ack.content.node, s.nodePubkeys[0]);
    assert.equal(check.ack.content.artifact_hash, artifactHash([ANSWER]));
    assert.equal(check.ack.content.completion_tokens, 5);
    assert.equal(check.ack.content.prompt_tokens, route.prompt_tokens);
  });
});

// The consumer's key, ECDH and ack by each secp256k1 backend (native where libsecp256k1 loads).
const curve = nativeSecp256k1();
for (const secp of [PURE_SECP256K1, ...(curve ? [nativeBackend(curve)] : [])]) {
  Deno.test(`private chat - with the ${secp.name} backend the answer opens and the ack verifies`, async () => {
    await withStandIn([{ behaviour: "ok", direct: true }], async (s) => {
      const body = { model: "m", messages: MESSAGES, stream: true };
      assert.equal(deltas(await collect(privateChat({ server: s.url, apiKey: "k", body, secp }))), ANSWER);
      const check = verifyUsageAck(s.acks[0]);
      assert.ok(check.ok);
      assert.equal(check.ack.event.pubkey, s.routes[0].consumer);
    });
  });
}

Deno.test("private chat - with target model the request is sealed to the model's key", async () => {
  const modelKey = generateSecretKey();
  const s = startDirectStandIn([{ behaviour: "ok", direct: true }], { modelKey });
  try {
    const body = { model: "m", messages: MESSAGES, stream: true };
    const chunks = await collect(privateChat({ server: s.url, apiKey: "k", body, target: "model" }));
    assert.equal(deltas(chunks), ANSWER);
    assert.equal(s.routes[0].target, "model");
    assert.deepEqual(s.requests[0], [body], "the node opened it with the model's secret");
  } finally {
    await s.close();
  }
});

Deno.test("private chat - the body's provider options go to the route, not to the node", async () => {
  await withStandIn([{ behaviour: "ok", direct: true }], async (s) => {
    const provider = { order: [s.nodePubkeys[0]], allow_fallbacks: false };
    const body = { model: "m", messages: MESSAGES, provider };
    await collect(privateChat({ server: s.url, apiKey: "k", body }));
    assert.deepEqual(s.routes[0].provider, provider);
    assert.equal("provider" in s.requests[0][0], false);
  });
});

Deno.test("private chat - a non-streamed answer is the body; a NAT node is reached through the relay", async () => {
  await withStandIn([{ behaviour: "ok", direct: false }], async (s) => {
    const out = await collect(
      privateChat({ server: s.url, apiKey: "k", body: { model: "m", messages: MESSAGES } }),
    );
    assert.equal(out.length, 1);
    // deno-lint-ignore no-explicit-any
    assert.equal((out[0] as any).choices[0].message.content, ANSWER);
    assert.equal(s.relayed, 1);
    assert.equal(s.acks.length, 1);
  });
});

Deno.test("private chat - relay-only goes through the relay even to a direct node", async () => {
  await withStandIn([{ behaviour: "ok", direct: true }], async (s) => {
    const body = { model: "m", messages: MESSAGES, stream: true };
    assert.equal(
      deltas(await collect(privateChat({ server: s.url, apiKey: "k", body, relayOnly: true }))),
      ANSWER,
    );
    assert.equal(s.relayed, 1);
  });
});

Deno.test("private chat - falls back before the first token: refusal, error frame, wrong key", async () => {
  await withStandIn([
    { behaviour: "refuse", direct: true },
    { behaviour: "error_frame", direct: true },
    { behaviour: "wrong_key", direct: false },
    { behaviour: "ok", direct: true },
  ], async (s) => {
    const failed: string[] = [];
    const chunks = await collect(privateChat({
      server: s.url,
      apiKey: "k",
      body: { model: "m", messages: MESSAGES, stream: true },
      onFallback: (_node, err) => failed.push(err.code),
    }));
    assert.equal(deltas(chunks), ANSWER);
    assert.deepEqual(failed, ["engine_down", "engine_failed", "answer_key_mismatch"]);
    assert.equal(s.acks.length, 1, "only the node that answered is acknowledged");
    assert.equal(JSON.parse(s.acks[0].content).node, s.nodePubkeys[3]);
  });
});

Deno.test("private chat - a node silent past the first-token timeout is replaced by the next", async () => {
  await withStandIn(
    [{ behaviour: "silent", direct: true }, { behaviour: "ok", direct: false }],
    async (s) => {
      const failed: string[] = [];
      const chunks = await collect(privateChat({
        server: s.url,
        apiKey: "k",
        body: { model: "m", messages: MESSAGES, stream: true },
        firstTokenTimeoutMs: 200,
        onFallback: (_n, e) => failed.push(e.code),
      }));
      assert.equal(deltas(chunks), ANSWER);
      assert.deepEqual(failed, ["node_timeout"]);
      for (let i = 0; i < 100 && s.cancelled.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(s.cancelled, [0], "the silent node's stream was cancelled");
    },
  );
});

Deno.test("private chat - an unreachable endpoint falls back to the next node", async () => {
  await withStandIn([{ behaviour: "ok", direct: true }], async (s) => {
    const dead = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const deadUrl = `http://127.0.0.1:${dead.addr.port}`;
    dead.close();
    const failed: string[] = [];
    const rewrite: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!String(input).endsWith("/v1/route")) return res;
      const route = await res.json();
      route.candidates.unshift({ ...route.candidates[0], endpoint: deadUrl });
      return Response.json(route);
    };
    const chunks = await collect(privateChat({
      server: s.url,
      apiKey: "k",
      body: { model: "m", messages: MESSAGES, stream: true },
      fetch: rewrite,
      onFallback: (_n, e) => failed.push(e.code),
    }));
    assert.equal(deltas(chunks), ANSWER);
    assert.deepEqual(failed, ["node_unreachable"]);
  });
});

Deno.test("private chat - an error after the first token ends the stream, with no fallback", async () => {
  await withStandIn(
    [{ behaviour: "mid_error", direct: true }, { behaviour: "ok", direct: true }],
    async (s) => {
      const err = await collect(privateChat({
        server: s.url,
        apiKey: "k",
        body: { model: "m", messages: MESSAGES, stream: true },
      })).catch((e) => e) as DirectError;
      assert.equal(err.code, "engine_failed");
      assert.equal(err.status, 502);
      assert.equal(s.requests[1].length, 0, "the second node was never asked");
      assert.equal(s.acks.length, 1, "what was received is acknowledged");
      assert.equal(JSON.parse(s.acks[0].content).artifact_hash, artifactHash(["Private"]));
    },
  );
});

Deno.test("private chat - every node failing is one error; a route refusal keeps its status", async () => {
  await withStandIn(
    [{ behaviour: "refuse", direct: true }, { behaviour: "error_frame", direct: true }],
    async (s) => {
      const body = { model: "m", messages: MESSAGES };
      const all = await collect(privateChat({ server: s.url, apiKey: "k", body })).catch((e) =>
        e
      ) as DirectError;
      assert.equal(all.status, 502);
      assert.equal(all.code, "engine_failed");
      assert.match(all.message, /no node answered/);
      const missing = await collect(
        privateChat({ server: s.url, apiKey: "k", body: { ...body, model: "missing" } }),
      )
        .catch((e) => e) as DirectError;
      assert.equal(missing.status, 404);
      assert.equal(missing.code, "model_not_found");
      // The node that took the request (and sent an error frame) is told nothing was opened.
      assert.equal(s.acks.length, 1);
      const ack = JSON.parse(s.acks[0].content);
      assert.deepEqual([ack.node, ack.artifact_hash, ack.completion_tokens], [s.nodePubkeys[1], null, 0]);
    },
  );
});

Deno.test("private chat - leaving the loop or aborting stops the node's stream", async () => {
  await withStandIn([{ behaviour: "endless", direct: true }], async (s) => {
    const body = { model: "m", messages: MESSAGES, stream: true };
    let n = 0;
    for await (const _ of privateChat({ server: s.url, apiKey: "k", body })) if (++n === 3) break;
    const ac = new AbortController();
    const err = await (async () => {
      for await (const _ of privateChat({ server: s.url, apiKey: "k", body, signal: ac.signal })) ac.abort();
    })().catch((e) => e);
    assert.equal((err as Error).name, "AbortError");
    for (let i = 0; i < 100 && s.cancelled.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(s.cancelled, [0, 0]);
    assert.equal(s.acks.length, 2, "a partial answer is acknowledged too");
  });
});

Deno.test("private chat - target model with a route that offers no model key is a clear error", async () => {
  await withStandIn([{ behaviour: "ok", direct: true }], async (s) => {
    const body = { model: "m", messages: MESSAGES };
    const err = await collect(privateChat({ server: s.url, apiKey: "k", body, target: "model" }))
      .catch((e) => e) as DirectError;
    assert.equal(err.status, 404);
    assert.equal(err.code, "model_key_not_found");
    assert.match(err.message, /no model key for 'm'.*target "node"/);
    assert.equal(s.requests[0].length, 0, "nothing was sealed to the node's own key instead");
  });
});

Deno.test("private chat - an answer sealed with another key is refused, and acked as nothing opened", async () => {
  await withStandIn([{ behaviour: "wrong_key", direct: true }], async (s) => {
    const body = { model: "m", messages: MESSAGES, stream: true };
    const err = await collect(privateChat({ server: s.url, apiKey: "k", body })).catch((e) =>
      e
    ) as DirectError;
    assert.equal(err.code, "answer_key_mismatch");
    assert.equal(err.status, 502);
    assert.match(err.message, /answered with another key than its ticket's \(the node's own key\)/);
    assert.equal(s.acks.length, 1);
    const ack = JSON.parse(s.acks[0].content);
    assert.deepEqual([ack.node, ack.artifact_hash, ack.completion_tokens], [s.nodePubkeys[0], null, 0]);
    assert.equal(ack.prompt_tokens, countPromptTokens(MESSAGES));
  });
});

Deno.test("private chat - with a model key, an answer not sealed with it is refused too", async () => {
  const modelKey = generateSecretKey();
  const s = startDirectStandIn(
    [{ behaviour: "wrong_key", direct: true }, { behaviour: "ok", direct: true }],
    {
      modelKey,
    },
  );
  try {
    const failed: string[] = [];
    const body = { model: "m", messages: MESSAGES, stream: true };
    const chunks = await collect(privateChat({
      server: s.url,
      apiKey: "k",
      body,
      target: "model",
      onFallback: (_n, e) => failed.push(e.message),
    }));
    assert.equal(deltas(chunks), ANSWER);
    assert.equal(failed.length, 1);
    assert.match(failed[0], /another key than its ticket's \(model key [0-9a-f]{12}…\)/);
    assert.equal(JSON.parse(s.acks[0].content).node, s.nodePubkeys[1]);
  } finally {
    await s.close();
  }
});

Deno.test("private chat - a node that folds its answer's end gets folded requests; another never does", async () => {
  await withStandIn([{ behaviour: "ok", direct: true, foldsEnd: true }], async (s) => {
    for (let n = 0; n < 3; n++) {
      const out = await collect(
        privateChat({ server: s.url, apiKey: "k", body: { model: "m", messages: MESSAGES } }),
      );
      // deno-lint-ignore no-explicit-any
      assert.equal((out[0] as any).choices[0].message.content, ANSWER);
    }
    assert.equal(s.foldedRequests[0], 2, "folded once the node was seen to fold");
    assert.equal(s.acks.length, 3);
  });
  await withStandIn([{ behaviour: "ok", direct: true }], async (s) => {
    for (let n = 0; n < 2; n++) {
      await collect(privateChat({ server: s.url, apiKey: "k", body: { model: "m", messages: MESSAGES } }));
    }
    assert.equal(s.foldedRequests[0], 0, "a node that does not fold gets an end frame");
    assert.equal(s.acks.length, 2);
  });
});
