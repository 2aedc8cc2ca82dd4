// Crash safety of the money path: the control plane (a real `deno task start` process) is killed
// with SIGKILL in the middle of a burst of chat settlements and deposit confirmations, restarted on
// the same data, and then the ledger must reconcile: no recorded job charged twice or never, no
// deposit lost or credited twice, no hold left open, every balance accounted for; requests after
// the restart bill normally; and every full answer a consumer received before the kill is charged
// (answers are handed over only once their settlement is committed).
//
// Runs on the real PostgreSQL when it answers (a fresh database, dropped at the end), else on the
// embedded PGlite in the data directory; INFERNET_CRASH_TEST_DB=pglite forces PGlite.
import assert from "node:assert/strict";
import postgres from "postgres";
import { type Database, openDatabase, type Sql } from "../db/mod.ts";
import { POSTGRES_AVAILABLE } from "../testing/databases.ts";
import { NANO_USD_PER_USD, parseDecimal, sleep } from "../shared/mod.ts";
import {
  cliCommand,
  denoTaskCommand,
  type FakeCoinPayPortal,
  runCli,
  startFakeCoinPayPortal,
  startTestEngine,
  type TestEngine,
  watchOutput,
  within,
} from "../testing/mod.ts";

const POSTGRES_URL = Deno.env.get("INFERNET_TEST_DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/test";
const BACKEND = POSTGRES_AVAILABLE && Deno.env.get("INFERNET_CRASH_TEST_DB") !== "pglite"
  ? "postgres"
  : "pglite";

const CHATS = 150;
/** The control plane is killed once this many chat requests have had their answer (or failure). */
const KILL_AFTER = 60;
const FUNDED_USD = 5;
const JOB_TIMEOUT_MS = 3000;
/** On PostgreSQL, this many chats end with the database unable to commit (see stallDatabase). */
const STALLED_CHATS = 10;

/** Polls `check` every 100 ms until it returns a value other than null/false, or fails after `ms`. */
async function waitFor<T>(what: string, ms: number, check: () => Promise<T | null | false>): Promise<T> {
  const deadline = Date.now() + ms;
  let lastErr: unknown = null;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== null && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    await sleep(100);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`, { cause: lastErr });
}

/** The process ids under `pid` (children first listed after their parent), read from /proc. */
/**
 * Every descendant of a process, deepest last. Through `ps` (Deno refuses reads of /proc unless
 * it runs with --allow-all, and `deno task test` grants explicit permissions only).
 */
async function descendants(pid: number): Promise<number[]> {
  const out = await new Deno.Command("ps", { args: ["-e", "-o", "pid=,ppid="], stdout: "piped" }).output();
  const children = new Map<number, number[]>();
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const [child, parent] = line.trim().split(/\s+/).map(Number);
    if (!child || !parent) continue;
    children.set(parent, [...(children.get(parent) ?? []), child]);
  }
  const found: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      found.push(c);
      walk(c);
    }
  };
  walk(pid);
  return found;
}

/** A `deno task start` process: the control plane server runs in its child `deno run`. */
interface ControlPlaneProcess {
  url: string;
  port: number;
  key: string;
  output(): string;
  /** SIGKILL to the server process and the task around it: no shutdown code runs. */
  kill9(): Promise<void>;
  /** SIGTERM (the task forwards it): the server shuts down cleanly. */
  stop(): Promise<Deno.CommandStatus>;
}

async function startControlPlane(env: Record<string, string>, port: number): Promise<ControlPlaneProcess> {
  const child = denoTaskCommand(["start", "--port", String(port), "--no-local-node"], {
    env,
    stderr: "piped",
  })
    .spawn();
  const out = watchOutput(child.stdout, { keepChars: 50_000 });
  const err = watchOutput(child.stderr, { keepChars: 50_000 });
  const output = () => `${out.text()}\n${err.text()}`;
  let exited = false;
  const status = child.status.then(async (s) => {
    exited = true;
    await Promise.all([out.done, err.done]);
    return s;
  });
  const kill9 = async () => {
    // `deno task` runs the server as its child; killing only the task would leave it serving.
    for (const pid of [...(await descendants(child.pid)).reverse(), child.pid]) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    await status;
  };
  try {
    await waitFor("the control plane's banner", 60_000, () => {
      if (exited) throw new Error(`control plane exited:\n${output()}`);
      return Promise.resolve(/^curl /m.test(out.text()));
    });
  } catch (e) {
    await kill9();
    throw new Error(`${(e as Error).message}\n${output()}`, { cause: e });
  }
  const base = /^OpenAI base URL: (\S+)\/v1$/m.exec(out.text())![1];
  return {
    url: base,
    port: Number(new URL(base).port),
    key: /^API key \(new, shown once[^)]*\): (\S+)$/m.exec(out.text())![1],
    output,
    kill9,
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => void kill9(), 15_000);
      const s = await status;
      clearTimeout(timer);
      return s;
    },
  };
}

/** A node daemon (`infernet start`) serving the test engine. */
async function startDaemon(url: string, engine: TestEngine) {
  const home = await Deno.makeTempDir({ prefix: "infernet-crash-node-" });
  const env = { INFERNET_HOME: home, INFERNET_LOG_LEVEL: "warn" };
  const init = await runCli(["init", "--json"], env);
  if (init.code !== 0) throw new Error(`infernet init failed: ${init.stderr}`);
  const { pubkey } = JSON.parse(init.stdout) as { pubkey: string };
  const child = cliCommand(
    ["start", "--server", url, "--engine-url", engine.url, "--max-concurrency", "200"],
    env,
  ).spawn();
  const out = watchOutput(child.stdout, { keepChars: 50_000 });
  const err = watchOutput(child.stderr, { keepChars: 50_000 });
  return {
    pubkey,
    output: () => `${out.text()}\n${err.text()}`,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Exited already.
      }
      const timer = setTimeout(async () => {
        for (const pid of [...(await descendants(child.pid)).reverse(), child.pid]) {
          try {
            Deno.kill(pid, "SIGKILL");
          } catch {
            // Gone.
          }
        }
      }, 10_000);
      await child.status;
      clearTimeout(timer);
      await Promise.all([out.done, err.done]);
      await Deno.remove(home, { recursive: true }).catch(() => {});
    },
  };
}

/** Waits until the control plane at `url` routes jobs to the node. */
async function waitNodeLive(url: string, pubkey: string, output: () => string): Promise<void> {
  await waitFor("the node to be live", 30_000, async () => {
    const res = await fetch(`${url}/api/nodes/${pubkey}`);
    const body = await res.json();
    return res.ok && body.live === true;
  }).catch((e) => {
    throw new Error(`${(e as Error).message}\n${output()}`, { cause: e });
  });
}

/** What one consumer's chat request got. */
interface ChatOutcome {
  i: number;
  key: string;
  stream: boolean;
  status: number | null;
  jobId: string | null;
  /** The whole answer arrived (JSON body, or a stream up to `[DONE]` with no error event). */
  complete: boolean;
  usage: { prompt_tokens: number; completion_tokens: number } | null;
  /** When the request ended (performance.now()). */
  endedAt: number;
  error: string | null;
}

function chatBody(model: string, i: number, stream: boolean): Record<string, unknown> {
  const words = Array.from({ length: 4 + (i % 20) }, (_, w) => `w${i}_${w}`).join(" ");
  return {
    model,
    messages: [{ role: "user", content: words }],
    stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}),
    // Every fifth request leaves max_tokens out: the default allowance is held.
    ...(i % 5 === 4 ? {} : { max_tokens: 4 + (i % 23) }),
  };
}

async function chat(
  url: string,
  key: string,
  model: string,
  i: number,
  stream: boolean,
): Promise<ChatOutcome> {
  const o: ChatOutcome = {
    i,
    key,
    stream,
    status: null,
    jobId: null,
    complete: false,
    usage: null,
    endedAt: 0,
    error: null,
  };
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(chatBody(model, i, stream)),
      signal: AbortSignal.timeout(30_000),
    });
    o.status = res.status;
    o.jobId = res.headers.get("x-infernet-job-id");
    const text = await res.text();
    if (res.status !== 200) {
      o.error = text.slice(0, 200);
    } else if (!stream) {
      const body = JSON.parse(text);
      o.usage = body.usage ?? null;
      o.complete = Array.isArray(body.choices) && body.choices.length > 0;
    } else {
      const datas = [...text.matchAll(/^data: (.*)$/gm)].map((m) => m[1]);
      const events = datas.filter((d) => d !== "[DONE]").map((d) => JSON.parse(d));
      o.usage = events.findLast((e) => e.usage)?.usage ?? null;
      o.complete = datas.at(-1) === "[DONE]" && !events.some((e) => e.error);
      if (!o.complete) o.error = "stream ended without [DONE]";
    }
  } catch (err) {
    o.error = (err as Error).message;
  }
  o.endedAt = performance.now();
  return o;
}

async function api(url: string, path: string, key: string | null, init: RequestInit = {}) {
  const res = await fetch(`${url}${path}`, {
    ...init,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      "content-type": "application/json",
      ...init.headers,
    },
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text);
  } catch {
    body = { raw: text };
  }
  return { status: res.status, body };
}

/** Creates a deposit for `key` (idempotent per `idem`); the processor's payment id, or null. */
async function createDeposit(url: string, key: string, usd: number, idem: string): Promise<string | null> {
  try {
    const r = await api(url, "/api/deposits", key, {
      method: "POST",
      headers: { "idempotency-key": idem },
      body: JSON.stringify({ amount_usd: usd, coin: "USDC_SOL" }),
    });
    return r.status === 201 ? String(r.body.id) : null;
  } catch {
    return null;
  }
}

async function balanceOf(url: string, key: string): Promise<{ balance: bigint; held: bigint }> {
  const r = await api(url, "/api/balance", key);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return {
    balance: parseDecimal(r.body.balance_usd, 9)!,
    held: parseDecimal(r.body.held_usd, 9)!,
  };
}

/** The ledger database, opened from the test (PGlite only while no control plane runs). */
async function openLedger(dbUrl: string | null, dataDir: string): Promise<Database> {
  return dbUrl
    ? await openDatabase({ url: dbUrl, max: 2 })
    : await openDatabase({ dataDir: `${dataDir}/pglite` });
}

async function withLedger<T>(
  dbUrl: string | null,
  dataDir: string,
  fn: (sql: Sql) => Promise<T>,
): Promise<T> {
  const db = await openLedger(dbUrl, dataDir);
  try {
    return await fn(db.sql);
  } finally {
    await db.close();
  }
}

Deno.test({
  name: `e2e - kill -9 of the control plane mid-burst loses and doubles no money [${BACKEND}]`,
}, async () => {
  const t0 = performance.now();
  const phases: string[] = [];
  const mark = (what: string) => phases.push(`${what} ${((performance.now() - t0) / 1000).toFixed(1)}`);
  const tmp = await Deno.makeTempDir({ prefix: "infernet-crash-" });
  const dataDir = `${tmp}/data`;
  const cleanups: (() => Promise<unknown>)[] = [];
  let dbUrl: string | null = null;
  let admin: postgres.Sql | null = null;
  const dbName = `infernet_crash_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  try {
    if (BACKEND === "postgres") {
      admin = postgres(POSTGRES_URL, { max: 1, onnotice: () => {} });
      await admin.unsafe(`create database "${dbName}"`);
      const u = new URL(POSTGRES_URL);
      u.pathname = `/${dbName}`;
      dbUrl = u.toString();
    }
    const webhookSecret = `whsec_${crypto.randomUUID()}`;
    const fake: FakeCoinPayPortal = await startFakeCoinPayPortal({
      apiKey: "cp_crash",
      businessId: "biz_crash",
      webhookSecret,
    });
    cleanups.push(() => fake.close());
    const env: Record<string, string> = {
      DENO: Deno.execPath(),
      INFERNET_DATA_DIR: dataDir,
      DATABASE_URL: dbUrl ?? "",
      INFERNET_KV: "",
      INFERNET_JOB_TIMEOUT_MS: String(JOB_TIMEOUT_MS),
      INFERNET_KEY_RATE_LIMIT: "0",
      INFERNET_LOG_LEVEL: "error",
      // Every consumer key's balance is checked as its deposits less its charges: no canaries,
      // whose platform key is funded from fees instead.
      INFERNET_CANARY_RATE: "0",
      COINPAYPORTAL_URL: fake.url,
      COINPAYPORTAL_API_KEY: "cp_crash",
      COINPAYPORTAL_BUSINESS_ID: "biz_crash",
      COINPAYPORTAL_WEBHOOK_SECRET: webhookSecret,
    };

    // 1. The control plane, and three funded keys (each through a confirmed deposit).
    let cp = await startControlPlane(env, 0);
    let cpAlive = true;
    cleanups.push(async () => {
      if (cpAlive) await cp.kill9();
    });
    const url = cp.url;
    fake.setWebhookUrl(`${url}/api/webhooks/coinpay`);
    const keys = [cp.key];
    for (let k = 0; k < 2; k++) {
      const r = await api(url, "/api/keys", null, { method: "POST", body: "{}" });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      keys.push(String(r.body.key));
    }
    for (const [k, key] of keys.entries()) {
      const id = await createDeposit(url, key, FUNDED_USD, `fund-${k}`);
      assert.ok(id, "funding deposit created");
      const delivered = await fake.confirm(id);
      assert.ok(delivered.delivered, "funding deposit credited");
    }

    mark("cp started, keys funded");
    // 2. A node: the test engine (slow enough that jobs overlap) behind an `infernet start` daemon.
    const engine = await startTestEngine({ tokenDelayMs: 15 });
    cleanups.push(() => engine.close());
    const node = await startDaemon(url, engine);
    cleanups.push(() => node.stop());
    await waitNodeLive(url, node.pubkey, () => `${node.output()}\n${cp.output()}`);
    const models = await api(url, "/v1/models", keys[0]);
    const model = String((models.body.data as { id: string }[])[0].id);

    mark("node live");
    // Before the burst, a few jobs answered and settled the normal way.
    const warmup: string[] = [];
    for (const [k, key] of keys.entries()) {
      const o = await chat(url, key, model, 500 + k, k === 1);
      assert.ok(o.complete && o.jobId, `warm-up request ${k}: ${o.status} ${o.error}`);
      warmup.push(o.jobId!);
    }
    await waitFor("warm-up jobs settled", 10_000, async () => {
      for (const key of keys) if ((await balanceOf(url, key)).held !== 0n) return false;
      return true;
    });

    // Deposits for the burst: six already created (confirmed during the burst), four created
    // during it (and confirmed as soon as their creation answers).
    const depositKeys: { key: string; idem: string; id: string | null }[] = [];
    for (let d = 0; d < 6; d++) {
      const key = keys[d % keys.length];
      const id = await createDeposit(url, key, 1 + d, `early-${d}`);
      assert.ok(id);
      depositKeys.push({ key, idem: `early-${d}`, id });
    }

    // 3. The burst: chats launched 10 ms apart, deposits confirmed and created among them; the
    // control plane is killed once KILL_AFTER chats have ended.
    const chats: Promise<ChatOutcome>[] = [];
    const confirms: Promise<unknown>[] = [];
    let ended = 0;
    let reachKillPoint = () => {};
    const killPoint = new Promise<void>((resolve) => (reachKillPoint = resolve));
    // On PostgreSQL, the last chats before the kill end while the database cannot take their
    // settlements (the jobs table is locked from here): their answers go out on the journal alone,
    // so the kill is sure to find settlements that only the journal holds.
    let stall: postgres.Sql | null = null;
    let stalled: Promise<unknown> = Promise.resolve();
    let endedAtStall: number | null = null;
    const stallDatabase = () => {
      if (!dbUrl) return;
      stall = postgres(dbUrl, { max: 1, onnotice: () => {} });
      const conn = stall;
      stalled = conn.unsafe("begin; lock table jobs in share mode;").then(() => (endedAtStall = ended));
      cleanups.push(() => conn.end({ timeout: 1 }));
    };
    const burst = (async () => {
      for (let i = 0; i < CHATS; i++) {
        chats.push(
          chat(url, keys[i % keys.length], model, i, i % 2 === 0).finally(() => {
            if (++ended === KILL_AFTER - STALLED_CHATS) stallDatabase();
            // The kill comes once STALLED_CHATS have ended with the table locked (on PGlite: at once).
            if (
              ended >= KILL_AFTER &&
              (!dbUrl || (endedAtStall !== null && ended >= endedAtStall + STALLED_CHATS))
            ) {
              reachKillPoint();
            }
          }),
        );
        if (i % 25 === 5) confirms.push(fake.confirm(depositKeys[Math.floor(i / 25)].id!));
        if (i % 35 === 15 && i < 140) {
          const d = Math.floor(i / 35);
          const entry = { key: keys[d % keys.length], idem: `burst-${d}`, id: null as string | null };
          depositKeys.push(entry);
          confirms.push(
            createDeposit(url, entry.key, 2, entry.idem).then((id) => {
              entry.id = id;
              return id ? fake.confirm(id) : null;
            }),
          );
        }
        await sleep(10);
      }
    })();
    await within(killPoint, 60_000, `${KILL_AFTER} chats ending before the kill`);
    await within(stalled, 10_000, "the jobs table locked");
    mark("kill");
    const inFlightAtKill = CHATS - ended;
    await cp.kill9();
    cpAlive = false;
    // The database comes back (the lock's session ends).
    await (stall as postgres.Sql | null)?.end({ timeout: 1 });
    await burst;
    const outcomes = await Promise.all(chats);
    await Promise.allSettled(confirms);

    mark("burst settled");
    // The jobs the dead process had journaled (web/jobs/settlement_journal.ts): its answers waited
    // for that append, not for the database, so some may be in the journal only.
    const journalDir = `${dataDir}/journal`;
    const journaled = new Map<string, string[]>();
    const segments = await Array.fromAsync(Deno.readDir(journalDir)).catch(() => []);
    for (const f of segments) {
      if (!f.name.endsWith(".jsonl")) continue;
      const lines = (await Deno.readTextFile(`${journalDir}/${f.name}`)).split("\n").slice(1);
      const ids: string[] = [];
      for (const l of lines) {
        try {
          ids.push(JSON.parse(l).row.id);
        } catch { /* the torn last line of a write the kill cut short */ }
      }
      journaled.set(f.name, ids);
    }
    const journalIds = [...journaled.values()].flat();
    // An operator's clock moves on while a crashed server is down: holds are only released once
    // older than the job timeout + 60 s, so the open ones are backdated here rather than waiting.
    // (On PGlite this is also the first open of the data directory after the kill.)
    const backdated = await withLedger(dbUrl, dataDir, async (sql) => {
      const rows = await sql`
        update job_charges set reserved_at = reserved_at - interval '10 minutes'
        where settled_at is null returning job_id`;
      // The dead instance's balance leases, likewise: it no longer renews them.
      const leases = await sql`
        update balance_leases set renewed_at = renewed_at - interval '10 minutes'
        where released_at is null returning id`;
      return rows.length + leases.length;
    });
    const journalOnly = await withLedger(dbUrl, dataDir, async (sql) => {
      const inDb = await sql<{ id: string }[]>`select id from jobs where id = any(${journalIds})`;
      const have = new Set(inDb.map((r) => r.id));
      return journalIds.filter((id) => !have.has(id));
    });

    mark("holds backdated");
    // 4. Restart on the same data and port; the daemon reconnects by itself.
    cp = await startControlPlane(env, cp.port);
    cpAlive = true;
    assert.equal(cp.url, url);
    await waitNodeLive(url, node.pubkey, () => `${node.output()}\n${cp.output()}`);
    mark("restarted, node live");
    // Consumers whose deposit creation failed retry it with the same Idempotency-Key; payments
    // not yet paid are paid; events the processor could not deliver are delivered again.
    const retried = depositKeys.filter((d) => !d.id).length;
    for (const d of depositKeys) {
      if (d.id) continue;
      d.id = await createDeposit(url, d.key, 2, d.idem);
      assert.ok(d.id, `deposit ${d.idem} created on retry`);
    }
    for (const p of fake.payments) {
      if (p.status !== "pending") continue;
      const r = await fake.confirm(p.id);
      assert.ok(r.delivered, `payment ${p.id} confirmed after the restart`);
    }
    const delivered = new Set(
      fake.webhookDeliveries.filter((w) => w.status !== null && w.status < 300).map((w) => w.eventId),
    );
    const undelivered = [...new Set(fake.webhookDeliveries.map((w) => w.eventId))].filter((e) =>
      !delivered.has(e)
    );
    for (const eventId of undelivered) {
      const r = await fake.redeliver(eventId);
      assert.ok(r.delivered, `event ${eventId} redelivered (last status ${r.lastStatus})`);
    }
    mark("deposits redelivered");
    // Every hold of the crashed instance is released (the startup sweep, and the KV reaper for
    // jobs it left running).
    await waitFor("no hold open", 20_000, async () => {
      for (const key of keys) if ((await balanceOf(url, key)).held !== 0n) return false;
      return true;
    });

    mark("holds released");
    // The restart settled what only the journal held, then removed the dead process's segments.
    for (const name of journaled.keys()) {
      const gone = await Deno.stat(`${journalDir}/${name}`).then(() => false, () => true);
      assert.ok(gone, `journal segment ${name} replayed and removed`);
    }
    // 5. After the restart, requests are billed normally: the balance goes down by the charge.
    const after: { jobId: string; drop: bigint }[] = [];
    for (let n = 0; n < 3; n++) {
      const key = keys[n];
      const before = await balanceOf(url, key);
      const o = await chat(url, key, model, 1000 + n, n === 1);
      assert.ok(o.complete && o.jobId, `post-restart request ${n}: ${o.status} ${o.error}`);
      const now = await waitFor("the post-restart job settled", 10_000, async () => {
        const b = await balanceOf(url, key);
        return b.held === 0n && b.balance !== before.balance ? b : null;
      });
      after.push({ jobId: o.jobId!, drop: before.balance - now.balance });
    }

    mark("post-restart jobs billed");
    // Stop cleanly (PGlite is single-process), then reconcile from the command line.
    const stopped = await cp.stop();
    cpAlive = false;
    assert.equal(stopped.code, 0, cp.output());
    const rec = await denoTaskCommand(["reconcile"], { env, stderr: "piped" }).output();
    const recOut = new TextDecoder().decode(rec.stdout) + new TextDecoder().decode(rec.stderr);
    assert.equal(rec.code, 0, recOut);
    assert.match(recOut, /; 0 discrepancies$/m, recOut);

    mark("stopped, reconciled");
    // The ledger, checked directly.
    const found = await withLedger(dbUrl, dataDir, async (sql) => {
      const completedNotOnce = await sql<{ id: string; settles: bigint }[]>`
        select j.id, count(t.id) as settles from jobs j
        left join job_charges jc on jc.job_id = j.id
        -- A plain job's own settle transaction, or the batch's its lease charge points at.
        left join ledger_transactions t on (t.kind = 'settle' and t.job_id = j.id) or t.id = jc.settle_tx_id
        where j.status = 'completed' and j.api_key_id is not null
        group by j.id having count(t.id) <> 1`;
      const twice = await sql<{ job_id: string; kind: string }[]>`
        select job_id, kind from ledger_transactions
        where job_id is not null and job_id not in (select id from balance_leases)
        group by job_id, kind having count(*) > 1`;
      const open = await sql<{ n: bigint }[]>`select count(*) as n from job_charges where settled_at is null`;
      const fromJournal = await sql<{ id: string }[]>`select id from jobs where id = any(${journalOnly})`;
      assert.equal(
        fromJournal.length,
        journalOnly.length,
        "every job only in the journal at the kill is recorded",
      );
      if (dbUrl) assert.ok(journalOnly.length > 0, "the stalled database left jobs in the journal only");
      const [{ total }] = await sql<
        { total: bigint }[]
      >`select coalesce(sum(balance), 0)::bigint as total from accounts`;
      const deposits = await sql<{ id: string; amount: bigint; credits: bigint; credited: bigint }[]>`
        select p.id, p.amount, count(distinct t.id) as credits,
               coalesce(sum(po.amount) filter (where a.kind = 'consumer_balance'), 0)::bigint as credited
        from payments p
        left join ledger_transactions t on t.idempotency_key = 'deposit:' || p.id
        left join postings po on po.transaction_id = t.id
        left join accounts a on a.id = po.account_id
        group by p.id, p.amount`;
      const depositTxs = await sql<{ n: bigint }[]>`
        select count(*) as n from ledger_transactions where kind = 'deposit'`;
      const charges = await sql<
        { job_id: string; charged: bigint; status: string | null; settled: boolean }[]
      >`
        select jc.job_id, jc.charged, j.status, jc.settled_at is not null as settled
        from job_charges jc left join jobs j on j.id = jc.job_id`;
      return {
        completedNotOnce,
        twice,
        open: open[0].n,
        total,
        deposits,
        depositTxs: depositTxs[0].n,
        charges,
        perKey: await sql<{ owner: string; balance: bigint; charged: bigint }[]>`
          select a.owner, a.balance,
            (select coalesce(sum(charged), 0) from job_charges jc where jc.api_key_id::text = a.owner)::bigint
              as charged
          from accounts a where a.kind = 'consumer_balance'`,
      };
    });
    assert.deepEqual([...found.completedNotOnce], [], "every completed job is settled exactly once");
    assert.deepEqual([...found.twice], [], "no job has two reserve or two settle transactions");
    assert.equal(found.open, 0n, "no hold is left open");
    assert.equal(found.total, 0n, "the balances of all accounts sum to zero");

    // Every payment the processor confirmed is credited once, for its amount; nothing else is.
    const confirmed = fake.payments.filter((p) => p.status === "confirmed");
    assert.equal(confirmed.length, keys.length + 10, "every deposit was confirmed at the processor");
    const byId = new Map(found.deposits.map((d) => [d.id, d]));
    for (const p of confirmed) {
      const d = byId.get(p.id);
      assert.ok(d, `confirmed payment ${p.id} is stored`);
      assert.equal(d.credits, 1n, `payment ${p.id} credited once`);
      assert.equal(d.credited, BigInt(Math.round(p.amountUsd * 100)) * (NANO_USD_PER_USD / 100n));
    }
    assert.equal(found.depositTxs, BigInt(confirmed.length), "no deposit transaction without a payment");

    // What the consumers saw, against the ledger: an answer (or a stream's `[DONE]`) is handed over
    // only once its job row and settlement are committed, so every full answer a consumer received
    // before the kill is charged — none can be lost with the process.
    const charges = new Map(found.charges.map((c) => [c.job_id, c]));
    const complete = outcomes.filter((o) => o.complete);
    assert.ok(complete.length > 0 && inFlightAtKill > 0, "the kill came in the middle of the burst");
    const unrecorded: ChatOutcome[] = [];
    for (const o of complete) {
      assert.ok(o.jobId, `answer ${o.i} names its job`);
      const c = charges.get(o.jobId);
      assert.ok(c, `answer ${o.i}: its hold exists`);
      assert.ok(c.settled, `answer ${o.i}: its hold is settled`);
      if (c.status !== "completed" || c.charged === 0n) unrecorded.push(o);
    }
    assert.equal(
      unrecorded.length,
      0,
      `full answers never charged: ${unrecorded.map((o) => o.jobId).join(", ")}`,
    );
    // Jobs answered and settled before the burst stay charged.
    for (const w of warmup) {
      const c = charges.get(w);
      assert.ok(c && c.status === "completed" && c.settled && c.charged > 0n, `warm-up job ${w} charged`);
    }

    // Charged although the consumer got no full answer: streams cut mid-way (billed for what was
    // delivered), or answers written just before the kill and lost on the way out.
    const completeIds = new Set<string | null>([
      ...complete.map((o) => o.jobId),
      ...warmup,
      ...after.map((a) => a.jobId),
    ]);
    const chargedUnseen = found.charges.filter((c) => c.charged > 0n && !completeIds.has(c.job_id)).length;

    // Post-restart jobs: charged what the balance lost, and nothing else moved.
    for (const a of after) {
      const c = charges.get(a.jobId);
      assert.ok(c && c.status === "completed" && c.settled, `post-restart job ${a.jobId} recorded`);
      assert.ok(c.charged > 0n);
      assert.equal(a.drop, c.charged, `post-restart job ${a.jobId}: balance went down by its charge`);
    }

    // Each key's balance is its deposits minus its charges.
    const creditedByKey = new Map<string, bigint>();
    for (const p of confirmed) {
      const key = String(p.metadata.api_key_id);
      creditedByKey.set(key, (creditedByKey.get(key) ?? 0n) + byId.get(p.id)!.credited);
    }
    for (const k of found.perKey) {
      assert.equal(
        k.balance,
        (creditedByKey.get(k.owner) ?? 0n) - k.charged,
        `key ${k.owner}: deposits − charges`,
      );
    }

    const statuses = new Map<string, number>();
    for (const o of outcomes) {
      const s = o.complete ? "complete" : o.status === null ? "no answer" : `partial/${o.status}`;
      statuses.set(s, (statuses.get(s) ?? 0) + 1);
    }
    console.log(
      `crash test [${BACKEND}]: ${CHATS} chats (${inFlightAtKill} not ended at the kill): ` +
        `${JSON.stringify(Object.fromEntries(statuses))}; ${backdated} holds open after the kill; ` +
        `${retried} deposit creations retried, ${undelivered.length} webhook events redelivered; ` +
        `${journalOnly.length} jobs only in the settlement journal at the kill (of ${journalIds.length} journaled); ` +
        `${unrecorded.length} full answers never charged; ` +
        `${chargedUnseen} jobs charged without a full answer; phases (s): ${phases.join(", ")}`,
    );
  } finally {
    for (const c of cleanups.reverse()) await c().catch((err) => console.error("cleanup:", err));
    if (admin) {
      await admin.unsafe(`drop database if exists "${dbName}" with (force)`).catch((err) =>
        console.error("cleanup:", err)
      );
      await admin.end({ timeout: 5 });
    }
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
});
