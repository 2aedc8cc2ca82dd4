import assert from "node:assert/strict";
import { startTestEngine } from "../../testing/mod.ts";
import { contextLengthOf, detectEngine, normalizeBaseUrl, probeEngine } from "./detect.ts";

// ---- Fake engines, answering as the real ones do ----

type Handler = (req: Request, released: AbortSignal) => Response | Promise<Response>;

interface FakeServer {
  url: string;
  close(): Promise<void>;
}

function serve(handler: Handler): FakeServer {
  const release = new AbortController();
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    (req) => handler(req, release.signal),
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    close: async () => {
      release.abort();
      await server.shutdown();
    },
  };
}

async function withServer<T>(handler: Handler, fn: (url: string) => Promise<T>): Promise<T> {
  const server = serve(handler);
  try {
    return await fn(server.url);
  } finally {
    await server.close();
  }
}

function routes(table: Record<string, () => Response>, notFound: () => Response): Handler {
  return (req) => (table[`${req.method} ${new URL(req.url).pathname}`] ?? notFound)();
}

const CREATED = 1_732_500_000;

const ollama = routes({
  "GET /": () => new Response("Ollama is running"),
  "GET /api/tags": () =>
    Response.json({
      models: [
        {
          name: "llama3.2:latest",
          model: "llama3.2:latest",
          modified_at: "2025-11-20T10:12:31.52164802Z",
          size: 2019393189,
          digest: "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
          details: {
            parent_model: "",
            format: "gguf",
            family: "llama",
            families: ["llama"],
            parameter_size: "3.2B",
            quantization_level: "Q4_K_M",
          },
        },
        {
          name: "huihui_ai/qwen3-abliterated:8b",
          model: "huihui_ai/qwen3-abliterated:8b",
          modified_at: "2025-11-19T08:01:02.11829511Z",
          size: 5027784416,
          digest: "0c3b8f2d69d18e4a5ec1c5e4e3a67fe7f0b6d0e40a7a0f7b8f5e3c2d1a0b9c8d",
          details: {
            parent_model: "",
            format: "gguf",
            family: "qwen3",
            families: ["qwen3"],
            parameter_size: "8.2B",
            quantization_level: "Q4_K_M",
          },
        },
      ],
    }),
  "GET /v1/models": () =>
    Response.json({
      object: "list",
      data: [
        { id: "llama3.2:latest", object: "model", created: CREATED, owned_by: "library" },
        { id: "huihui_ai/qwen3-abliterated:8b", object: "model", created: CREATED, owned_by: "huihui_ai" },
      ],
    }),
}, () => new Response("404 page not found", { status: 404, headers: { "content-type": "text/plain" } }));

const fastApiNotFound = () => Response.json({ detail: "Not Found" }, { status: 404 });

const vllm = routes({
  "GET /health": () => new Response(null, { status: 200 }),
  "GET /v1/models": () =>
    Response.json({
      object: "list",
      data: [
        {
          id: "meta-llama/Llama-3.1-8B-Instruct",
          object: "model",
          created: CREATED,
          owned_by: "vllm",
          root: "meta-llama/Llama-3.1-8B-Instruct",
          parent: null,
          max_model_len: 131072,
          permission: [{
            id: "modelperm-5b4c2c9cf5a84b0c9c6e0c4b0b6a1f0e",
            object: "model_permission",
            created: CREATED,
            allow_create_engine: false,
            allow_sampling: true,
            allow_logprobs: true,
            allow_search_indices: false,
            allow_view: true,
            allow_fine_tuning: false,
            organization: "*",
            group: null,
            is_blocking: false,
          }],
        },
        {
          id: "sql-lora",
          object: "model",
          created: CREATED,
          owned_by: "vllm",
          root: "/adapters/sql-lora",
          parent: "meta-llama/Llama-3.1-8B-Instruct",
          max_model_len: null,
          permission: [],
        },
      ],
    }),
}, fastApiNotFound);

const sglang = routes({
  "GET /health": () => new Response(null, { status: 200 }),
  "GET /v1/models": () =>
    Response.json({
      object: "list",
      data: [{
        id: "Qwen/Qwen2.5-7B-Instruct",
        object: "model",
        created: CREATED,
        owned_by: "sglang",
        root: "Qwen/Qwen2.5-7B-Instruct",
        max_model_len: 32768,
      }],
    }),
}, fastApiNotFound);

// llama.cpp lists its model twice, Ollama-style and OpenAI-style, on /models, /v1/models and /api/tags.
function llamacppModels(meta: Record<string, number>) {
  return () =>
    Response.json({
      models: [{
        name: "Qwen2.5-7B-Instruct-Q4_K_M.gguf",
        model: "Qwen2.5-7B-Instruct-Q4_K_M.gguf",
        modified_at: "",
        size: "",
        digest: "",
        type: "model",
        description: "",
        tags: [""],
        capabilities: ["completion"],
        parameters: "",
        details: {
          parent_model: "",
          format: "gguf",
          family: "",
          families: [""],
          parameter_size: "",
          quantization_level: "",
        },
      }],
      object: "list",
      data: [{
        id: "Qwen2.5-7B-Instruct-Q4_K_M.gguf",
        object: "model",
        created: CREATED,
        owned_by: "llamacpp",
        meta: {
          vocab_type: 2,
          n_vocab: 152064,
          n_embd: 3584,
          n_params: 7615616512,
          size: 4677120000,
          ...meta,
        },
      }],
    });
}

function llamacpp(meta: Record<string, number>): Handler {
  const models = llamacppModels(meta);
  return routes({
    "GET /health": () => Response.json({ status: "ok" }),
    "GET /models": models,
    "GET /v1/models": models,
    "GET /api/tags": models,
  }, () =>
    Response.json({ error: { code: 404, message: "File Not Found", type: "not_found_error" } }, {
      status: 404,
    }));
}

// LM Studio and other OpenAI-compatible servers: a model list that names no engine.
const genericOpenAi = routes({
  "GET /v1/models": () =>
    Response.json({
      object: "list",
      data: [{ id: "qwen2.5-7b-instruct", object: "model", owned_by: "organization_owner" }],
    }),
}, () => Response.json({ error: "Unexpected endpoint or method. (GET /api/tags)" }, { status: 200 }));

// Not engines: a single-page app answering 200 HTML everywhere, and a JSON API with its own 404s.
const spa: Handler = () =>
  new Response("<!doctype html><title>Dashboard</title>", {
    headers: { "content-type": "text/html" },
  });
const jsonApi: Handler = () => Response.json({ error: "not found" }, { status: 404 });

// Accepts the request and never answers, until the client gives up or the test ends.
const hang: Handler = async (req, released) => {
  await new Promise((resolve) => {
    req.signal.addEventListener("abort", resolve);
    released.addEventListener("abort", resolve);
  });
  return new Response("too late");
};

// Sends headers and the start of a model list, then stalls.
const stallBody: Handler = (_req, released) => {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"object":"list","data":['));
      released.addEventListener("abort", () => {
        try {
          controller.close();
        } catch {
          // Already cancelled by the client.
        }
      });
    },
  });
  return new Response(body, { headers: { "content-type": "application/json" } });
};

// A fetch that sends "127.0.0.1:<standard port>" to the fake serving that port; other ports refuse.
function portFetch(ports: Record<number, string>, seen: string[] = []): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : input);
    seen.push(url.host);
    const target = ports[Number(url.port)];
    if (target === undefined) return Promise.reject(new TypeError("Connection refused (os error 111)"));
    return fetch(`${target}${url.pathname}`, init);
  };
}

// A fetch that keeps every response, to check that each body was read or cancelled.
function recordingFetch(responses: Response[]): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    responses.push(res);
    return res;
  };
}

// ---- probeEngine ----

Deno.test("probeEngine - Ollama by its /api/tags, models by name", async () => {
  await withServer(ollama, async (url) => {
    assert.deepEqual(await probeEngine(url), {
      kind: "ollama",
      baseUrl: url,
      models: [
        { id: "llama3.2:latest", contextLength: null, quantization: "int4" },
        { id: "huihui_ai/qwen3-abliterated:8b", contextLength: null, quantization: "int4" },
      ],
    });
  });
});

Deno.test("probeEngine - vLLM by owned_by, context from max_model_len", async () => {
  await withServer(vllm, async (url) => {
    assert.deepEqual(await probeEngine(`${url}/v1/`), {
      kind: "vllm",
      baseUrl: url,
      models: [
        { id: "meta-llama/Llama-3.1-8B-Instruct", contextLength: 131072 },
        { id: "sql-lora", contextLength: null },
      ],
    });
  });
});

Deno.test("probeEngine - SGLang by owned_by", async () => {
  await withServer(sglang, async (url) => {
    assert.deepEqual(await probeEngine(url), {
      kind: "sglang",
      baseUrl: url,
      models: [{ id: "Qwen/Qwen2.5-7B-Instruct", contextLength: 32768 }],
    });
  });
});

Deno.test("probeEngine - llama.cpp, though it answers /api/tags too; served n_ctx before n_ctx_train", async () => {
  await withServer(llamacpp({ n_ctx: 8192, n_ctx_train: 32768 }), async (url) => {
    assert.deepEqual(await probeEngine(url), {
      kind: "llamacpp",
      baseUrl: url,
      models: [{ id: "Qwen2.5-7B-Instruct-Q4_K_M.gguf", contextLength: 8192 }],
    });
  });
  await withServer(llamacpp({ n_ctx_train: 32768 }), async (url) => {
    assert.equal((await probeEngine(url))?.models[0].contextLength, 32768);
  });
});

Deno.test("probeEngine - the repository's test engine by its header", async () => {
  const engine = await startTestEngine({ models: ["infernet-test-echo", "infernet-test-2"] });
  try {
    assert.deepEqual(await probeEngine(engine.url), {
      kind: "test",
      baseUrl: engine.url,
      models: [
        { id: "infernet-test-echo", contextLength: null },
        { id: "infernet-test-2", contextLength: null },
      ],
    });
  } finally {
    await engine.close();
  }
  // Behind a proxy that drops the header, owned_by still says so.
  const proxied = routes({
    "GET /v1/models": () =>
      Response.json({
        object: "list",
        data: [{ id: "echo", object: "model", owned_by: "infernet-test-engine" }],
      }),
  }, fastApiNotFound);
  await withServer(proxied, async (url) => assert.equal((await probeEngine(url))?.kind, "test"));
});

Deno.test("probeEngine - an unnamed OpenAI server is the port's engine, else openai", async () => {
  await withServer(genericOpenAi, async (url) => {
    const found = await probeEngine(url);
    assert.equal(found?.kind, "openai");
    assert.deepEqual(found?.models, [{ id: "qwen2.5-7b-instruct", contextLength: null }]);
    assert.equal((await probeEngine(url, { kindHint: "vllm" }))?.kind, "vllm");
  });
});

Deno.test("probeEngine - servers that are not engines are null", async () => {
  for (const handler of [spa, jsonApi]) {
    await withServer(handler, async (url) => assert.equal(await probeEngine(url), null));
  }
});

Deno.test("probeEngine - every body is read or cancelled", async () => {
  for (const handler of [ollama, vllm, spa, jsonApi, llamacpp({ n_ctx: 4096 })]) {
    const responses: Response[] = [];
    await withServer(handler, async (url) => {
      await probeEngine(url, { fetch: recordingFetch(responses) });
    });
    assert.equal(responses.length, 2);
    assert.ok(responses.every((r) => r.bodyUsed), "a body was left open");
  }
});

Deno.test("probeEngine - a server that hangs, or stalls mid-body, is null after the timeout", async () => {
  for (const handler of [hang, stallBody]) {
    await withServer(handler, async (url) => {
      const t0 = performance.now();
      assert.equal(await probeEngine(url, { timeoutMs: 150 }), null);
      const elapsed = performance.now() - t0;
      assert.ok(elapsed >= 100 && elapsed < 1_000, `took ${Math.round(elapsed)} ms`);
    });
  }
});

Deno.test("probeEngine - unreachable or invalid URLs are null, quickly", async () => {
  let t0 = performance.now();
  assert.equal(await probeEngine("http://127.0.0.1:1"), null); // refused
  assert.ok(performance.now() - t0 < 500);
  t0 = performance.now();
  assert.equal(await probeEngine("http://192.0.2.1:8000", { timeoutMs: 200 }), null); // TEST-NET-1: no route
  assert.ok(performance.now() - t0 < 1_000);
  assert.equal(await probeEngine("not a url"), null);
  assert.equal(await probeEngine("ftp://127.0.0.1/"), null);
});

// ---- detectEngine ----

Deno.test("detectEngine - the first standard port in order that answered", async () => {
  const servers = [serve(ollama), serve(vllm), serve(sglang), serve(llamacpp({ n_ctx: 4096 }))];
  try {
    const [o, v, s, l] = servers.map((srv) => srv.url);
    const seen: string[] = [];
    const all = await detectEngine({ fetch: portFetch({ 11434: o, 8000: v, 30000: s, 8080: l }, seen) });
    assert.equal(all?.kind, "ollama");
    assert.equal(all?.baseUrl, "http://127.0.0.1:11434");
    assert.deepEqual(
      [...new Set(seen)].toSorted(),
      ["127.0.0.1:11434", "127.0.0.1:8000", "127.0.0.1:30000", "127.0.0.1:8080"].toSorted(),
    );
    assert.equal((await detectEngine({ fetch: portFetch({ 30000: s, 8080: l }) }))?.kind, "sglang");
    assert.equal((await detectEngine({ fetch: portFetch({ 8080: l }) }))?.kind, "llamacpp");
    const other = await detectEngine({ hostname: "10.0.0.7", fetch: portFetch({ 8000: v }) });
    assert.equal(other?.baseUrl, "http://10.0.0.7:8000");
    assert.equal(await detectEngine({ fetch: portFetch({}) }), null);
  } finally {
    await Promise.all(servers.map((srv) => srv.close()));
  }
});

Deno.test("detectEngine - an unnamed server on a standard port is taken as that port's engine", async () => {
  await withServer(genericOpenAi, async (url) => {
    assert.equal((await detectEngine({ fetch: portFetch({ 30000: url }) }))?.kind, "sglang");
  });
});

Deno.test("detectEngine - ports are probed at once: a hanging Ollama costs one timeout", async () => {
  const hanging = serve(hang);
  const v = serve(vllm);
  try {
    const t0 = performance.now();
    const found = await detectEngine({
      timeoutMs: 200,
      fetch: portFetch({ 11434: hanging.url, 8000: v.url, 30000: hanging.url, 8080: hanging.url }),
    });
    const elapsed = performance.now() - t0;
    assert.equal(found?.kind, "vllm");
    assert.ok(elapsed < 700, `took ${Math.round(elapsed)} ms`);
  } finally {
    await Promise.all([hanging.close(), v.close()]);
  }
});

Deno.test("detectEngine - engineUrl probes that URL only", async () => {
  await withServer(sglang, async (url) => {
    const seen: string[] = [];
    const found = await detectEngine({ engineUrl: `${url}/v1`, fetch: recordingFetch([]) });
    assert.equal(found?.kind, "sglang");
    assert.equal(found?.baseUrl, url);
    assert.equal(await detectEngine({ engineUrl: "http://127.0.0.1:1", fetch: portFetch({}, seen) }), null);
    assert.deepEqual([...new Set(seen)], ["127.0.0.1:1"]);
  });
});

Deno.test("detectEngine - nothing reachable is null within the timeout", async () => {
  const t0 = performance.now();
  assert.equal(await detectEngine({ hostname: "192.0.2.1", timeoutMs: 200 }), null);
  assert.ok(performance.now() - t0 < 1_000);
});

// ---- helpers ----

Deno.test("normalizeBaseUrl and contextLengthOf", () => {
  assert.equal(normalizeBaseUrl("http://127.0.0.1:8000/v1/"), "http://127.0.0.1:8000");
  assert.equal(normalizeBaseUrl("http://127.0.0.1:8000//"), "http://127.0.0.1:8000");
  assert.equal(normalizeBaseUrl(" https://gpu.example/engine/v1 "), "https://gpu.example/engine");
  assert.equal(normalizeBaseUrl("http://[::1]:11434"), "http://[::1]:11434");
  assert.equal(normalizeBaseUrl("127.0.0.1:8000"), null);
  assert.equal(contextLengthOf({ id: "m", max_model_len: 4096 }), 4096);
  assert.equal(contextLengthOf({ id: "m", context_length: 8192 }), 8192);
  assert.equal(contextLengthOf({ id: "m", meta: { n_ctx_train: 2048 } }), 2048);
  assert.equal(contextLengthOf({ id: "m", max_model_len: "4096", meta: "x" }), null);
  assert.equal(contextLengthOf({ id: "m", max_model_len: -1 }), null);
});
