// The usage a consumer sees is the usage billed, end to end through a real daemon and the official
// openai SDK: a node that inflates its usage is billed our count, and its consumer is shown that.
import assert from "node:assert/strict";
import OpenAI from "openai";
import { findJobCharge, type Sql } from "../db/mod.ts";
import { testOnEachDatabase } from "../testing/databases.ts";
import { startNetwork } from "../testing/network.ts";
import { countChatPromptTokens, countText } from "../web/metering/count_tokens.ts";
import { sleep } from "../shared/mod.ts";

const MODEL = "infernet-test-echo";
const messages = [{ role: "user" as const, content: "hello infernet world" }];

/** The tokens charged for a job, once settled. */
async function chargedTokens(sql: Sql, jobId: string) {
  const [r] = await sql<{ prompt_tokens: number; completion_tokens: number }[]>`
    select prompt_tokens, completion_tokens from job_charges where job_id = ${jobId}`;
  return r;
}

testOnEachDatabase(
  "consumer usage e2e - a node inflating its usage 750-fold: the SDK sees the billed usage",
  async (db) => {
    const net = await startNetwork({ db, engines: [{ usageInflation: 750 }] });
    try {
      const sdk = new OpenAI({ baseURL: `${net.url}/v1`, apiKey: net.apiKey, maxRetries: 0 });
      const answer = "Echo: hello infernet world";
      // Ours agrees with the engine's prompt count (3 words), so the prompt is the engine's.
      const prompt = 3;
      assert.ok(Math.abs(countChatPromptTokens(messages) - prompt) < 16);
      const completion = countText(answer);
      const billed = {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
      };

      const { data, response } = await sdk.chat.completions.create({ model: MODEL, messages }).withResponse();
      assert.equal(data.choices[0].message.content, answer);
      assert.deepEqual(data.usage, billed);
      const plainId = response.headers.get("x-infernet-job-id")!;

      const { data: stream, response: streamed } = await sdk.chat.completions.create({
        model: MODEL,
        messages,
        stream: true,
        stream_options: { include_usage: true },
      }).withResponse();
      const streamId = streamed.headers.get("x-infernet-job-id")!;
      let text = "";
      const usages: unknown[] = [];
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta?.content ?? "";
        if (chunk.usage) usages.push(chunk.usage);
      }
      assert.equal(text, answer);
      assert.deepEqual(usages, [billed]);

      await Promise.allSettled([...net.cp.runDeps.pending]);
      await net.cp.recorder.flush();
      await sleep(0);
      const want = { prompt_tokens: prompt, completion_tokens: completion };
      assert.deepEqual(await chargedTokens(db.sql, plainId), want);
      assert.ok((await findJobCharge(db.sql, plainId))?.settled);
      assert.deepEqual(await chargedTokens(db.sql, streamId), want);
      // The node's claim is kept beside our count.
      const [job] = await db.sql<{ engine_completion_tokens: number; completion_tokens: number }[]>`
        select engine_completion_tokens, completion_tokens from jobs where id = ${streamId}`;
      assert.deepEqual(job, { engine_completion_tokens: 4 * 750, completion_tokens: completion });
    } finally {
      await net.close();
    }
  },
);
