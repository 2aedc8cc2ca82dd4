// Bounded body reads over real HTTP on 127.0.0.1: a raw TCP client sends exactly the framing under
// test (a declared length, or chunks), and the server answers with what it read or 413.
import assert from "node:assert/strict";
import { readBodyBytes, readBodyText, readJsonBody } from "./http_body.ts";
import { HttpError } from "./http_error.ts";
import { sleep } from "../shared/mod.ts";

const LIMIT = 1024;
const enc = new TextEncoder();
const dec = new TextDecoder();

class TooLarge extends Error {}

/** A server that answers the body it read as text, or 413; `bodies` collects what it read. */
function serve(read: "bytes" | "text") {
  const bodies: (string | number)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    try {
      const body = read === "text"
        ? await readBodyText(req, LIMIT, () => new TooLarge())
        : await readBodyBytes(req, LIMIT, () => new TooLarge());
      bodies.push(typeof body === "string" ? body : body.length);
      return new Response(typeof body === "string" ? body : `${body.length} bytes`);
    } catch (err) {
      if (err instanceof TooLarge) return new Response("too large", { status: 413 });
      throw err;
    }
  });
  return { server, bodies, port: server.addr.port };
}

/** Runs `fn` against a fresh {@link serve} server, shut down after. */
async function withServer(
  read: "bytes" | "text",
  fn: (port: number, bodies: (string | number)[]) => Promise<void>,
): Promise<void> {
  const { server, port, bodies } = serve(read);
  try {
    await fn(port, bodies);
  } finally {
    await server.shutdown();
  }
}

/** Sends the head and the given writes on one connection; resolves with the response's status line
 * and body once the server answered (it may answer before every write was sent), within 5 s. */
async function exchange(port: number, head: string, writes: (string | Uint8Array)[]): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), 5_000);
  try {
    await conn.write(enc.encode(head));
    const writing = (async () => {
      for (const w of writes) {
        await conn.write(typeof w === "string" ? enc.encode(w) : w);
        await sleep(5);
      }
    })().catch(() => {}); // The server may close before every write went out.
    let text = "";
    const buf = new Uint8Array(4096);
    for (let reads = 0; reads < 100; reads++) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n));
      const end = text.indexOf("\r\n\r\n");
      const length = /content-length: (\d+)/i.exec(text);
      if (end >= 0 && length && enc.encode(text).length >= end + 4 + Number(length[1])) break;
    }
    await writing;
    return text;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

const post = (extra: string) => `POST / HTTP/1.1\r\nhost: 127.0.0.1\r\n${extra}\r\n`;
const chunk = (s: string) => `${enc.encode(s).length.toString(16)}\r\n${s}\r\n`;

Deno.test("http body - a declared length within the limit is read whole", async () => {
  await withServer("text", async (port, bodies) => {
    const body = "x".repeat(LIMIT);
    const res = await exchange(port, post(`content-length: ${LIMIT}\r\n`), [body]);
    assert.match(res, /^HTTP\/1\.1 200/);
    assert.ok(res.endsWith(body));
    assert.deepEqual(bodies, [body]);
  });
});

Deno.test("http body - a declared length over the limit is refused before a byte of it is read", async () => {
  await withServer("bytes", async (port, bodies) => {
    // Ten megabytes declared, only the head sent: a server that read first would wait for them.
    const res = await exchange(port, post("content-length: 10000000\r\n"), []);
    assert.match(res, /^HTTP\/1\.1 413/);
    assert.deepEqual(bodies, []);
  });
});

Deno.test("http body - chunks within the limit are joined, UTF-8 split across chunks included", async () => {
  await withServer("text", async (port, bodies) => {
    const e = enc.encode("é"); // Two bytes, sent in two chunks.
    const parts = [
      "1\r\na\r\n",
      new Uint8Array([0x31, 0x0d, 0x0a, e[0], 0x0d, 0x0a]),
      new Uint8Array([0x31, 0x0d, 0x0a, e[1], 0x0d, 0x0a]),
      chunk("b".repeat(500)),
      "0\r\n\r\n",
    ];
    const res = await exchange(port, post("transfer-encoding: chunked\r\n"), parts);
    assert.match(res, /^HTTP\/1\.1 200/);
    assert.deepEqual(bodies, ["aé" + "b".repeat(500)]);
  });
});

Deno.test("http body - chunks past the limit are refused without waiting for the rest", async () => {
  await withServer("bytes", async (port, bodies) => {
    // Past the limit after three chunks; the body never ends, so only an early answer comes back.
    const parts = Array.from({ length: 3 }, () => chunk("y".repeat(400)));
    const res = await exchange(port, post("transfer-encoding: chunked\r\n"), parts);
    assert.match(res, /^HTTP\/1\.1 413/);
    assert.deepEqual(bodies, []);
  });
});

Deno.test("http body - no body reads as empty", async () => {
  await withServer("bytes", async (port, bodies) => {
    const res = await exchange(port, post("content-length: 0\r\n"), []);
    assert.match(res, /^HTTP\/1\.1 200/);
    assert.deepEqual(bodies, [0]);
    const empty = await readBodyBytes(new Request("http://x/"), LIMIT, () => new TooLarge());
    assert.equal(empty.length, 0);
  });
});

Deno.test("http body - readJsonBody parses JSON and answers 400 or 413 as HttpErrors", async () => {
  const req = (body: string) => new Request("http://cp.test/", { method: "POST", body });
  assert.deepEqual(await readJsonBody(req('{"a":1}')), { a: 1 });
  await assert.rejects(readJsonBody(req("{nope")), (e) => {
    assert.ok(e instanceof HttpError);
    assert.equal(e.status, 400);
    assert.equal(e.code, "invalid_json");
    return true;
  });
  await assert.rejects(readJsonBody(req(JSON.stringify("x".repeat(2048))), { maxBytes: 1024 }), (e) => {
    assert.ok(e instanceof HttpError);
    assert.equal(e.status, 413);
    assert.match(e.message, /larger than 1 KB/);
    return true;
  });
});

Deno.test("http body - readJsonBody gives emptyAs for an empty body, and a 400 without it", async () => {
  const empty = () => new Request("http://cp.test/", { method: "POST", body: " \n" });
  assert.equal(await readJsonBody(empty(), { emptyAs: null }), null);
  await assert.rejects(readJsonBody(empty()), (e) => e instanceof HttpError && e.status === 400);
});
