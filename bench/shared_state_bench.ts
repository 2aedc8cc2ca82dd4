// The per-request cost of the shared rate limit (web/state/): one `take` per `/v1` request. Same
// run, A/B alternating rounds: the in-memory bucket (one instance, the baseline), `select 1` (the
// database's bare round trip), the PostgreSQL bucket (one upsert), and, when NATS answers at
// 127.0.0.1:4222, the NATS KV alternatives (get + update with the revision, and create-if-absent
// as a replay window would use), so the choice in docs/architecture.md can be checked here.
// Run: deno run --allow-all bench/shared_state_bench.ts [takes a round] [rounds]
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { jetstreamManager } from "@nats-io/jetstream";
import { migrate, openDatabase } from "../db/mod.ts";
import { RateLimiter } from "../web/rate_limit.ts";
import { PgRateLimiter } from "../web/state/pg_rate_limiter.ts";
import { createPostgresDatabase } from "../testing/postgres_database.ts";
import { percentile } from "./percentile.ts";

const [perRound, rounds] = [Number(Deno.args[0] ?? 1_000), Number(Deno.args[1] ?? 3)];
const limits = { ratePerSec: 1e6, burst: 1e6 };

const pg = await createPostgresDatabase();
const db = await openDatabase({ url: pg.url, max: 4 });
let nc: NatsConnection | null = null;
const bucket = `bench_state_${crypto.randomUUID().slice(0, 8)}`;
try {
  await migrate(db.sql);
  const memory = new RateLimiter(limits);
  const shared = new PgRateLimiter(db.sql, "bench", limits);
  nc = await connect({ servers: "127.0.0.1:4222", timeout: 1000 }).catch(() => null);
  const kv = nc ? await new Kvm(nc).create(bucket, { ttl: 120_000 }) : null;
  let n = 0;
  const cases: [string, () => unknown][] = [
    ["memory bucket (baseline)", () => memory.take(`k${n++ % 100}`)],
    ["postgres select 1", () => db.sql`select 1`],
    ["postgres bucket (upsert)", () => shared.take(`k${n++ % 100}`)],
  ];
  if (kv) {
    cases.push(["nats kv get+update", async () => {
      const key = `k${n++ % 100}`;
      const e = await kv.get(key);
      if (e && e.operation === "PUT") await kv.update(key, "1", e.revision);
      else await kv.put(key, "1");
    }]);
    cases.push(["nats kv create (replay)", () => kv.create(`e${n++}`, "1")]);
  } else console.log("NATS does not answer at 127.0.0.1:4222: its rows are skipped");
  const samples = new Map<string, number[]>(cases.map(([name]) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of cases) {
      for (let i = 0; i < perRound; i++) {
        const t0 = performance.now();
        await fn();
        samples.get(name)!.push((performance.now() - t0) * 1000);
      }
    }
  }
  console.log(`shared rate limit, ${rounds} rounds × ${perRound} sequential takes (µs):`);
  for (const [name, s] of samples) {
    s.sort((a, b) => a - b);
    console.log(
      `  ${name.padEnd(28)} p50 ${percentile(s, 50).toFixed(0).padStart(5)}  p99 ${
        percentile(s, 99).toFixed(0).padStart(6)
      }`,
    );
  }
} finally {
  if (nc) {
    await (await jetstreamManager(nc)).streams.delete(`KV_${bucket}`).catch(() => {});
    await nc.close();
  }
  await db.close();
  await pg.drop();
}
