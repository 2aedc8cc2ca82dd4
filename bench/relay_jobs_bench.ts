// Jobs over relays (issue 29, docs/protocol.md §18): one request at a time, the same node daemon
// (`infernet start --relay`, its own process) and test engine, one run:
//   engine alone — POST the test engine's /v1/chat/completions (the floor);
//   gateway      — POST the control plane's /v1/chat/completions (the node's job socket);
//   relay job    — relayChat through the local relay: seal, publish kind 5050, the node checks the
//                  voucher offline, runs, publishes sealed chunk events and the result; offers
//                  discovered once before the phase, a fresh voucher per request.
// Latency p50/p99 in ms, non-streamed answers of 16 tokens. On a shared 2-core VM the figures swing
// from run to run; compare the phases of one run, not runs.
// Run: deno run --allow-all bench/relay_jobs_bench.ts [--requests 100]
import { parseArgs } from "node:util";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { createVoucher, fastestSecp256k1, newVoucherId } from "../shared/mod.ts";
import { discoverOffers, RelayPool } from "../shared/relay/mod.ts";
import { relayChat, type RelayVoucher } from "../shared/relay/relay_client.ts";
import { openTestControlPlane } from "../testing/control_plane.ts";
import { startNode, stopNode } from "../testing/network.ts";
import { startTestRelay } from "../testing/relay_socket.ts";
import { startTestEngine } from "../testing/test_engine.ts";
import { percentile } from "./percentile.ts";

const flags =
  parseArgs({ args: Deno.args, options: { requests: { type: "string", default: "100" } } }).values;
const N = Number(flags.requests);
if (!(Number.isSafeInteger(N) && N > 0 && N <= 2000)) throw new Error("bad --requests");
const MODEL = "infernet-test-echo";
const body = {
  model: MODEL,
  messages: [{ role: "user", content: "benchmark prompt of a few words" }],
  max_tokens: 16,
};
const secp = await fastestSecp256k1();

const t = await openTestControlPlane({ serve: true, fundNanoUsd: 10_000n * 1_000_000_000n });
const relay = await startTestRelay();
const engine = await startTestEngine();
const url = t.server!.url;
const node = await startNode({ cp: t.cp, url }, engine.url, { args: ["--relay", relay.url] });
const pool = new RelayPool([relay.url], { verifyEvent: secp.verifyEvent });

async function phase(name: string, send: () => Promise<void>): Promise<void> {
  for (let i = 0; i < 5; i++) await send(); // warm-up
  const ms: number[] = [];
  for (let i = 0; i < N; i++) {
    const start = performance.now();
    await send();
    ms.push(performance.now() - start);
  }
  ms.sort((a, b) => a - b);
  console.log(
    `${name.padEnd(13)} p50 ${percentile(ms, 50).toFixed(2).padStart(7)} ms   p99 ${
      percentile(ms, 99).toFixed(2).padStart(7)
    } ms   (${N} requests)`,
  );
}

async function post(target: string, headers: Record<string, string>): Promise<void> {
  const res = await fetch(target, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
}

function voucher(): RelayVoucher {
  const secretKey = generateSecretKey();
  const now = Math.floor(Date.now() / 1000);
  const event = createVoucher(t.cp.platformKey.secretKey, {
    voucher_id: newVoucherId(),
    buyer_did: "did:infernet:bench",
    consumer: getPublicKey(secretKey),
    max_nano: "1000000000",
    currency: "USD",
    expires_at: now + 3600,
    created_at: now,
  }, secp);
  return { event, secretKey };
}

try {
  // The daemon publishes its offers right after registering; wait until the relay has them.
  let offers = await discoverOffers(pool, { model: MODEL });
  for (let i = 0; offers.length === 0 && i < 100; i++) {
    await new Promise((r) => setTimeout(r, 100));
    offers = await discoverOffers(pool, { model: MODEL });
  }
  if (offers.length === 0) throw new Error("no offer reached the relay");
  await phase("engine alone", () => post(`${engine.url}/v1/chat/completions`, {}));
  await phase("gateway", () => post(`${url}/v1/chat/completions`, { authorization: `Bearer ${t.apiKey}` }));
  await phase("relay job", async () => {
    let answers = 0;
    for await (const _ of relayChat({ pool, body, offers, takeVoucher: voucher, secp })) answers++;
    if (answers !== 1) throw new Error(`relay job: ${answers} answers`);
  });
} finally {
  pool.close();
  await stopNode(node);
  await relay.close();
  await engine.close();
  await t.close();
}
