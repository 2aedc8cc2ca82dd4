// A node that answers every job from a script, attached in-process to a test control plane: the
// /v1 handlers tested without a daemon or an engine.
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { createLogger, createNodeRecord, type NodeFrame, verifyNodeRecord } from "../shared/mod.ts";
import { sampleAdvert } from "./node_advert.ts";
import { createApp } from "../web/app.ts";
import { NodeConnection } from "../web/dispatch/node_connection.ts";
import { openTestControlPlane, type TestControlPlane } from "./control_plane.ts";

/** A node that answers every job with `script(jobId)`, all frames at once (after `delayMs`). */
export async function withScriptedNode(
  script: (jobId: string) => NodeFrame[],
  fn: (app: ReturnType<typeof createApp>, apiKey: string, t: TestControlPlane) => Promise<void>,
  delayMs = 0,
  advert = sampleAdvert(),
): Promise<void> {
  const t = await openTestControlPlane();
  try {
    const sk = generateSecretKey();
    const record = verifyNodeRecord(createNodeRecord(sk, advert));
    assert.ok(record.ok);
    await t.cp.registry.register(record.record);
    const conn: NodeConnection = new NodeConnection(getPublicKey(sk), {
      send(text) {
        const frame = JSON.parse(text);
        if (frame.type !== "job") return;
        const answer = () => {
          for (const f of script(frame.job_id)) conn.handleFrame(f);
        };
        if (delayMs > 0) setTimeout(answer, delayMs);
        else queueMicrotask(answer);
      },
      close() {},
    }, createLogger({ level: "silent" }));
    t.cp.registry.attach(getPublicKey(sk), conn);
    await fn(createApp(t.cp), t.apiKey, t);
  } finally {
    await t.close();
  }
}
