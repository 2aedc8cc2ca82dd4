// The usage a consumer sees is the usage billed, whatever the node claims; and the run keeps each
// choice's output text for the receipt's hash. Against a scripted node, in-process.
import assert from "node:assert/strict";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import type { NodeFrame } from "../../../shared/mod.ts";
import type { TestControlPlane } from "../../../testing/control_plane.ts";
import { withScriptedNode } from "../../../testing/scripted_node.ts";
import type { JobRun } from "../../jobs/job_run.ts";
import { countChatPromptTokens, countText } from "../../metering/count_tokens.ts";
import { choiceIndex, consumerUsage, isSameUsage } from "./consumer_usage.ts";

const MESSAGES = [{ role: "user", content: "hi there" }];
const PROMPT = countChatPromptTokens(MESSAGES);
const hex = (text: string) => bytesToHex(sha256(new TextEncoder().encode(text)));

const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion.chunk",
    created: 1,
    model: "m",
    system_fingerprint: "fp_node",
    choices,
    ...extra,
  });
const delta = (index: number, content: string) => ({ index, delta: { content }, finish_reason: null });

function answer(choices: unknown[], usage?: unknown): string {
  return JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: "m",
    system_fingerprint: "fp_node",
    choices,
    ...(usage === undefined ? {} : { usage }),
  });
}
const message = (index: number, content: unknown) => ({
  index,
  message: { role: "assistant", content },
  finish_reason: "stop",
});

function post(path: string, apiKey: string, body: Record<string, unknown>): Request {
  return new Request(`http://control.test${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** The tokens the job's row and its charge hold, once written. */
async function recorded(t: TestControlPlane, jobId: string) {
  await Promise.allSettled([...t.cp.runDeps.pending]);
  await t.cp.recorder.flush();
  const [job] = await t.cp.db.sql<Record<string, number | null>[]>`
    select prompt_tokens, completion_tokens, engine_prompt_tokens, engine_completion_tokens,
      counted_prompt_tokens, counted_completion_tokens
    from jobs where id = ${jobId}`;
  const [charge] = await t.cp.db.sql<{ prompt_tokens: number; completion_tokens: number }[]>`
    select prompt_tokens, completion_tokens from job_charges where job_id = ${jobId}`;
  return { job, charge };
}

/** Keeps every run the control plane starts (to read what it holds once it has ended). */
function watchRuns(t: TestControlPlane): JobRun[] {
  const runs: JobRun[] = [];
  const active = t.cp.runDeps.active;
  const set = active.set.bind(active);
  active.set = (id, run) => {
    runs.push(run);
    return set(id, run);
  };
  return runs;
}

/** The `data:` payloads of an SSE body. */
async function sseData(res: Response): Promise<string[]> {
  const text = await res.text();
  return text.split("\n\n").filter((f) => f.startsWith("data: ")).map((f) => f.slice(6));
}

Deno.test("consumer usage - a node claiming 3,000 completion tokens for a short answer: the answer shows what is billed", async () => {
  const claim = { prompt_tokens: PROMPT, completion_tokens: 3000, total_tokens: PROMPT + 3000 };
  const body = answer([message(0, "Hello there, friend")], {
    ...claim,
    prompt_tokens_details: { cached_tokens: 2 },
  });
  await withScriptedNode(
    (id) => [{ type: "response", job_id: id, status: 200, body }],
    async (app, apiKey, t) => {
      const res = await app.request(post("/v1/chat/completions", apiKey, { model: "m", messages: MESSAGES }));
      const got = await res.json();
      assert.equal(res.status, 200, JSON.stringify(got));
      const completion = countText("Hello there, friend");
      assert.deepEqual(got.usage, {
        prompt_tokens: PROMPT,
        completion_tokens: completion,
        total_tokens: PROMPT + completion,
      });
      // Every other field is the node's.
      assert.equal(got.system_fingerprint, "fp_node");
      assert.equal(got.choices[0].message.content, "Hello there, friend");
      const { job, charge } = await recorded(t, res.headers.get("x-infernet-job-id")!);
      assert.deepEqual(charge, { prompt_tokens: PROMPT, completion_tokens: completion });
      // The node's claim stays in the row beside our count.
      assert.equal(job.engine_completion_tokens, 3000);
      assert.equal(job.counted_completion_tokens, completion);
      assert.equal(job.completion_tokens, completion);
    },
  );
});

Deno.test("consumer usage - a usage that agrees with ours is the node's, and the body goes out byte for byte", async () => {
  const completion = countText("Hello there") + 1; // Close enough to ours: the node's count stands.
  const usage = {
    prompt_tokens: PROMPT + 2,
    completion_tokens: completion,
    total_tokens: PROMPT + 2 + completion,
  };
  const body = answer([message(0, "Hello there")], usage);
  await withScriptedNode(
    (id) => [{ type: "response", job_id: id, status: 200, body }],
    async (app, apiKey, t) => {
      const res = await app.request(post("/v1/chat/completions", apiKey, { model: "m", messages: MESSAGES }));
      assert.equal(await res.text(), body);
      const { charge } = await recorded(t, res.headers.get("x-infernet-job-id")!);
      assert.deepEqual(charge, { prompt_tokens: PROMPT + 2, completion_tokens: completion });
    },
  );
});

Deno.test("consumer usage - the stream's usage chunk shows the billed tokens, with the node's other fields", async () => {
  const claim = { prompt_tokens: PROMPT, completion_tokens: 3000, total_tokens: PROMPT + 3000 };
  const script = (id: string): NodeFrame[] => [
    { type: "chunks", job_id: id, data: [chunk([delta(0, "Hel")], { usage: null })] },
    {
      type: "chunks",
      job_id: id,
      // A node that puts its usage on a chunk with choices, and in the usage-only chunk.
      data: [
        chunk([delta(0, "lo")], { usage: claim }),
        chunk([], { usage: claim, system_fingerprint: "fp_u" }),
      ],
    },
    { type: "end", job_id: id },
  ];
  for (const includeUsage of [true, false]) {
    await withScriptedNode(script, async (app, apiKey, t) => {
      const res = await app.request(post("/v1/chat/completions", apiKey, {
        model: "m",
        messages: MESSAGES,
        stream: true,
        ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
      }));
      const data = await sseData(res);
      assert.equal(data.pop(), "[DONE]");
      const chunks = data.map((d) => JSON.parse(d));
      const completion = countText("Hello");
      const { charge } = await recorded(t, res.headers.get("x-infernet-job-id")!);
      assert.deepEqual(charge, { prompt_tokens: PROMPT, completion_tokens: completion });
      const withUsage = chunks.filter((c) => c.usage);
      if (!includeUsage) {
        assert.deepEqual(withUsage, [], "no usage unless asked for");
        return;
      }
      assert.equal(withUsage.length, 1, "one usage chunk");
      assert.equal(chunks.at(-1), withUsage[0], "last before [DONE]");
      assert.deepEqual(withUsage[0], {
        id: "chatcmpl-1",
        object: "chat.completion.chunk",
        created: 1,
        model: "m",
        system_fingerprint: "fp_u",
        choices: [],
        usage: { prompt_tokens: PROMPT, completion_tokens: completion, total_tokens: PROMPT + completion },
      });
    });
  }
});

Deno.test("consumer usage - embeddings show the billed prompt tokens in OpenAI's embeddings shape", async () => {
  const body = JSON.stringify({
    object: "list",
    data: [{ object: "embedding", index: 0, embedding: [0.5, -0.5] }],
    model: "m",
    usage: { prompt_tokens: 900, total_tokens: 900 },
  });
  await withScriptedNode(
    (id) => [{ type: "response", job_id: id, status: 200, body }],
    async (app, apiKey, t) => {
      const res = await app.request(post("/v1/embeddings", apiKey, { model: "m", input: "two words" }));
      const got = await res.json();
      assert.equal(res.status, 200, JSON.stringify(got));
      const prompt = countText("two words");
      assert.deepEqual(got.usage, { prompt_tokens: prompt, total_tokens: prompt });
      assert.deepEqual(got.data, [{ object: "embedding", index: 0, embedding: [0.5, -0.5] }]);
      const { charge } = await recorded(t, res.headers.get("x-infernet-job-id")!);
      assert.deepEqual(charge, { prompt_tokens: prompt, completion_tokens: 0 });
    },
  );
});

Deno.test("job output - a stream of two choices, interleaved: each choice's text, in index order, hashed", async () => {
  const script = (id: string): NodeFrame[] => [
    { type: "chunks", job_id: id, data: [chunk([delta(1, "B1 ")]), chunk([delta(0, "A1 ")])] },
    { type: "chunks", job_id: id, data: [chunk([delta(0, "A2"), delta(1, "B2")]), chunk([delta(1, "é")])] },
    { type: "end", job_id: id },
  ];
  await withScriptedNode(script, async (app, apiKey, t) => {
    const runs = watchRuns(t);
    const res = await app.request(post("/v1/chat/completions", apiKey, {
      model: "m",
      messages: MESSAGES,
      stream: true,
      n: 2,
      stream_options: { include_usage: true },
    }));
    const data = await sseData(res);
    const usage = JSON.parse(data.at(-2)!).usage;
    assert.equal(runs.length, 1);
    const text = "A1 A2B1 B2é";
    assert.equal(runs[0].outputHash, hex(text));
    assert.equal(usage.completion_tokens, countText(text));
    assert.equal(runs[0].outputText(), "", "the text is dropped once metered");
  });
});

Deno.test("job output - a non-streamed answer of two choices: their contents in index order; no content counts as empty", async () => {
  const body = answer([message(1, "second"), message(0, "first "), message(2, null)]);
  await withScriptedNode(
    (id) => [{ type: "response", job_id: id, status: 200, body }],
    async (app, apiKey, t) => {
      const runs = watchRuns(t);
      const res = await app.request(
        post("/v1/chat/completions", apiKey, { model: "m", messages: MESSAGES, n: 3 }),
      );
      const got = await res.json();
      assert.equal(runs[0].outputHash, hex("first second"));
      assert.equal(got.usage.completion_tokens, countText("first second"));
    },
  );
});

Deno.test("job output - a job no node served has no output hash", async () => {
  await withScriptedNode(
    (id) => [{ type: "fail", job_id: id, code: "engine_unavailable", message: "down", started: false }],
    async (app, apiKey, t) => {
      const runs = watchRuns(t);
      const res = await app.request(post("/v1/chat/completions", apiKey, { model: "m", messages: MESSAGES }));
      await res.body?.cancel();
      assert.ok(res.status >= 500, String(res.status));
      await recorded(t, res.headers.get("x-infernet-job-id") ?? "");
      assert.equal(runs.length, 1);
      assert.equal(runs[0].node, null);
      assert.equal(runs[0].outputHash, null);
      assert.deepEqual(runs[0].billed, { prompt: 0, completion: 0 });
    },
  );
});

Deno.test("consumer usage - the usage shapes, their comparison and choice indexes", () => {
  assert.deepEqual(consumerUsage("chat", { prompt: 3, completion: 4 }), {
    prompt_tokens: 3,
    completion_tokens: 4,
    total_tokens: 7,
  });
  assert.deepEqual(consumerUsage("embeddings", { prompt: 3, completion: 0 }), {
    prompt_tokens: 3,
    total_tokens: 3,
  });
  const u = consumerUsage("chat", { prompt: 3, completion: 4 });
  assert.ok(isSameUsage({ total_tokens: 7, prompt_tokens: 3, completion_tokens: 4 }, u));
  assert.ok(!isSameUsage({ ...u, prompt_tokens_details: null }, u));
  assert.ok(!isSameUsage({ ...u, completion_tokens: 5 }, u));
  assert.ok(!isSameUsage(null, u));
  assert.equal(choiceIndex({ index: 2 }, 0), 2);
  assert.equal(choiceIndex({ index: -1 }, 1), 1);
  assert.equal(choiceIndex({ index: "0" }, 3), 3);
  assert.equal(choiceIndex(null, 4), 4);
});
