// Relays (issue 29): discovery of 10,000 offers from a local relay, and an idle node's cost of
// keeping three relay subscriptions open.
//
// The relays run in a child process (this file with `--serve`), preloaded straight into their
// storage, so this process's CPU is the client's alone; the child's is printed beside it.
// Baselines in the same run: the same REQ read by a bare socket (no parsing, no signature checks),
// and this process idle with no relay connection.
// Run: deno run --allow-all bench/relay_bench.ts [offers] [idle seconds]
import process from "node:process";
import WebSocket from "ws";
import { fastestSecp256k1 } from "../shared/nostr/secp256k1.ts";
import { createLogger } from "../shared/log/logger.ts";
import { discoverOffers, offerFilter, offerTemplate, RelayPool } from "../shared/relay/mod.ts";
import { MemoryEventRepository } from "../shared/relay/memory_repository.ts";
import { type RunningRelay, startRelay } from "../shared/relay/relay_server.ts";
import { RelayOffers } from "../cli/daemon/relay_offers.ts";
import { readProcStats } from "./proc_stats.ts";
import { sampleAdvert } from "../testing/node_advert.ts";

const MODELS = 5;

async function serve(offers: number): Promise<void> {
  const curve = await fastestSecp256k1();
  const repository = new MemoryEventRepository();
  const nodes = Math.ceil(offers / MODELS);
  for (let n = 0, made = 0; n < nodes; n++) {
    const sk = crypto.getRandomValues(new Uint8Array(32));
    const pubkey = curve.getPublicKey(sk);
    for (let m = 0; m < MODELS && made < offers; m++, made++) {
      const template = offerTemplate(
        {
          nodeId: `node-${n}`,
          model: `model-${m}`,
          promptPer1k: 1_000 + n,
          completionPer1k: 2_000 + n,
          vramTier: "medium",
          maxConcurrency: 4,
          freeSlots: 4,
          contextLength: 32_768,
          receiptsUrl: `http://127.0.0.1:8787/api/receipts?node=${pubkey}`,
        },
        pubkey,
        3_600,
      );
      repository.upsert(curve.finalizeEvent(template, sk));
    }
  }
  const relays: RunningRelay[] = [await startRelay({ repository })];
  for (let i = 0; i < 2; i++) relays.push(await startRelay());
  console.log(JSON.stringify({ urls: relays.map((r) => r.url) }));
  // Until the parent closes stdin.
  for await (const _ of Deno.stdin.readable) { /* wait */ }
  for (const r of relays) await r.close();
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Reads a REQ's events as raw frames until EOSE: the floor any client pays. */
function bareQuery(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => reject(new Error("bare query timed out")), 60_000);
    let n = 0;
    ws.on("open", () => ws.send(JSON.stringify(["REQ", "bare", offerFilter()])));
    ws.on("message", (data: Buffer) => {
      if (data.subarray(0, 8).toString() === '["EOSE",') {
        ws.close();
        clearTimeout(timer);
        resolve(n);
      } else n++;
    });
    ws.on("error", reject);
  });
}

async function measure<T>(child: number, fn: () => Promise<T>): Promise<[T, string]> {
  const [wall0, cpu0, relay0] = [performance.now(), cpuMs(), readProcStats([child]).cpuMs];
  const out = await fn();
  const wall = performance.now() - wall0;
  return [
    out,
    `${wall.toFixed(0).padStart(6)} ms wall, ${(cpuMs() - cpu0).toFixed(0).padStart(5)} ms CPU here, ` +
    `${(readProcStats([child]).cpuMs - relay0).toFixed(0).padStart(5)} ms CPU in the relay`,
  ];
}

async function main(): Promise<void> {
  const offers = Number(Deno.args[0] ?? 10_000);
  const idleS = Number(Deno.args[1] ?? 10);
  if (!(offers > 0 && offers <= 100_000 && idleS > 0 && idleS <= 60)) {
    throw new Error("usage: relay_bench.ts [offers ≤ 100000] [idle seconds ≤ 60]");
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL(import.meta.url).pathname, "--serve", String(offers)],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let line = "";
    while (!line.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the relay process ended early");
      line += value;
    }
    const { urls } = JSON.parse(line) as { urls: string[] };
    const curve = await fastestSecp256k1();
    console.log(`relay: ${offers} offers preloaded; signatures checked by the ${curve.name} backend`);

    await bareQuery(urls[0]); // warm the relay's code paths, untimed
    const [bare, bareCost] = await measure(child.pid, () => bareQuery(urls[0]));
    console.log(`relay: baseline: bare socket REQ, ${bare} events to EOSE      ${bareCost}`);
    for (let round = 0; round < 2; round++) {
      const pool = new RelayPool([urls[0]], { verifyEvent: curve.verifyEvent, eoseTimeoutMs: 60_000 });
      const [found, cost] = await measure(child.pid, () => discoverOffers(pool));
      console.log(`relay: discoverOffers (all models), ${found.length} offers  ${cost}`);
      const [one, oneCost] = await measure(child.pid, () => discoverOffers(pool, { model: "model-0" }));
      console.log(`relay: discoverOffers (one model), ${one.length} offers   ${oneCost}`);
      pool.close();
    }

    // Idle: this process with no relay connection, then with three subscriptions and a node's
    // offers published (as `infernet start --relay` ×3 keeps them).
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    let [cpu0, wall0] = [cpuMs(), performance.now()];
    await sleep(idleS * 1000);
    const baseline = (cpuMs() - cpu0) / ((performance.now() - wall0) / 1000);
    const pool = new RelayPool(urls, { verifyEvent: curve.verifyEvent });
    // One subscription on each of the three relays (the shape a node's job inbox will have).
    const sub = pool.subscribe([{ kinds: [5050], "#p": ["ab".repeat(32)] }], { onevent: () => {} });
    const sk = crypto.getRandomValues(new Uint8Array(32));
    const pubkey = curve.getPublicKey(sk);
    const node = new RelayOffers({
      relays: urls,
      identity: { secretKey: sk, pubkey, npub: "" },
      advert: () => sampleAdvert(),
      freeSlots: () => 2,
      server: null,
      log: createLogger({ level: "silent" }),
    });
    await node.start();
    [cpu0, wall0] = [cpuMs(), performance.now()];
    await sleep(idleS * 1000);
    const idle = (cpuMs() - cpu0) / ((performance.now() - wall0) / 1000);
    console.log(
      `relay: idle over ${idleS} s: ${idle.toFixed(2)} ms CPU/s with three relay subscriptions and offers ` +
        `(baseline, no relays: ${baseline.toFixed(2)} ms CPU/s)`,
    );
    sub.close();
    await node.stop();
    pool.close();
  } finally {
    await writer.close().catch(() => {});
    await child.status;
  }
}

if (Deno.args[0] === "--serve") await serve(Number(Deno.args[1]));
else await main();
