// Running an admitted direct-mode request (docs/protocol.md §14) with the gateway's own engine
// proxy: its frames become sealed n2c frames, one message per SSE data payload of a stream (the
// engine's chunk JSON, never [DONE]) or one message for a whole answer, then `end`; a failure is an
// `error` frame. What went out is watched as for gateway jobs, for the node's receipt.
import type { NodeFrame } from "../../shared/mod.ts";
import { proxyJob } from "./engine_proxy.ts";
import type { EngineClient } from "./engine_http.ts";
import { JobOutput } from "./job_receipt.ts";
import type { AdmittedDirect } from "./direct_admission.ts";

/** How a direct job ended, and what it sent (for its receipt). */
export interface DirectRun {
  outcome: "completed" | "failed" | "cancelled";
  output: JobOutput;
}

/**
 * Runs `admitted` against the engine; `emit` gets each sealed frame (a NIP-44 payload), in order,
 * `last` set on the final one (`end` or `error`), so the answer can go out then. What the receipt
 * needs is only noted here (JobOutput reads the frames when the receipt is made).
 */
export async function runDirect(
  admitted: Pick<AdmittedDirect, "job" | "sealer"> & { foldEnd?: boolean },
  engine: EngineClient,
  emit: (payload: string, last: boolean) => void,
  signal: AbortSignal,
): Promise<DirectRun> {
  const { sealer } = admitted;
  const output = new JobOutput();
  let closed = false;
  const close = (frame: string) => {
    if (closed) return;
    closed = true;
    output.finish();
    emit(frame, true);
  };
  // The frame goes out first: what the receipt needs is read from it after.
  const send = (f: NodeFrame) => {
    deliver(f);
    output.observe(f);
  };
  const deliver = (f: NodeFrame) => {
    if (closed) return;
    switch (f.type) {
      case "chunks":
        for (const data of f.data) for (const p of sealer.message(data)) emit(p, false);
        return;
      case "response":
        if (f.status < 400 && admitted.foldEnd) {
          // One message and the end, folded into its last frame.
          const frames = sealer.message(f.body, { end: true });
          const last = frames.pop()!;
          for (const p of frames) emit(p, false);
          close(last);
        } else if (f.status < 400) {
          for (const p of sealer.message(f.body)) emit(p, false);
          close(sealer.end());
        } else {
          close(sealer.error("engine_error", `engine answered ${f.status}: ${f.body}`));
        }
        return;
      case "end":
        close(sealer.end());
        return;
      case "fail":
        close(sealer.error(f.code, f.message));
        return;
    }
  };
  const outcome = await proxyJob(admitted.job, engine, send, signal);
  if (outcome === "cancelled") close(sealer.error("cancelled", "the request was cancelled"));
  return { outcome, output };
}
