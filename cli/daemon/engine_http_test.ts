// The daemon's engine client (engine_http.ts, and the HTTP/1.1 wire under it, http1_wire.ts)
// against real servers on 127.0.0.1: Deno.serve for what engines do every day, and raw TCP
// servers for the framings and connection races a server library hides.
import assert from "node:assert/strict";
import { EngineClient } from "./engine_http.ts";
import type { EngineResponse } from "./engine_response.ts";
import { sleep } from "../../shared/mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const never = new AbortController().signal;

async function readAll(res: EngineResponse): Promise<string[]> {
  const parts: string[] = [];
  for (let b = await res.read(); b; b = await res.read()) parts.push(dec.decode(b));
  return parts;
}

/** A raw HTTP server: `answer` gets each request's head and the connection's request count. */
function rawServer(answer: (conn: Deno.Conn, head: string, n: number) => Promise<"keep" | "close">) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  let accepted = 0;
  const handle = async (conn: Deno.Conn) => {
    const buf = new Uint8Array(64 * 1024);
    let pending = "";
    try {
      for (let n = 1; n < 100; n++) {
        while (!pending.includes("\r\n\r\n")) {
          const r = await conn.read(buf);
          if (r === null) return;
          pending += dec.decode(buf.subarray(0, r));
        }
        const at = pending.indexOf("\r\n\r\n");
        const head = pending.slice(0, at);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        while (pending.length < at + 4 + length) {
          const r = await conn.read(buf);
          if (r === null) return;
          pending += dec.decode(buf.subarray(0, r));
        }
        pending = pending.slice(at + 4 + length);
        if ((await answer(conn, head, n)) === "close") return;
      }
    } catch {
      /* the client went away */
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed */ }
    }
  };
  const handlers: Promise<void>[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      accepted++;
      conns.add(conn);
      handlers.push(handle(conn));
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    get accepted() {
      return accepted;
    },
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await serving;
      await Promise.all(handlers);
    },
  };
}

const write = (conn: Deno.Conn, s: string) => conn.write(enc.encode(s));

Deno.test("engine http - answers come back whole and the connection is kept for the next job", async () => {
  const ports: number[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req, info) => {
    ports.push(info.remoteAddr.port);
    const body = await req.json();
    return Response.json({
      echo: body.say,
      id: req.headers.get("x-request-id"),
      path: new URL(req.url).pathname,
    });
  });
  const client = new EngineClient(`http://127.0.0.1:${server.addr.port}`);
  try {
    for (let i = 0; i < 3; i++) {
      const res = await client.post("/v1/chat/completions", JSON.stringify({ say: `héllo ${i}` }), {
        "content-type": "application/json",
        "x-request-id": `job_${i}`,
      }, never);
      assert.equal(res.status, 200);
      assert.ok(res.ok);
      assert.equal(res.header("Content-Type"), "application/json");
      assert.deepEqual(JSON.parse(await res.text()), {
        echo: `héllo ${i}`,
        id: `job_${i}`,
        path: "/v1/chat/completions",
      });
    }
    assert.equal(new Set(ports).size, 1, "one connection served all three");
  } finally {
    await client.close();
    await server.shutdown();
  }
});

Deno.test("engine http - localhost and a base URL's path work, and an error status is an answer, not a throw", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    return new Response(JSON.stringify({ path: new URL(req.url).pathname }), { status: 400 });
  });
  // `localhost`: tried on both loopbacks, and this engine listens on 127.0.0.1 only.
  const client = new EngineClient(`http://localhost:${server.addr.port}/engine/`);
  try {
    const res = await client.post("/v1/embeddings", "{}", {}, never);
    assert.equal(res.status, 400);
    assert.equal(res.ok, false);
    assert.deepEqual(JSON.parse(await res.text()), { path: "/engine/v1/embeddings" });
  } finally {
    await client.close();
    await server.shutdown();
  }
});

Deno.test("engine http - a chunked stream is read as it arrives; finish() keeps the connection", async () => {
  const ports: number[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (_req, info) => {
    ports.push(info.remoteAddr.port);
    let n = 0;
    let timer: ReturnType<typeof setInterval> | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(ctrl) {
        timer = setInterval(() => {
          n++;
          ctrl.enqueue(enc.encode(n <= 3 ? `data: ${n}\n\n` : "data: [DONE]\n\n"));
          if (n > 3) {
            clearInterval(timer);
            ctrl.close();
          }
        }, 10);
      },
      cancel: () => clearInterval(timer),
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  const client = new EngineClient(`http://127.0.0.1:${server.addr.port}`);
  try {
    const first = await client.post("/s", "{}", {}, never);
    assert.equal(first.header("content-type"), "text/event-stream");
    let text = "";
    for (let b = await first.read(); b; b = await first.read()) {
      text += dec.decode(b);
      if (text.includes("[DONE]")) break;
    }
    assert.equal(text, "data: 1\n\ndata: 2\n\ndata: 3\n\ndata: [DONE]\n\n");
    first.finish();
    const second = await client.post("/s", "{}", {}, never);
    const parts = await readAll(second);
    assert.ok(parts.length >= 4, `arrived in ${parts.length} reads`);
    assert.equal(parts.join(""), text);
    assert.equal(new Set(ports).size, 1, "the second stream reused the first one's connection");
  } finally {
    await client.close();
    await server.shutdown();
  }
});

Deno.test("engine http - chunk extensions, trailers, 100 Continue and a body that ends at the close", async () => {
  const server = rawServer(async (conn, head) => {
    if (head.startsWith("POST /chunked")) {
      await write(conn, "HTTP/1.1 100 Continue\r\n\r\n");
      await write(conn, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n");
      await write(conn, "6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n");
      return "keep";
    }
    await write(conn, "HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end");
    return "close";
  });
  const client = new EngineClient(server.url);
  try {
    const chunked = await client.post("/chunked", "{}", {}, never);
    assert.equal(await chunked.text(), "hello world");
    const closing = await client.post("/closing", "{}", {}, never);
    assert.equal(closing.header("content-type"), "text/plain");
    assert.equal(await closing.text(), "until the end");
    assert.equal(server.accepted, 1, "the chunked answer's connection was reused");
    const again = await client.post("/chunked", "{}", {}, never);
    assert.equal(await again.text(), "hello world");
    assert.equal(server.accepted, 2, "a connection that ended its body by closing is not reused");
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("engine http - a kept connection the engine drops (idle, or as the job arrives) costs no job", async () => {
  // The engine answers once per connection, then drops it at its next request without a byte.
  const server = rawServer(async (conn, _head, n) => {
    if (n > 1) return "close";
    await write(conn, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    return "keep";
  });
  const client = new EngineClient(server.url);
  try {
    for (let i = 0; i < 3; i++) {
      const res = await client.post("/x", "{}", {}, never);
      assert.equal(await res.text(), "ok");
    }
    assert.equal(server.accepted, 3, "each job after the first was sent again on a new connection");
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("engine http - an engine that closes a new connection without answering is an error", async () => {
  const server = rawServer(() => Promise.resolve("close"));
  const client = new EngineClient(server.url);
  try {
    await assert.rejects(client.post("/x", "{}", {}, never), /closed the connection without answering/);
    assert.equal(server.accepted, 1, "a new connection is not retried");
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("engine http - a body cut short is an error, not a short answer", async () => {
  const server = rawServer(async (conn) => {
    await write(conn, "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this");
    return "close";
  });
  const client = new EngineClient(server.url);
  try {
    const res = await client.post("/x", "{}", {}, never);
    await assert.rejects(res.text(), /closed the connection before the end of its answer/);
  } finally {
    await client.close();
    await server.close();
  }
});

Deno.test("engine http - no engine listening: the error says so", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const client = new EngineClient(`http://127.0.0.1:${port}`);
  try {
    await assert.rejects(client.post("/x", "{}", {}, never), (err: Error) => /refused/i.test(err.message));
  } finally {
    await client.close();
  }
});

Deno.test("engine http - aborting closes the connection: the engine sees the job cancelled", async () => {
  let engineSawAbort: () => void;
  const sawAbort = new Promise<void>((r) => (engineSawAbort = r));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    req.signal.addEventListener("abort", () => engineSawAbort());
    const body = new ReadableStream<Uint8Array>({
      start(ctrl) {
        ctrl.enqueue(enc.encode("data: first\n\n"));
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  const client = new EngineClient(`http://127.0.0.1:${server.addr.port}`);
  try {
    const ac = new AbortController();
    const res = await client.post("/s", "{}", {}, ac.signal);
    assert.equal(dec.decode((await res.read())!), "data: first\n\n");
    const next = res.read();
    const t0 = performance.now();
    ac.abort();
    await assert.rejects(next, (err: Error) => err.name === "AbortError");
    await sawAbort;
    const ms = performance.now() - t0;
    assert.ok(ms < 1000, `the engine saw the abort after ${ms.toFixed(0)} ms`);
    await assert.rejects(client.post("/s", "{}", {}, ac.signal), (err: Error) => err.name === "AbortError");
  } finally {
    await client.close();
    await server.shutdown();
  }
});

Deno.test("engine http - a head and a chunk size split across reads, even inside CRLF CRLF", async () => {
  const pause = () => sleep(15);
  const server = rawServer(async (conn) => {
    for (
      const piece of [
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r",
        "\n\r",
        "\na",
        "\r\n0123456789\r\n0\r\n\r\n",
      ]
    ) {
      await write(conn, piece);
      await pause();
    }
    return "keep";
  });
  const client = new EngineClient(server.url);
  // A reader that missed the split would wait for ever: the abort turns that into a failure.
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 5_000);
  try {
    const res = await client.post("/x", "{}", {}, ac.signal);
    assert.equal(res.header("transfer-encoding"), "chunked");
    assert.equal(await res.text(), "0123456789");
  } finally {
    clearTimeout(timer);
    await client.close();
    await server.close();
  }
});
