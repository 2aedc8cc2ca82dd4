// `deno task bench`: the dashboard's pages with 100,000 jobs in the database. The real control
// plane is served over HTTP on 127.0.0.1 (embedded PGlite on disk, as `deno task start` runs it,
// then a fresh schema of the real PostgreSQL when it answers); jobs are seeded in a few
// INSERT … SELECT generate_series statements over 20 API keys, 20 nodes and 30 days, with their
// charges, ledger transactions and postings (the ledger reconciles). Each page's time to first
// byte (response headers) over sequential requests after a warm-up, with the same run's baseline:
// `/health` and `/` on the empty database. Then the JavaScript each page ships (its module
// scripts and their imports, gzipped). Targets: TTFB p95 < 50 ms; JS < 30 KB gzip per page.
import { parseArgs } from "node:util";
import { createTestKey, openTestControlPlane, type TestControlPlane } from "../testing/control_plane.ts";
import { type Database, openDatabase, reconcile, type Sql } from "../db/mod.ts";
import { issueSessionToken, SESSION_COOKIE } from "../web/auth/session.ts";
import { accountCookie } from "../testing/dashboard.ts";
import { NANO_USD_PER_USD } from "../shared/mod.ts";
import { DEFAULT_POSTGRES_URL, openBenchPostgres, redactUrl } from "./bench_postgres.ts";
import { percentile } from "./percentile.ts";

const flags = parseArgs({
  args: Deno.args,
  options: {
    jobs: { type: "string", default: "100000" },
    requests: { type: "string", default: "100" },
    warmup: { type: "string", default: "10" },
    explain: { type: "boolean", default: false },
    "pglite-only": { type: "boolean", default: false },
  },
}).values;
const JOBS = Number(flags.jobs);
const REQUESTS = Number(flags.requests);
const WARMUP = Number(flags.warmup);
const KEYS = 20;
const NODES = 20;
const TTFB_TARGET_MS = 50;
const JS_TARGET_BYTES = 30 * 1024;
const PROMPT_PER_1K = 200_000n;
const COMPLETION_PER_1K = 600_000n;
const MODELS = ["llama-3.1-8b", "qwen2.5-7b", "mistral-7b", "phi-3-mini", "gemma-2-9b"];

interface Timing {
  name: string;
  path: string;
  p50: number;
  p95: number;
  p99: number;
  /** p95 of the whole response, to its last byte (the CSV streams: its first byte comes early). */
  p95Body: number;
  baseline: boolean;
}

interface Shipped {
  name: string;
  scripts: string[];
  gzipBytes: number;
}

/** Sequential GETs; each timed from the call to the response headers, then the body is read. */
async function ttfb(
  base: string,
  path: string,
  cookie: string | null,
): Promise<Omit<Timing, "name" | "baseline">> {
  const headers: Record<string, string> = cookie ? { cookie } : {};
  const samples: number[] = [];
  const bodies: number[] = [];
  for (let i = 0; i < WARMUP + REQUESTS; i++) {
    const t0 = performance.now();
    const res = await fetch(base + path, { headers, redirect: "manual" });
    const ms = performance.now() - t0;
    await res.arrayBuffer();
    const bodyMs = performance.now() - t0;
    if (res.status !== 200) throw new Error(`GET ${path}: HTTP ${res.status}`);
    if (i >= WARMUP) {
      samples.push(ms);
      bodies.push(bodyMs);
    }
  }
  samples.sort((a, b) => a - b);
  bodies.sort((a, b) => a - b);
  return {
    path,
    p50: percentile(samples, 50),
    p95: percentile(samples, 95),
    p99: percentile(samples, 99),
    p95Body: percentile(bodies, 95),
  };
}

async function gzipSize(bytes: Uint8Array): Promise<number> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return (await new Response(stream).arrayBuffer()).byteLength;
}

/** The page's module scripts and what they import from this origin, fetched and gzipped one by one. */
async function shippedJs(base: string, path: string, cookie: string | null): Promise<Omit<Shipped, "name">> {
  const headers: Record<string, string> = cookie ? { cookie } : {};
  const html = await (await fetch(base + path, { headers, redirect: "manual" })).text();
  const queue = [...html.matchAll(/<script\b[^>]*\ssrc="([^"]+)"/g)].map((m) => m[1]);
  const seen = new Set<string>();
  let gzipBytes = 0;
  while (queue.length > 0 && seen.size < 50) {
    const src = queue.shift()!;
    const url = new URL(src, base + path);
    if (url.origin !== new URL(base).origin || seen.has(url.pathname)) continue;
    seen.add(url.pathname);
    const res = await fetch(url, { headers });
    if (!res.ok) throw new Error(`GET ${url.pathname}: HTTP ${res.status}`);
    const code = new Uint8Array(await res.arrayBuffer());
    gzipBytes += await gzipSize(code);
    // Static and dynamic imports of this origin's modules (bundles normally have none).
    const text = new TextDecoder().decode(code);
    for (const m of text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*["'](\/[^"']+|\.\.?\/[^"']+)["']/g)) {
      queue.push(new URL(m[1], url).pathname);
    }
  }
  return { scripts: [...seen], gzipBytes };
}

/** 20 funded keys, 20 node keys, `jobs` jobs over 30 days, with charges, ledger transactions and postings. */
export async function seedBenchJobs(
  sql: Sql,
  jobs: number,
): Promise<{ keys: string[]; keyIds: bigint[]; nodes: string[] }> {
  const keys: string[] = [];
  const keyIds: bigint[] = [];
  for (let i = 0; i < KEYS; i++) {
    const { key, id } = await createTestKey(sql, 100n * NANO_USD_PER_USD);
    keys.push(key);
    keyIds.push(id);
  }
  const nodes = Array.from({ length: NODES }, (_, i) => (i + 1).toString(16).padStart(2, "0").repeat(32));
  const ids = keyIds.map(String);
  // Job times are whole milliseconds, as the recorder writes them (JS Dates); newest first by i.
  await sql`
    insert into jobs (id, api_key_id, kind, model, node_pubkey, stream, status, attempts, error_code,
      engine_prompt_tokens, engine_completion_tokens, counted_prompt_tokens, counted_completion_tokens,
      prompt_tokens, completion_tokens, ttft_ms, latency_ms, created_at, finished_at)
    select 'bench_' || lpad(i::text, 7, '0'),
      (${ids}::bigint[])[1 + i % ${KEYS}],
      case when i % 10 = 9 then 'embeddings' else 'chat' end,
      (${MODELS}::text[])[1 + (i / 11) % ${MODELS.length}],
      case when s = 'rejected' then null else (${nodes}::text[])[1 + (i / 3) % ${NODES}] end,
      i % 2 = 0, s, case when s = 'rejected' then 0 else 1 end,
      case when s = 'completed' then null else 'bench_' || s end,
      pt, ct, pt, ct, pt, ct, 50 + i % 400, lat, at, at + lat * interval '1 millisecond'
    from (
      select i, 20 + (i * 7) % 2000 as pt, 10 + (i * 13) % 1000 as ct, 200 + i % 1800 as lat,
        date_trunc('milliseconds', now() - (i::float8 * 2592000 / ${jobs}) * interval '1 second') as at,
        case i % 50 when 7 then 'failed' when 13 then 'cancelled' when 29 then 'timeout'
          when 41 then 'rejected' else 'completed' end as s
      from generate_series(0, ${jobs - 1}) as i
    ) g`;
  // A hold of twice the cost (plus a little), settled at the cost: the rest goes back.
  await sql`
    insert into job_charges (job_id, api_key_id, reserved, node_pubkey, prompt_tokens, completion_tokens,
      prompt_price_per_1k, completion_price_per_1k, fee_bps, charged, operator_share, platform_fee,
      reserved_at, settled_at)
    select id, api_key_id, 2 * cost + 1000, node_pubkey, prompt_tokens, completion_tokens,
      ${PROMPT_PER_1K.toString()}::int8, ${COMPLETION_PER_1K.toString()}::int8, 1000,
      cost, operator_share_of(cost, 1000), platform_fee_of(cost, 1000), created_at, finished_at
    from (
      select j.*, (prompt_tokens::int8 * ${PROMPT_PER_1K.toString()}::int8
        + completion_tokens::int8 * ${COMPLETION_PER_1K.toString()}::int8 + 999) / 1000 as cost
      from jobs j where j.id like 'bench\\_%' and j.status = 'completed'
    ) c`;
  await sql`
    insert into accounts (kind, owner) select 'operator_earnings', n from unnest(${nodes}::text[]) as n
    on conflict do nothing`;
  await sql`
    insert into ledger_transactions (idempotency_key, kind, job_id, created_at)
    select 'reserve:' || job_id, 'reserve', job_id, reserved_at from job_charges where job_id like 'bench\\_%'
    union all
    select 'settle:' || job_id, 'settle', job_id, settled_at from job_charges where job_id like 'bench\\_%'
    order by 4`;
  await sql`
    insert into postings (transaction_id, account_id, amount)
    select t.id, a.id, v.amount
    from job_charges jc
    join ledger_transactions t on t.job_id = jc.job_id
    cross join lateral (
      select * from (values
        ('reserve', 'consumer_balance', jc.api_key_id::text, -jc.reserved),
        ('reserve', 'consumer_holds', jc.api_key_id::text, jc.reserved),
        ('settle', 'consumer_holds', jc.api_key_id::text, -jc.reserved),
        ('settle', 'consumer_balance', jc.api_key_id::text, jc.reserved - jc.charged),
        ('settle', 'operator_earnings', jc.node_pubkey, jc.operator_share),
        ('settle', 'platform_fees', '', jc.platform_fee)
      ) as x(tx, kind, owner, amount)
      where x.tx = t.kind and x.amount <> 0
    ) v
    join accounts a on a.kind = v.kind and a.owner = v.owner
    where jc.job_id like 'bench\\_%'
    order by t.id`;
  await sql`
    update accounts a set balance = s.total
    from (select account_id, sum(amount)::int8 as total from postings group by account_id) s
    where a.id = s.account_id and a.balance <> s.total`;
  await sql`analyze`;
  return { keys, keyIds, nodes };
}

async function explain(sql: Sql, label: string, query: string, params: unknown[]): Promise<void> {
  const rows = await sql.unsafe(`explain analyze ${query}`, params as never[]);
  console.log(`\n  EXPLAIN ANALYZE ${label}`);
  for (const r of rows) console.log(`    ${Object.values(r)[0]}`);
}

async function explainAll(sql: Sql, keyId: bigint): Promise<void> {
  await explain(
    sql,
    "network page: jobs finished in the last 10 minutes",
    `select count(*)::bigint as jobs, count(*) filter (where status = 'completed')::bigint as completed
     from jobs where finished_at >= now() - 600 * interval '1 second'`,
    [],
  );
  await explain(
    sql,
    "account page: a key's usage, first page",
    `select j.id, j.created_at, coalesce(c.charged, 0)::bigint as cost from jobs j
     left join job_charges c on c.job_id = j.id where j.api_key_id = $1
     order by j.created_at desc, j.id desc limit 101`,
    [keyId.toString()],
  );
  const [mid] = await sql<{ created_at: Date; id: string }[]>`
    select created_at, id from jobs where api_key_id = ${keyId} order by created_at desc, id desc offset 100 limit 1`;
  await explain(
    sql,
    "account page: a key's usage, an older page",
    `select j.id, j.created_at, coalesce(c.charged, 0)::bigint as cost from jobs j
     left join job_charges c on c.job_id = j.id where j.api_key_id = $1
       and j.created_at <= $2 and (j.created_at < $2 or j.id < $3)
     order by j.created_at desc, j.id desc limit 101`,
    [keyId.toString(), mid.created_at.toISOString(), mid.id],
  );
  await explain(
    sql,
    "account page: the CSV cap check (offset 10,000)",
    `select 1 from jobs j where j.api_key_id = $1 order by j.created_at desc offset $2 limit 1`,
    [keyId.toString(), 10_000],
  );
}

interface BackendReport {
  backend: string;
  description: string;
  seedSeconds: number;
  discrepancies: number;
  timings: Timing[];
  shipped: Shipped[];
}

async function benchBackend(db: Database, backend: string): Promise<BackendReport> {
  let tcp: TestControlPlane | null = null;
  try {
    tcp = await openTestControlPlane({ serve: true, db, config: { keyCreationPerMinute: 1_000_000 } });
    const base = tcp.server!.url;
    const timings: Timing[] = [];
    const time = async (name: string, path: string, cookie: string | null, baseline = false) => {
      timings.push({ name, baseline, ...(await ttfb(base, path, cookie)) });
    };
    await time("/health (baseline)", "/health", null, true);
    await time("/ on an empty database (baseline)", "/", null, true);

    const t0 = performance.now();
    const { keys, keyIds, nodes } = await seedBenchJobs(db.sql, JOBS);
    const seedSeconds = (performance.now() - t0) / 1000;
    const [{ n }] = await db.sql<{ n: bigint }[]>`select count(*)::int8 as n from jobs where api_key_id = ${
      keyIds[0]
    }`;
    const discrepancies = await reconcile(db.sql);
    console.log(
      `\n${db.description}: seeded ${JOBS.toLocaleString("en-US")} jobs in ${seedSeconds.toFixed(1)} s ` +
        `(the signed-in key has ${n} of them); reconcile: ${discrepancies.length} discrepancies`,
    );
    for (const d of discrepancies.slice(0, 5)) console.log(`  ${d.check}: ${d.detail}`);
    if (flags.explain) await explainAll(db.sql, keyIds[0]);

    const account = await accountCookie(db.sql, keys[0]);
    const firstPage = await (await fetch(`${base}/account`, { headers: { cookie: account } })).text();
    const older = /<a href="([^"]+)" rel="next">Older<\/a>/.exec(firstPage)?.[1]?.replaceAll("&amp;", "&");
    const pages: [string, string, string | null][] = [
      ["/ (network page)", "/", null],
      ["/network.json", "/network.json", null],
      ["/account", "/account", account],
      ["/account?model=…", `/account?model=${MODELS[1]}`, account],
      ["/account?status=failed", "/account?status=failed", account],
      ...(older ? [["/account, older page", older, account] as [string, string, string]] : []),
      ["/account/usage.csv", "/account/usage.csv", account],
      ["/keys", "/keys", null],
    ];
    // The operator's pages, when this tree has them.
    const { token } = await issueSessionToken(tcp.cp, nodes[0]);
    const session = `${SESSION_COOKIE}=${token}`;
    const probe = await fetch(`${base}/operator`, { headers: { cookie: session }, redirect: "manual" });
    const operatorHtml = await probe.text();
    if (probe.status === 200) {
      pages.push(["/operator", "/operator", session]);
      const next = /<a href="(\/operator[^"]*)" rel="next">Older<\/a>/.exec(operatorHtml)?.[1];
      if (next) pages.push(["/operator, older jobs", next.replaceAll("&amp;", "&"), session]);
    } else {
      console.log(`  /operator answered HTTP ${probe.status}: not measured`);
    }
    for (const [name, path, cookie] of pages) await time(name, path, cookie);

    const shipped: Shipped[] = [];
    for (const [name, path, cookie] of pages) {
      if (path.endsWith(".json") || path.endsWith(".csv")) continue;
      shipped.push({ name, ...(await shippedJs(base, path, cookie)) });
    }
    return {
      backend,
      description: db.description,
      seedSeconds,
      discrepancies: discrepancies.length,
      timings,
      shipped,
    };
  } finally {
    await tcp?.close();
  }
}

function printReport(r: BackendReport): void {
  const fmt = (x: number) => x.toFixed(2).padStart(8);
  console.log(
    `\ndashboard TTFB — ${r.description}, ${
      JOBS.toLocaleString("en-US")
    } jobs, ${REQUESTS} sequential requests after ${WARMUP} warm-up (ms)`,
  );
  console.log(
    `${
      "page".padEnd(36)
    }      p50       p95       p99   target p95 < ${TTFB_TARGET_MS} ms   (p95 to last byte)`,
  );
  for (const t of r.timings) {
    const verdict = t.baseline ? "baseline" : t.p95 < TTFB_TARGET_MS ? "MET" : "MISSED";
    console.log(
      `${t.name.padEnd(36)} ${fmt(t.p50)}  ${fmt(t.p95)}  ${fmt(t.p99)}   ${verdict.padEnd(19)}   ${
        fmt(t.p95Body)
      }`,
    );
  }
  console.log(`\nJavaScript shipped per page (gzip) — target < ${JS_TARGET_BYTES / 1024} KB`);
  for (const s of r.shipped) {
    const kb = (s.gzipBytes / 1024).toFixed(1);
    console.log(
      `${s.name.padEnd(36)} ${kb.padStart(6)} KB   ${s.gzipBytes < JS_TARGET_BYTES ? "MET" : "MISSED"}   ${
        s.scripts.join(" ") || "(no script)"
      }`,
    );
  }
}

async function main(): Promise<void> {
  const reports: BackendReport[] = [];
  const dataDir = await Deno.makeTempDir({ prefix: "infernet-dashboard-bench-" });
  try {
    const lite = await openDatabase({ dataDir: `${dataDir}/pglite` });
    try {
      reports.push(await benchBackend(lite, "pglite"));
    } finally {
      await lite.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
  const url = Deno.env.get("INFERNET_TEST_DATABASE_URL") ?? DEFAULT_POSTGRES_URL;
  if (!flags["pglite-only"]) {
    const pg = await openBenchPostgres(url, 10);
    if (typeof pg === "string") {
      console.log(`\nPostgreSQL at ${redactUrl(url)} ${pg}: measured on PGlite only`);
    } else {
      try {
        reports.push(await benchBackend(pg, "postgres"));
      } finally {
        await pg.drop();
      }
    }
  }
  for (const r of reports) printReport(r);
  const r2 = (x: number) => Number(x.toFixed(2));
  console.log(JSON.stringify({
    bench: "dashboard",
    jobs: JOBS,
    requests: REQUESTS,
    results: Object.fromEntries(reports.map((r) => [r.backend, {
      seed_s: r2(r.seedSeconds),
      discrepancies: r.discrepancies,
      ttfb_ms: Object.fromEntries(
        r.timings.map((t) => [t.name, {
          p50: r2(t.p50),
          p95: r2(t.p95),
          p99: r2(t.p99),
          p95_last_byte: r2(t.p95Body),
        }]),
      ),
      js_gzip_bytes: Object.fromEntries(r.shipped.map((s) => [s.name, s.gzipBytes])),
      target: r.timings.every((t) => t.baseline || t.p95 < TTFB_TARGET_MS) &&
          r.shipped.every((s) => s.gzipBytes < JS_TARGET_BYTES)
        ? "MET"
        : "MISSED",
    }])),
  }));
  if (reports.some((r) => r.discrepancies > 0)) Deno.exit(1);
}

if (import.meta.main) await main();
