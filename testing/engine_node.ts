// A node attached in-process to a test control plane and backed by an engine handler (the test
// engine's, usually): the whole consumer path without a daemon process, fast enough for the
// hundreds of jobs verification tests send.
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { createLogger, createNodeRecord, type NodeFrame, verifyNodeRecord } from "../shared/mod.ts";
import type { NodeAdvert } from "../shared/nostr/node_record.ts";
import type { ControlPlane } from "../web/control_plane.ts";
import { NodeConnection } from "../web/dispatch/node_connection.ts";
import { sampleAdvert } from "./node_advert.ts";

/** A node serving a control plane in-process. */
export interface EngineNode {
  pubkey: string;
  secretKey: Uint8Array;
}

/** Registers a node with `advert` and answers its jobs with `engine` (non-stream and stream). */
export async function attachEngineNode(
  cp: ControlPlane,
  engine: (req: Request) => Promise<Response>,
  advert: Partial<NodeAdvert> = {},
): Promise<EngineNode> {
  const secretKey = generateSecretKey();
  const pubkey = getPublicKey(secretKey);
  const record = verifyNodeRecord(
    createNodeRecord(secretKey, sampleAdvert({ maxConcurrency: 8, ...advert })),
  );
  if (!record.ok) throw new Error(`the test node's record is invalid: ${record.reason}`);
  await cp.registry.register(record.record);
  const conn: NodeConnection = new NodeConnection(pubkey, {
    send(text) {
      const frame = JSON.parse(text);
      if (frame.type !== "job") return;
      answer(frame).then((frames) => {
        for (const f of frames) conn.handleFrame(f);
      });
    },
    close() {},
  }, createLogger({ level: "silent" }));
  const answer = async (job: { job_id: string; kind: string; body: unknown }): Promise<NodeFrame[]> => {
    const path = job.kind === "chat" ? "/v1/chat/completions" : "/v1/embeddings";
    const res = await engine(
      new Request(`http://engine.test${path}`, { method: "POST", body: JSON.stringify(job.body) }),
    );
    const body = await res.text();
    if (!res.headers.get("content-type")?.startsWith("text/event-stream")) {
      return [{ type: "response", job_id: job.job_id, status: res.status, body }];
    }
    const data = body.split("\n\n").filter((l) => l.startsWith("data: ") && l !== "data: [DONE]")
      .map((l) => l.slice(6));
    return [{ type: "chunks", job_id: job.job_id, data }, { type: "end", job_id: job.job_id }];
  };
  cp.registry.attach(pubkey, conn);
  return { pubkey, secretKey };
}
