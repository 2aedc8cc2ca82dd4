// The bench's floor must keep answering like the real path (a JSON answer; a stream of the
// engine's events ending in [DONE]), or its figures mean nothing.
import assert from "node:assert/strict";
import { startTestEngine } from "../testing/mod.ts";
import { denoCommand, watchOutput } from "../testing/child_output.ts";

const SCRIPT = new URL("./minimal_path.ts", import.meta.url).pathname;
/** npm ws reads these two at load. */
const WS_ENV = "--allow-env=WS_NO_BUFFER_UTIL,WS_NO_UTF_8_VALIDATE";

function spawn(args: string[]): Deno.ChildProcess {
  return denoCommand(["run", "--allow-net", WS_ENV, SCRIPT, ...args]).spawn();
}

Deno.test("minimal path - a control plane and a node with no work in them serve JSON and streams", async () => {
  const engine = await startTestEngine();
  const cp = spawn(["cp"]);
  const children = [cp];
  try {
    const cpUrl = JSON.parse(await watchOutput(cp.stdout).firstLine()).url as string;
    const node = spawn(["node", cpUrl, engine.url]);
    children.push(node);
    assert.match(await watchOutput(node.stdout).firstLine(), /"connected":true/);
    const ask = (stream: boolean) =>
      fetch(`${cpUrl}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          model: "infernet-test-echo",
          stream,
          messages: [{ role: "user", content: "a b" }],
        }),
      });
    const json = await (await ask(false)).json();
    assert.equal(json.choices[0].message.content, "Echo: a b");
    const sse = await (await ask(true)).text();
    const text = sse.split("\n\n").filter((e) => e.startsWith("data: {"))
      .map((e) => JSON.parse(e.slice(6)).choices[0]?.delta?.content ?? "").join("");
    assert.equal(text, "Echo: a b");
    assert.ok(sse.endsWith("data: [DONE]\n\n"));
  } finally {
    for (const c of children.reverse()) {
      c.kill();
      await c.status;
    }
    await engine.close();
  }
});

Deno.test("minimal path - the direct-mode hop passes a request to the engine and its answer back", async () => {
  const engine = await startTestEngine();
  const hop = spawn(["hop", engine.url]);
  try {
    const url = JSON.parse(await watchOutput(hop.stdout).firstLine()).url as string;
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "infernet-test-echo", messages: [{ role: "user", content: "a b" }] }),
    });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).choices[0].message.content, "Echo: a b");
  } finally {
    hop.kill();
    await hop.status;
    await engine.close();
  }
});
