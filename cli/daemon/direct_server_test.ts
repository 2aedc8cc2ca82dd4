// `POST /direct` against a real daemon and the test engine: answers decrypt right, every refusal
// is a 4xx with its code before the engine hears anything, and a client that leaves stops the engine.
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { npubEncode } from "nostr-tools/nip19";
import {
  conversationKey,
  createTicket,
  FrameOpener,
  FrameSealer,
  type TicketContent,
} from "../../shared/direct/mod.ts";
import { createLogger, nativeBackend, PURE_SECP256K1, type Secp256k1Backend } from "../../shared/mod.ts";
import { nativeSecp256k1 } from "../../shared/nostr/native.ts";
import { sampleAdvert, startTestEngine, type TestEngine, within } from "../../testing/mod.ts";
import { NodeDaemon } from "./node_daemon.ts";
import { createDirectHandler, serveDirect } from "./direct_server.ts";
import { PlatformKeyCache } from "./platform_key_cache.ts";

const MODEL = "infernet-test-echo";
const NOW = 1_800_000_000;

interface World {
  engine: TestEngine;
  daemon: NodeDaemon;
  handler: (req: Request) => Promise<Response>;
  platformKey: Uint8Array;
  nodeKey: Uint8Array;
  modelKey: Uint8Array;
  close(): Promise<void>;
}

async function world(
  opts: { grantModelKey?: boolean; tokenDelayMs?: number; secp?: Secp256k1Backend } = {},
): Promise<World> {
  const engine = await startTestEngine({ tokenDelayMs: opts.tokenDelayMs ?? 0 });
  const platformKey = generateSecretKey();
  const nodeKey = generateSecretKey();
  const modelKey = generateSecretKey();
  const pubkey = getPublicKey(nodeKey);
  const daemon = new NodeDaemon({
    server: "http://127.0.0.1:9",
    identity: { secretKey: nodeKey, pubkey, npub: npubEncode(pubkey) },
    advert: sampleAdvert({
      maxConcurrency: 4,
      models: [{ id: MODEL, contextLength: 4096, promptPricePer1k: 1000, completionPricePer1k: 1000 }],
    }),
    engineBaseUrl: engine.url,
    log: createLogger({ level: "silent" }),
    platformKeys: new PlatformKeyCache(() => Promise.resolve(getPublicKey(platformKey))),
    modelSecret: (pk) =>
      Promise.resolve(opts.grantModelKey && pk === getPublicKey(modelKey) ? modelKey : null),
    nowS: () => NOW,
    secp: opts.secp,
  });
  return {
    engine,
    daemon,
    handler: createDirectHandler(daemon),
    platformKey,
    nodeKey,
    modelKey,
    close: async () => {
      await daemon.stop();
      await engine.close();
    },
  };
}

let jobSeq = 0;

/** A consumer's ticket (signed by `signer`, default the platform's) and its one-off key. */
/** Waits (at most 5 s) until the daemon runs no job, then forgets what the engine heard. */
async function quiet(w: World): Promise<void> {
  await within(
    (async () => {
      while (w.daemon.state.inFlight > 0) await new Promise((r) => setTimeout(r, 5));
    })(),
    5000,
    "the jobs to end",
  );
  w.engine.events.length = 0;
}

function ticketFor(w: World, patch: Partial<TicketContent> = {}, signer = w.platformKey) {
  const consumerKey = generateSecretKey();
  const content: TicketContent = {
    job_id: `job_direct_${++jobSeq}`,
    buyer_did: "did:infernet:buyer",
    model: MODEL,
    max_cost: "1000000",
    node: getPublicKey(w.nodeKey),
    consumer: getPublicKey(consumerKey),
    target: "node",
    model_key: null,
    prompt_tokens: 8,
    max_tokens: 64,
    expires_at: NOW + 60,
    created_at: NOW,
    ...patch,
  };
  if (patch.consumer === undefined) content.consumer = getPublicKey(consumerKey);
  return { ticket: createTicket(signer, content), content, consumerKey };
}

/** The key the consumer encrypts to: the node's, or the model key's. */
function recipient(w: World, content: TicketContent): string {
  return content.target === "model" ? content.model_key as string : getPublicKey(w.nodeKey);
}

function requestBody(w: World, t: ReturnType<typeof ticketFor>, request: unknown, frames?: string[]) {
  const key = conversationKey(t.consumerKey, recipient(w, t.content));
  const sealer = new FrameSealer(key, t.content.job_id, "c2n");
  const sealed = frames ?? [...sealer.message(JSON.stringify(request)), sealer.end()];
  return [JSON.stringify({ ticket: t.ticket, consumer: t.content.consumer }), ...sealed].join("\n") + "\n";
}

const post = (w: World, body: string, signal?: AbortSignal) =>
  w.handler(new Request("http://node/direct", { method: "POST", body, signal }));

const chat = (extra: Record<string, unknown> = {}) => ({
  model: MODEL,
  messages: [{ role: "user", content: "hi there" }],
  ...extra,
});

/** Decrypts an NDJSON answer: its messages and how it ended. */
async function readAnswer(w: World, t: ReturnType<typeof ticketFor>, res: Response) {
  const key = conversationKey(t.consumerKey, recipient(w, t.content));
  const opener = new FrameOpener(key, t.content.job_id, "n2c");
  const messages: string[] = [];
  let ending = "";
  for (const line of (await res.text()).split("\n").filter(Boolean)) {
    const o = opener.open(line);
    if (o.type === "message") messages.push(o.text);
    else if (o.type === "end") ending = "end";
    else if (o.type === "error") ending = `error:${o.code}`;
  }
  return { messages, ending };
}

const streamedText = (messages: string[]) =>
  messages.map((m) => JSON.parse(m).choices?.[0]?.delta?.content ?? "").join("");

Deno.test("direct - a non-streamed answer decrypts to the engine's response", async () => {
  const w = await world();
  try {
    const t = ticketFor(w);
    const res = await post(w, requestBody(w, t, chat()));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/x-ndjson");
    const { messages, ending } = await readAnswer(w, t, res);
    assert.equal(ending, "end");
    assert.equal(messages.length, 1);
    assert.equal(JSON.parse(messages[0]).choices[0].message.content, "Echo: hi there");
    assert.equal(w.daemon.state.completed, 1);
    assert.equal(w.daemon.state.inFlight, 0);
  } finally {
    await w.close();
  }
});

Deno.test("direct - a body of known length is read whole, a chunked one as it comes: same answers and refusals", async () => {
  const w = await world();
  const server = serveDirect(w.daemon, { port: 0, hostname: "127.0.0.1" });
  const url = `http://127.0.0.1:${server.port}/direct`;
  const enc = new TextEncoder();
  // A string body carries a Content-Length; a stream's goes chunked, in pieces of 100 bytes.
  const whole = (body: string) => fetch(url, { method: "POST", body });
  const chunked = (body: string) =>
    fetch(url, {
      method: "POST",
      body: ReadableStream.from(body.match(/[^]{1,100}/g)!.map((piece) => enc.encode(piece))),
    });
  try {
    for (const send of [whole, chunked]) {
      const t = ticketFor(w);
      const res = await send(requestBody(w, t, chat()));
      assert.equal(res.status, 200);
      const { messages, ending } = await readAnswer(w, t, res);
      assert.equal(ending, "end");
      assert.equal(JSON.parse(messages[0]).choices[0].message.content, "Echo: hi there");
      const long = await send(requestBody(w, ticketFor(w), null, ["A".repeat(300_000)]));
      assert.equal(long.status, 400);
      assert.equal((await long.json()).error.code, "frame_invalid");
      const noEnd = ticketFor(w);
      const sealer = new FrameSealer(
        conversationKey(noEnd.consumerKey, getPublicKey(w.nodeKey)),
        noEnd.content.job_id,
        "c2n",
      );
      const cut = await send(requestBody(w, noEnd, null, sealer.message(JSON.stringify(chat()))));
      assert.equal(cut.status, 400);
      assert.equal((await cut.json()).error.code, "frame_invalid");
    }
    assert.equal(w.daemon.state.completed, 2);
  } finally {
    await server.close();
    await w.close();
  }
});

// The node's ticket check and ECDH by each backend (native where libsecp256k1 loads): same answers.
const curve = nativeSecp256k1();
for (const secp of [PURE_SECP256K1, ...(curve ? [nativeBackend(curve)] : [])]) {
  Deno.test(`direct - the ${secp.name} backend admits node and model-key tickets, refuses forged ones`, async () => {
    const w = await world({ grantModelKey: true, secp });
    try {
      for (const patch of [{}, { target: "model" as const, model_key: getPublicKey(w.modelKey) }]) {
        const t = ticketFor(w, patch);
        const res = await post(w, requestBody(w, t, chat()));
        assert.equal(res.status, 200);
        const { messages, ending } = await readAnswer(w, t, res);
        assert.equal(ending, "end");
        assert.equal(JSON.parse(messages[0]).choices[0].message.content, "Echo: hi there");
      }
      const forged = ticketFor(w);
      forged.ticket.sig = forged.ticket.sig.replace(/^./, (c) => c === "0" ? "1" : "0");
      const res = await post(w, requestBody(w, forged, chat()));
      assert.equal(res.status, 401);
      assert.equal((await res.json()).error.code, "ticket_forged");
      assert.equal(w.engine.events.filter((e) => e.type === "request").length, 2);
    } finally {
      await w.close();
    }
  });
}

Deno.test("direct - a stream decrypts to one message per SSE payload, then the end", async () => {
  const w = await world();
  try {
    const t = ticketFor(w);
    const res = await post(w, requestBody(w, t, chat({ stream: true })));
    assert.equal(res.status, 200);
    const { messages, ending } = await readAnswer(w, t, res);
    assert.equal(ending, "end");
    assert.ok(messages.length > 2);
    assert.ok(messages.every((m) => JSON.parse(m).object === "chat.completion.chunk"));
    assert.equal(streamedText(messages), "Echo: hi there");
  } finally {
    await w.close();
  }
});

Deno.test("direct - a model-key ticket works with a granted key", async () => {
  const w = await world({ grantModelKey: true });
  try {
    const t = ticketFor(w, { target: "model", model_key: getPublicKey(w.modelKey) });
    const res = await post(w, requestBody(w, t, chat()));
    assert.equal(res.status, 200);
    const { messages, ending } = await readAnswer(w, t, res);
    assert.equal(ending, "end");
    assert.equal(JSON.parse(messages[0]).choices[0].message.content, "Echo: hi there");
  } finally {
    await w.close();
  }
});

/** Posts and expects a refusal with `code`; the engine must have heard nothing. */
async function assertRefused(w: World, body: string, status: number, code: string) {
  const res = await post(w, body);
  const json = await res.json();
  assert.equal(res.status, status, JSON.stringify(json));
  assert.equal(json.error.code, code);
  assert.deepEqual(w.engine.events, [], "the engine received nothing");
  assert.equal(w.daemon.state.inFlight, 0);
}

Deno.test("direct - every refusal is a 4xx with its code, and the engine hears nothing", async (t) => {
  const w = await world();
  try {
    await t.step("expired", async () => {
      const tk = ticketFor(w, { expires_at: NOW - 1, created_at: NOW - 61 });
      await assertRefused(w, requestBody(w, tk, chat()), 401, "ticket_expired");
    });
    await t.step("forged (another key signed it)", async () => {
      const tk = ticketFor(w, {}, generateSecretKey());
      await assertRefused(w, requestBody(w, tk, chat()), 401, "ticket_forged");
    });
    await t.step("tampered content", async () => {
      const tk = ticketFor(w);
      const ticket = {
        ...tk.ticket,
        content: tk.ticket.content.replace('"max_tokens":64', '"max_tokens":65'),
      };
      await assertRefused(w, requestBody(w, { ...tk, ticket }, chat()), 401, "ticket_forged");
    });
    await t.step("for another node", async () => {
      const tk = ticketFor(w, { node: getPublicKey(generateSecretKey()) });
      await assertRefused(w, requestBody(w, tk, chat()), 403, "ticket_foreign");
    });
    await t.step("for a model the node does not serve", async () => {
      const tk = ticketFor(w, { model: "other-model" });
      await assertRefused(w, requestBody(w, tk, chat({ model: "other-model" })), 404, "model_not_served");
    });
    await t.step("the request names another model than its ticket", async () => {
      const tk = ticketFor(w);
      await assertRefused(w, requestBody(w, tk, chat({ model: "other-model" })), 400, "request_invalid");
    });
    await t.step("no header", async () => {
      await assertRefused(w, "not json\n", 400, "ticket_invalid");
    });
    await t.step("undecryptable request (sealed to another key)", async () => {
      const tk = ticketFor(w);
      const wrong = new FrameSealer(
        conversationKey(tk.consumerKey, getPublicKey(generateSecretKey())),
        tk.content.job_id,
        "c2n",
      );
      const frames = [...wrong.message(JSON.stringify(chat())), wrong.end()];
      await assertRefused(w, requestBody(w, tk, null, frames), 400, "frame_undecryptable");
    });
    const sealedFor = (
      tk: ReturnType<typeof ticketFor>,
      stream = tk.content.job_id,
      dir: "c2n" | "n2c" = "c2n",
    ) => {
      const s = new FrameSealer(conversationKey(tk.consumerKey, getPublicKey(w.nodeKey)), stream, dir);
      return [...s.message(JSON.stringify(chat())), s.end()];
    };
    await t.step("reordered frames", async () => {
      const tk = ticketFor(w);
      const [msg, end] = sealedFor(tk);
      await assertRefused(w, requestBody(w, tk, null, [end, msg]), 400, "frame_out_of_order");
    });
    await t.step("replayed frame", async () => {
      const tk = ticketFor(w);
      const [msg, end] = sealedFor(tk);
      await assertRefused(w, requestBody(w, tk, null, [msg, msg, end]), 400, "frame_replayed");
    });
    await t.step("frames of another job", async () => {
      const tk = ticketFor(w);
      await assertRefused(w, requestBody(w, tk, null, sealedFor(tk, "job_other")), 400, "frame_foreign");
    });
    await t.step("reflected frames (n2c sent as the request)", async () => {
      const tk = ticketFor(w);
      await assertRefused(
        w,
        requestBody(w, tk, null, sealedFor(tk, tk.content.job_id, "n2c")),
        400,
        "frame_reflected",
      );
    });
    await t.step("no end frame", async () => {
      const tk = ticketFor(w);
      await assertRefused(w, requestBody(w, tk, null, sealedFor(tk).slice(0, 1)), 400, "frame_invalid");
    });
    await t.step("a line longer than a frame can be", async () => {
      const tk = ticketFor(w);
      await assertRefused(w, requestBody(w, tk, null, ["A".repeat(300_000)]), 400, "frame_invalid");
    });
    await t.step("prompt longer than the ticket allows", async () => {
      const tk = ticketFor(w, { prompt_tokens: 2 });
      const long = chat({ messages: [{ role: "user", content: "word ".repeat(40) }] });
      await assertRefused(w, requestBody(w, tk, long), 400, "prompt_too_long");
    });
    await t.step("max_tokens above the ticket's", async () => {
      const tk = ticketFor(w);
      await assertRefused(w, requestBody(w, tk, chat({ max_tokens: 65 })), 400, "max_tokens_exceeded");
    });
    await t.step("n choices share the ticket's max_tokens; the engine gets one limit a choice", async () => {
      await assertRefused(
        w,
        requestBody(w, ticketFor(w), chat({ max_tokens: 40, n: 2 })),
        400,
        "max_tokens_exceeded",
      );
      w.engine.events.length = 0;
      const res = await post(w, requestBody(w, ticketFor(w), chat({ n: 2, max_completion_tokens: 30 })));
      assert.equal(res.status, 200);
      await res.body?.cancel();
      const sent = w.engine.events.find((e) => e.type === "request");
      assert.equal(sent?.maxTokens, 30);
      assert.ok(!sent?.fields?.includes("max_completion_tokens"), JSON.stringify(sent?.fields));
      w.engine.events.length = 0;
      const split = await post(w, requestBody(w, ticketFor(w), chat({ n: 4 })));
      assert.equal(split.status, 200);
      await split.body?.cancel();
      assert.equal(w.engine.events.find((e) => e.type === "request")?.maxTokens, 16);
      await quiet(w);
    });
    await t.step("model-key ticket without a grant", async () => {
      const tk = ticketFor(w, { target: "model", model_key: getPublicKey(w.modelKey) });
      await assertRefused(w, requestBody(w, tk, chat()), 403, "model_key_not_granted");
    });
    await t.step("reused ticket", async () => {
      const tk = ticketFor(w);
      const first = await post(w, requestBody(w, tk, chat()));
      assert.equal(first.status, 200);
      await first.body?.cancel();
      await quiet(w);
      await assertRefused(w, requestBody(w, tk, chat()), 409, "ticket_reused");
    });
  } finally {
    await w.close();
  }
});

Deno.test("direct - a client that goes away stops the engine", async () => {
  const w = await world({ tokenDelayMs: 50 });
  try {
    const t = ticketFor(w);
    const res = await post(
      w,
      requestBody(
        w,
        t,
        chat({ stream: true, messages: [{ role: "user", content: "a b c d e f g h i j k l m n o p" }] }),
      ),
    );
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    await within(reader.read(), 5000, "the first frame");
    await reader.cancel();
    await within(
      (async () => {
        for (let i = 0; i < 500 && !w.engine.events.some((e) => e.type === "abort"); i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
      })(),
      6000,
      "the engine's abort",
    );
    assert.ok(w.engine.events.some((e) => e.type === "abort"), "the engine saw the request aborted");
    assert.ok(!w.engine.events.some((e) => e.type === "complete"), "the engine did not finish");
  } finally {
    await w.close();
  }
});

Deno.test("direct - a client that goes away before a whole answer stops the engine", async () => {
  const w = await world();
  try {
    w.engine.configure({ failure: "hang" });
    const t = ticketFor(w);
    const abort = new AbortController();
    const words = "a b c d e f g h i j k l m n o p";
    const answer = post(
      w,
      requestBody(w, t, chat({ messages: [{ role: "user", content: words }] })),
      abort.signal,
    );
    await within(
      (async () => {
        for (let i = 0; i < 500 && !w.engine.events.some((e) => e.type === "request"); i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
      })(),
      5000,
      "the engine's request",
    );
    abort.abort();
    await within(answer, 6000, "the handler's end");
    await within(
      (async () => {
        for (let i = 0; i < 500 && !w.engine.events.some((e) => e.type === "abort"); i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
      })(),
      6000,
      "the engine's abort",
    );
    assert.ok(w.engine.events.some((e) => e.type === "abort"), "the engine saw the request aborted");
    assert.ok(!w.engine.events.some((e) => e.type === "complete"), "the engine did not finish");
    assert.equal(w.daemon.state.inFlight, 0);
  } finally {
    await w.close();
  }
});

Deno.test("direct - another path is a 404 and another method a 405, before any work", async () => {
  const w = await world();
  try {
    for (
      const [url, method, status] of [
        ["http://node/directx", "POST", 404],
        ["http://node/", "POST", 404],
        ["http://node:8080/v1/direct?x=/direct", "POST", 404],
        ["http://node/direct?trace=1", "GET", 405],
      ] as const
    ) {
      const res = await w.handler(new Request(url, { method }));
      assert.equal(res.status, status, `${method} ${url}`);
      await res.body?.cancel();
    }
    assert.deepEqual(w.engine.events, []);
  } finally {
    await w.close();
  }
});

Deno.test("direct - the answer goes out at its last frame, before the run's bookkeeping ends", async () => {
  for (const stream of [false, true]) {
    const bookkeeping = Promise.withResolvers<void>();
    let ran = false;
    const handler = createDirectHandler({
      openDirect: async (_header, next) => {
        while (await next() !== null) { /* the request's lines */ }
        return {
          ok: true,
          stream,
          run: async (emit) => {
            emit("frame-0", false);
            emit("frame-1", true);
            await bookkeeping.promise;
            ran = true;
          },
        };
      },
    });
    const res = await handler(
      new Request("http://node/direct", { method: "POST", body: '{"ticket":1}\nx\n' }),
    );
    assert.equal(await res.text(), "frame-0\nframe-1\n");
    assert.equal(ran, false, `stream ${stream}: answered while the run goes on`);
    bookkeeping.resolve();
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.equal(ran, true);
  }
});

Deno.test("direct - a folded request is taken; a whole answer is folded only for a header with fold_end", async () => {
  const w = await world();
  try {
    for (const foldEnd of [false, true]) {
      const t = ticketFor(w);
      const key = conversationKey(t.consumerKey, recipient(w, t.content));
      const sealer = new FrameSealer(key, t.content.job_id, "c2n");
      const header = {
        ticket: t.ticket,
        consumer: t.content.consumer,
        ...(foldEnd ? { fold_end: true } : {}),
      };
      const body = [JSON.stringify(header), ...sealer.message(JSON.stringify(chat()), { end: true })];
      const res = await post(w, body.join("\n") + "\n");
      assert.equal(res.status, 200);
      const lines = (await res.text()).split("\n").filter(Boolean);
      assert.equal(lines.length, foldEnd ? 1 : 2);
      const opener = new FrameOpener(key, t.content.job_id, "n2c");
      const first = opener.open(lines[0]);
      assert.equal(first.type, "message");
      assert.equal(JSON.parse((first as { text: string }).text).choices[0].message.content, "Echo: hi there");
      assert.equal((first as { end?: true }).end, foldEnd ? true : undefined);
      if (!foldEnd) assert.deepEqual(opener.open(lines[1]), { type: "end" });
      assert.ok(opener.ended);
    }
  } finally {
    await w.close();
  }
});
