// The README's quick start, as a user runs it: `deno task start` on a fresh data directory brings
// up the control plane, a node daemon and (with no engine on this machine) the built-in engine, and
// prints a working base URL, API key and curl line. It stops cleanly and starts again on the same data.
import assert from "node:assert/strict";
import { denoTaskCommand, watchOutput } from "../testing/child_output.ts";
import { discoverOffers, RelayPool } from "../shared/relay/mod.ts";
import { fastestSecp256k1, sleep } from "../shared/mod.ts";

/** The offers the local node published on the printed relay, for the model (polled for up to 10 s). */
async function offersOn(relayUrl: string, model: string): Promise<number> {
  const pool = new RelayPool([relayUrl], { verifyEvent: (await fastestSecp256k1()).verifyEvent });
  try {
    for (let i = 0; i < 50; i++) {
      const offers = await discoverOffers(pool, { model });
      if (offers.length > 0) return offers.length;
      await sleep(200);
    }
    return 0;
  } finally {
    pool.close();
  }
}

async function startOnce(dataDir: string) {
  const child = denoTaskCommand(["start", "--port", "0"], {
    env: { INFERNET_DATA_DIR: dataDir },
    stderr: "piped",
  })
    .spawn();
  const out = watchOutput(child.stdout);
  const err = watchOutput(child.stderr);
  try {
    await out.waitFor(/^curl /m, 60_000);
  } catch (e) {
    child.kill("SIGKILL");
    throw new Error(`no banner:\n${out.text()}\n${err.text()}`, { cause: e });
  }
  const base = /^OpenAI base URL: (\S+)$/m.exec(out.text())![1];
  const key = /^API key \(new, shown once[^)]*\): (\S+)$/m.exec(out.text())![1];
  const curlBody = /-d '(\{.*\})'$/m.exec(out.text())![1];
  return {
    out: out.text,
    err: err.text,
    base,
    key,
    curlBody,
    async stop() {
      child.kill("SIGTERM");
      const status = await child.status;
      await out.done;
      await err.done;
      return status;
    },
  };
}

Deno.test("quick start - deno task start serves the printed curl, stops cleanly, restarts on its data", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "infernet-start-" });
  try {
    for (const round of [1, 2]) {
      const run = await startOnce(dataDir);
      try {
        // No engine runs on this machine: the built-in llama.cpp engine serves the generated tiny
        // model (real inference, gibberish text), and says so plainly.
        assert.match(run.out(), /BUILT-IN ENGINE/, "the built-in engine is labelled plainly");
        const res = await fetch(`${run.base}/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${run.key}`, "content-type": "application/json" },
          body: run.curlBody,
        });
        const body = await res.json();
        assert.equal(res.status, 200, JSON.stringify(body));
        assert.equal(typeof body.choices[0].message.content, "string", `round ${round}`);
        assert.ok(body.usage.completion_tokens > 0, `round ${round}: a real completion was generated`);
        assert.match(
          run.out(),
          /credited 5 USD of test money/,
          "the printed key is funded by the fake processor",
        );
        // A local relay runs too, and the node's live offer for the model is on it.
        const relayUrl = /^Nostr relay: (ws:\/\/\S+)/m.exec(run.out())?.[1];
        assert.ok(relayUrl, "the banner prints the relay's ws:// URL");
        assert.equal(
          await offersOn(relayUrl, JSON.parse(run.curlBody).model),
          1,
          "the node's offer is on the relay",
        );
      } finally {
        const status = await run.stop();
        assert.equal(status.code, 0, run.err());
        assert.match(run.out(), /node stopped/, "the daemon drained and stopped");
      }
    }
    // The node kept its identity across the restart; keys and jobs live in the data directory.
    const key = await Deno.readTextFile(`${dataDir}/node/node.key`);
    assert.match(key, /^nsec1/);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
