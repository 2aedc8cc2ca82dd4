import { deepStrictEqual, match, strictEqual } from "node:assert/strict";
import { finalizeEvent, generateSecretKey } from "nostr-tools/pure";
import { denoTaskCommand, watchOutput } from "../testing/child_output.ts";
import { RawRelaySocket } from "../testing/relay_socket.ts";

Deno.test("deno task relay - prints its ws:// URL, serves NIP-01 there, stops on SIGTERM", async () => {
  const child = denoTaskCommand(["relay", "--port", "0"], { stderr: "piped" }).spawn();
  const out = watchOutput(child.stdout);
  const err = watchOutput(child.stderr);
  try {
    const url = await out.firstLine(20_000);
    match(url, /^ws:\/\/127\.0\.0\.1:\d+$/);
    const socket = await RawRelaySocket.open(url);
    const event = finalizeEvent({
      kind: 1,
      tags: [],
      content: "hi",
      created_at: Math.floor(Date.now() / 1000),
    }, generateSecretKey());
    deepStrictEqual(await socket.publish(event), [true, ""]);
    deepStrictEqual((await socket.query("q", { ids: [event.id] })).map((e) => e.id), [event.id]);
    socket.close();
  } finally {
    child.kill("SIGTERM");
    strictEqual((await child.status).code, 0, err.text());
    await Promise.all([out.done, err.done]);
  }
});

Deno.test("deno task relay - a bad port is a one-line error and exit 2", async () => {
  const run = await denoTaskCommand(["relay", "--port", "70000"], { stderr: "piped" }).output();
  strictEqual(run.code, 2);
  match(new TextDecoder().decode(run.stderr).trim(), /^relay: --port must be an integer from 0 to 65535$/);
});
