// End to end, direct mode's bad input and attacks (issue 28, docs/protocol.md §14): a real control
// plane (PGlite and PostgreSQL), real `infernet start --direct-port` daemons and test engines, real
// tickets, frames and signatures. Each attack on a node is refused with its code before the engine
// hears anything, and its job ends with nothing charged. A node whose answer does not open with
// the ticket's key (another key, a tampered or reordered frame) is refused by the proxy, which goes
// on to the next node: the ledger pays only that one (a replayed frame comes after a first token). A consumer that never acks is
// settled on the node's receipt within the ticket's bounds, flagged; `reconcile` finds nothing.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { generateSecretKey, getPublicKey, type NostrEvent } from "nostr-tools/pure";
import { createLogger, sleep } from "../shared/mod.ts";
import {
  conversationKey,
  createTicket,
  FrameSealer,
  privateChat,
  type TicketContent,
} from "../shared/direct/mod.ts";
import { countPromptTokens } from "../shared/direct/count.ts";
import { reconcile } from "../db/mod.ts";
import type { Database } from "../db/mod.ts";
import type { WebConfig } from "../web/config.ts";
import { createProxyHandler } from "../cli/proxy/handler.ts";
import { usageDiverges } from "../web/metering/count_tokens.ts";
import { openTestControlPlane, type TestControlPlane } from "../testing/control_plane.ts";
import { type NodeProcess, startNode, stopNode } from "../testing/network.ts";
import { startTestEngine, type TestEngine } from "../testing/test_engine.ts";
import { testOnEachDatabase } from "../testing/databases.ts";
import { within } from "../testing/within.ts";

/** How a man in the middle spoils node A's answer (node A itself runs the job honestly). */
type Spoil = "wrong_key" | "tamper" | "reorder" | "replay";

interface Net {
  t: TestControlPlane;
  url: string;
  engines: TestEngine[];
  /** nodes[0] (A) is reached through the spoiler, nodes[1] (B) directly; both serve m and m2. */
  nodes: NodeProcess[];
  /** Each node's direct endpoint as the daemon serves it. */
  direct: string[];
  /** How the spoiler in front of A spoils its answers. */
  spoil: { mode: Spoil };
  /** Node receipts the control plane accepted, as `jobId:node`. */
  receipted: Set<string>;
  proxyLogs: string[];
  sdk: OpenAI;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Stands in front of A's endpoint: passes the request on, lets A finish (its receipt reaches the
 * control plane), then answers the consumer with A's frames spoiled, or re-sealed with another key.
 */
function startSpoiler(target: string, net: Pick<Net, "spoil" | "receipted">, node: () => string) {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.text();
    const header = JSON.parse(body.slice(0, body.indexOf("\n")));
    const jobId = JSON.parse(header.ticket.content).job_id as string;
    const res = await fetch(`${target}/direct`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body,
    });
    const frames = (await res.text()).split("\n").filter(Boolean);
    if (!res.ok) return new Response(frames.join("\n"), { status: res.status });
    for (let i = 0; i < 200 && !net.receipted.has(`${jobId}:${node()}`); i++) await sleep(25);
    let out: string[];
    switch (net.spoil.mode) {
      case "wrong_key": {
        const s = new FrameSealer(conversationKey(generateSecretKey(), header.consumer), jobId, "n2c");
        const chunk = {
          object: "chat.completion.chunk",
          choices: [{ index: 0, delta: { content: "forged" } }],
        };
        out = [...s.message(JSON.stringify(chunk)), s.end()];
        break;
      }
      case "tamper": {
        const b = [...atob(frames[0])];
        b[40] = String.fromCharCode(b[40].charCodeAt(0) ^ 1);
        out = [btoa(b.join("")), ...frames.slice(1)];
        break;
      }
      case "reorder":
        out = [frames[1], frames[0], ...frames.slice(2)];
        break;
      case "replay":
        out = [frames[0], frames[0], ...frames.slice(1)];
        break;
    }
    return new Response(out.map((f) => f + "\n").join(""), {
      headers: { "content-type": "application/x-ndjson" },
    });
  });
}

async function withNet(
  db: Database,
  config: Partial<WebConfig>,
  fn: (net: Net) => Promise<void>,
): Promise<void> {
  const cleanup: Array<() => Promise<unknown> | unknown> = [];
  try {
    const t = await openTestControlPlane({ serve: true, db, config });
    cleanup.unshift(() => t.close());
    const url = t.server!.url;
    const receipted = new Set<string>();
    t.cp.receipts.onNodeReceipt((node, r) => receipted.add(`${r.content.task_id}:${node}`));
    const engines = [
      await startTestEngine({ models: ["m", "m2"] }),
      await startTestEngine({ models: ["m", "m2"] }),
    ];
    for (const e of engines) cleanup.unshift(() => e.close());
    const ports = [freePort(), freePort()];
    const direct = ports.map((p) => `http://127.0.0.1:${p}`);
    const spoil = { mode: "wrong_key" as Spoil };
    const nodes: NodeProcess[] = [];
    const spoiler = startSpoiler(direct[0], { spoil, receipted }, () => nodes[0].pubkey);
    cleanup.unshift(() => spoiler.shutdown());
    const advertised = [`http://127.0.0.1:${spoiler.addr.port}`, direct[1]];
    for (let i = 0; i < 2; i++) {
      const args = ["--direct-port", String(ports[i]), "--direct-url", advertised[i]];
      nodes.push(await startNode({ cp: t.cp, url }, engines[i].url, { args }));
      const n = nodes[i];
      cleanup.unshift(() => stopNode(n));
    }
    const proxyLogs: string[] = [];
    const proxy = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      createProxyHandler({
        server: url,
        log: createLogger({ level: "info", write: (l) => proxyLogs.push(l) }),
      }),
    );
    cleanup.unshift(() => proxy.shutdown());
    const sdk = new OpenAI({
      baseURL: `http://127.0.0.1:${proxy.addr.port}/v1`,
      apiKey: t.apiKey,
      maxRetries: 0,
      timeout: 20_000,
    });
    try {
      await fn({ t, url, engines, nodes, direct, spoil, receipted, proxyLogs, sdk });
    } catch (e) {
      for (const n of nodes) console.error(`--- node ${n.pubkey.slice(0, 8)} stderr ---\n${n.stderr()}`);
      throw e;
    }
  } finally {
    for (const c of cleanup) await c();
  }
}

/** The job's row and its charge once settled (bounded wait). */
async function settled(net: Net, jobId: string, ms = 15_000) {
  return await within(
    (async () => {
      for (;;) {
        await Promise.allSettled([...net.t.cp.runDeps.pending]);
        await net.t.cp.recorder.flush();
        const [row] = await net.t.cp.db.sql`
          select j.status, j.error_code, j.node_pubkey, j.prompt_tokens, j.completion_tokens,
            c.charged::text as charged, c.reserved::text as reserved, c.settled_at is not null as released
          from jobs j left join job_charges c on c.job_id = j.id where j.id = ${jobId}`;
        if (row && row.charged !== null) return row;
        await sleep(25);
      }
    })(),
    ms,
    `job ${jobId} settled`,
  );
}

/** What each node's operator earned, as text (absent: nothing). */
async function earnings(net: Net, nodes: string[]): Promise<Record<string, string>> {
  const rows = await net.t.cp.db.sql<{ owner: string; balance: string }[]>`
    select owner, balance::text as balance from accounts
    where kind = 'operator_earnings' and owner in ${net.t.cp.db.sql(nodes)}`;
  return Object.fromEntries(rows.map((r) => [r.owner, r.balance]));
}

async function platformReceipt(net: Net, jobId: string, node: string) {
  assert.ok(await within(net.t.cp.receipts.whenReceipted(jobId, node), 10_000, "the platform receipt"));
  const [r] = await net.t.cp.db.sql`
    select event from receipts where job_id = ${jobId} and node_pubkey = ${node}`;
  return JSON.parse(JSON.parse(r.event).content);
}

const ask = (text: string) => [{ role: "user" as const, content: text }];

testOnEachDatabase(
  "direct attacks - an answer not sealed with the ticket's key is refused; the next node answers, and only it is paid",
  async (db) => {
    await withNet(db, { directAckWaitMs: 5_000 }, async (net) => {
      const [a, b] = net.nodes.map((n) => n.pubkey);
      for (const mode of ["wrong_key", "tamper", "reorder"] as const) {
        net.spoil.mode = mode;
        const before = await earnings(net, [a, b]);
        const { data: stream, response } = await net.sdk.chat.completions.create({
          model: "m",
          messages: ask(`answer me (${mode})`),
          stream: true,
          // OpenRouter-style routing preferences: A first, so that the spoiled answer comes first.
          provider: { order: [a, b] },
        } as OpenAI.ChatCompletionCreateParamsStreaming).withResponse();
        let text = "";
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
        assert.equal(text, `Echo: answer me (${mode})`, mode);
        const jobId = response.headers.get("x-infernet-job-id")!;
        const expected = mode === "reorder" ? "frame_out_of_order" : "answer_key_mismatch";
        assert.ok(
          net.proxyLogs.some((l) => l.includes(expected) && l.includes("falling back")),
          `${mode}: ${net.proxyLogs.join("\n")}`,
        );
        assert.ok(net.engines[0].events.some((e) => e.type === "complete"), `${mode}: A did the work`);
        const row = await settled(net, jobId);
        assert.deepEqual([row.status, row.node_pubkey, row.released], ["completed", b, true], mode);
        assert.ok(BigInt(row.charged) > 0n && BigInt(row.charged) <= BigInt(row.reserved), mode);
        // The ledger: B earned its share of this job; A, which did the work, nothing.
        const after = await earnings(net, [a, b]);
        assert.equal(after[a], before[a], `${mode}: A was paid`);
        assert.ok(BigInt(after[b]) > BigInt(before[b] ?? 0), `${mode}: B was not paid`);
        const refused = await platformReceipt(net, jobId, a);
        assert.deepEqual(
          [refused.outcome, refused.error_code, refused.amount],
          ["failure", "answer_refused", "0"],
          mode,
        );
        for (const e of net.engines) e.events.length = 0;
      }

      // A replayed frame opens only after the first one did: past the first token the stream is
      // A's, so it ends in an error, and A is paid only what the consumer counted it received.
      net.spoil.mode = "replay";
      let jobId = "";
      const { data: stream, response } = await net.sdk.chat.completions.create({
        model: "m",
        messages: ask("answer me (replay)"),
        stream: true,
        provider: { order: [a, b] },
      } as OpenAI.ChatCompletionCreateParamsStreaming).withResponse();
      jobId = response.headers.get("x-infernet-job-id")!;
      await assert.rejects(
        async () => {
          for await (const _ of stream) { /* the first chunk, then the error */ }
        },
        (err: unknown) => err instanceof OpenAI.APIError && /frame 0 was already received/.test(err.message),
      );
      const row = await settled(net, jobId);
      assert.equal(row.node_pubkey, a);
      const receipt = await platformReceipt(net, jobId, a);
      const { reported, counted, billed } = receipt.usage;
      assert.ok(counted.completion_tokens < reported.completion_tokens, "the consumer counted less");
      // The settlement rule: the node's counts within the tolerance, else the lower of each.
      const diverges = usageDiverges(reported.prompt_tokens, counted.prompt_tokens) ||
        usageDiverges(reported.completion_tokens, counted.completion_tokens);
      const lower = (k: "prompt_tokens" | "completion_tokens") => Math.min(reported[k], counted[k]);
      assert.deepEqual(
        billed,
        diverges
          ? { prompt_tokens: lower("prompt_tokens"), completion_tokens: lower("completion_tokens") }
          : reported,
      );
      assert.deepEqual(await reconcile(db.sql), []);
    });
  },
);

testOnEachDatabase(
  "direct attacks - a consumer that never acks is settled on the node's receipt, within bounds, flagged",
  async (db) => {
    await withNet(db, { directAckWaitMs: 300 }, async (net) => {
      const b = net.nodes[1].pubkey;
      // B's engine over-reports its completion tokens tenfold; the ticket's max_tokens bounds the bill.
      net.engines[1].configure({ lie: "inflate_usage" });
      let jobId = "";
      const acks: string[] = [];
      // The consumer drops its usage ack (a crash, or a consumer hoping not to pay).
      const noAck: typeof fetch = (input, init) => {
        if (/\/usage$/.test(String(input))) {
          acks.push(String(input));
          return Promise.resolve(new Response(null, { status: 503 }));
        }
        return fetch(input, init);
      };
      let text = "";
      for await (
        const chunk of privateChat({
          server: net.url,
          apiKey: net.t.apiKey,
          body: { model: "m", messages: ask("a b c d e f g h"), stream: true, max_tokens: 4 },
          provider: { only: [b] },
          fetch: noAck,
          onRoute: (r) => jobId = r.job_id,
          onAckError: () => {},
        })
      ) {
        // deno-lint-ignore no-explicit-any
        text += (chunk as any).choices[0]?.delta?.content ?? "";
      }
      assert.ok(text.startsWith("Echo:"), text);
      assert.equal(acks.length, 1, "the ack was attempted and lost");
      const row = await settled(net, jobId);
      assert.deepEqual(
        [row.status, row.error_code, row.node_pubkey, row.released],
        ["completed", "no_consumer_ack", b, true],
      );
      assert.equal(
        row.completion_tokens,
        4,
        "the engine's inflated count, capped at the ticket's max_tokens",
      );
      assert.ok(BigInt(row.charged) > 0n && BigInt(row.charged) <= BigInt(row.reserved));
      const receipt = await platformReceipt(net, jobId, b);
      assert.deepEqual([receipt.outcome, receipt.error_code], ["success", "no_consumer_ack"]);
      assert.equal(receipt.usage.counted, null, "no consumer count");
      assert.ok(receipt.usage.reported.completion_tokens > 4);
      assert.deepEqual(await reconcile(db.sql), []);
    });
  },
);

/** Line 1 and the sealed request, as the consumer sends them. */
function requestLines(ticket: NostrEvent, consumerKey: Uint8Array, sealTo: string, body: unknown): string[] {
  const t = JSON.parse(ticket.content) as TicketContent;
  const s = new FrameSealer(conversationKey(consumerKey, sealTo), t.job_id, "c2n");
  return [
    JSON.stringify({ ticket, consumer: getPublicKey(consumerKey) }),
    ...s.message(JSON.stringify(body)),
    s.end(),
  ];
}

testOnEachDatabase(
  "direct attacks - tickets and requests that must not run are refused before the engine, and cost nothing",
  async (db) => {
    await withNet(db, { ticketTtlS: 2, jobTimeoutMs: 6_000, directAckWaitMs: 300 }, async (net) => {
      const [a, b] = net.nodes.map((n) => n.pubkey);
      const messages = ask("do not run me");
      const chat = { model: "m", messages, stream: true };
      const jobs: string[] = [];
      /** Routes a job for B first and A second; returns each candidate's ticket by node. */
      const route = async (consumerKey: Uint8Array) => {
        const res = await fetch(`${net.url}/v1/route`, {
          method: "POST",
          headers: { authorization: `Bearer ${net.t.apiKey}`, "content-type": "application/json" },
          body: JSON.stringify({
            model: "m",
            prompt_tokens: countPromptTokens(messages),
            max_tokens: 16,
            consumer: getPublicKey(consumerKey),
            provider: { order: [b, a] },
          }),
        });
        assert.equal(res.status, 200);
        const r = await res.json();
        jobs.push(r.job_id);
        return Object.fromEntries(
          r.candidates.map((c: { node: string; ticket: NostrEvent }) => [c.node, c.ticket]),
        ) as Record<string, NostrEvent>;
      };
      /** Posts to B's endpoint, or through the control plane's relay for `relayJob`. */
      const send = async (lines: string[], relayJob?: string) => {
        const res = await fetch(
          relayJob ? `${net.url}/v1/relay/${relayJob}?node=${b}` : `${net.direct[1]}/direct`,
          {
            method: "POST",
            headers: {
              "content-type": "application/x-ndjson",
              ...(relayJob ? { authorization: `Bearer ${net.t.apiKey}` } : {}),
            },
            body: lines.join("\n") + "\n",
          },
        );
        return { status: res.status, body: await res.json().catch(() => null) };
      };
      const refused = async (
        what: string,
        lines: string[],
        status: number,
        code: string,
        relayJob?: string,
      ) => {
        const got = await send(lines, relayJob);
        assert.deepEqual([got.status, got.body?.error?.code], [status, code], what);
        assert.ok(typeof got.body.error.message === "string" && got.body.error.message.length > 0, what);
        assert.deepEqual(net.engines[1].events, [], `${what}: the engine heard something`);
      };
      const key = generateSecretKey();
      let tickets = await route(key);
      const t = JSON.parse(tickets[b].content) as TicketContent;

      // Another control plane's key (a foreign or forged ticket).
      const foreign = createTicket(generateSecretKey(), t);
      await refused("foreign ticket", requestLines(foreign, key, b, chat), 401, "ticket_forged");
      // Altered after signing: a bigger max_tokens.
      const altered = {
        ...tickets[b],
        content: tickets[b].content.replace('"max_tokens":16', '"max_tokens":99'),
      };
      await refused("altered ticket", requestLines(altered, key, b, chat), 401, "ticket_forged");
      // A's ticket shown to B.
      await refused("ticket for another node", requestLines(tickets[a], key, b, chat), 403, "ticket_foreign");
      // The ticket is for m; the request asks B for m2.
      await refused(
        "ticket for another model",
        requestLines(tickets[b], key, b, { ...chat, model: "m2" }),
        400,
        "request_invalid",
      );

      // The request side's frames: each on a fresh job (a refused ticket is spent, as a used one).
      tickets = await route(key);
      await refused(
        "request sealed to another key",
        requestLines(tickets[b], key, getPublicKey(generateSecretKey()), chat),
        400,
        "frame_undecryptable",
      );
      tickets = await route(key);
      const [h1, m1, e1] = requestLines(tickets[b], key, b, chat);
      const flipped = [...atob(m1)];
      flipped[50] = String.fromCharCode(flipped[50].charCodeAt(0) ^ 1);
      await refused("tampered frame", [h1, btoa(flipped.join("")), e1], 400, "frame_undecryptable");
      tickets = await route(key);
      const [h2, m2, e2] = requestLines(tickets[b], key, b, chat);
      await refused("reordered frames", [h2, e2, m2], 400, "frame_out_of_order");
      tickets = await route(key);
      const [h3, m3, e3] = requestLines(tickets[b], key, b, chat);
      await refused("replayed frame", [h3, m3, m3, e3], 400, "frame_replayed");

      // Expired: the ticket lives 2 s.
      tickets = await route(key);
      await sleep(3_100);
      await refused("expired ticket", requestLines(tickets[b], key, b, chat), 401, "ticket_expired");

      // The same through the control plane's relay (for a node without an endpoint): the node
      // refuses, the relay answers with its code, and the engine hears nothing.
      tickets = await route(key);
      let job = jobs.at(-1)!;
      await refused(
        "relayed forged ticket",
        requestLines(createTicket(generateSecretKey(), JSON.parse(tickets[b].content)), key, b, chat),
        401,
        "ticket_forged",
        job,
      );
      await refused(
        "relayed ticket for another node",
        requestLines(tickets[a], key, b, chat),
        403,
        "ticket_foreign",
        job,
      );
      const [h4, m4, e4] = requestLines(tickets[b], key, b, chat);
      await refused("relayed replayed frame", [h4, m4, m4, e4], 400, "frame_replayed", job);
      tickets = await route(key);
      job = jobs.at(-1)!;
      await refused(
        "relayed request sealed to another key",
        requestLines(tickets[b], key, getPublicKey(generateSecretKey()), chat),
        400,
        "frame_undecryptable",
        job,
      );

      // Reused: the first use runs (and is paid once); the second is refused.
      tickets = await route(key);
      const ok = await fetch(`${net.direct[1]}/direct`, {
        method: "POST",
        headers: { "content-type": "application/x-ndjson" },
        body: requestLines(tickets[b], key, b, chat).join("\n") + "\n",
      });
      assert.equal(ok.status, 200);
      await ok.text();
      const ran = net.engines[1].events.filter((e) => e.type === "request").length;
      assert.equal(ran, 1);
      const again = await send(requestLines(tickets[b], key, b, chat));
      assert.deepEqual([again.status, again.body?.error?.code], [409, "ticket_reused"]);
      assert.equal(net.engines[1].events.filter((e) => e.type === "request").length, 1, "run once");
      assert.deepEqual(net.engines[0].events, [], "A heard nothing either");

      // Every refused job ends with nothing charged (reaped at the job timeout); the reused one once.
      const reusedJob = jobs.at(-1)!;
      for (const jobId of jobs) {
        const row = await settled(net, jobId, 20_000);
        assert.equal(row.released, true, jobId);
        if (jobId === reusedJob) assert.ok(BigInt(row.charged) > 0n, "the one run is paid");
        else assert.deepEqual([row.charged, row.node_pubkey], ["0", null], jobId);
      }
      const charged = await db.sql<{ n: number }[]>`
        select count(*)::int as n from job_charges where job_id in ${db.sql(jobs)} and charged > 0`;
      assert.equal(charged[0].n, 1);
      assert.deepEqual(await earnings(net, [a]), {});
      assert.deepEqual(await reconcile(db.sql), []);
    });
  },
);
