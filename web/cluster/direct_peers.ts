// Direct-mode jobs among several instances (docs/protocol.md §14, docs/architecture.md "Several
// instances"). A direct job lives on the instance that answered its `POST /v1/route`: its JobRun,
// hold and lease stay there. Its id names that instance (`job_<32 hex>-<instance>`), so whichever
// instance a relay request, a usage ack or the node's receipt reaches asks the owner over NATS
// request/reply on the owner's subject; the owner checks and settles, once. An owner that is gone
// has no responder: the caller learns it at once, and the hold goes back with the owner's lease.
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { RequestError } from "@nats-io/transport-node";
import { fastestSecp256k1, isRecord, type Logger, verifyNodeReceipt } from "../../shared/mod.ts";
import type { VerifiedNodeReceipt } from "../../shared/mod.ts";
import { verifyUsageAck } from "../../shared/direct/acks.ts";
import type { AckRefusal, DirectJobs, DirectJobTerms } from "../direct/direct_jobs.ts";
import { newJobId } from "../jobs/job_run.ts";
import { HttpError } from "../http_error.ts";

/** Options of {@link DirectPeers}. */
export interface DirectPeersOptions {
  nc: NatsConnection;
  /** The deployment's subject prefix. */
  prefix: string;
  instance: string;
  direct: DirectJobs;
  log: Logger;
  /** The longest an owner is waited for (default 5,000 ms). */
  timeoutMs?: number;
}

/** What a relay request learns of a job from its owner. */
export type RemoteTerms = Pick<DirectJobTerms, "apiKeyId" | "candidates">;

/** Why an owner could not be asked: it is gone (no responder), or it did not answer in time. */
export type OwnerUnreachable = { unreachable: string; gone: boolean };

/** The consumer's error for an owner that could not be asked (docs/protocol.md §14). */
export function ownerError(jobId: string, u: OwnerUnreachable): HttpError {
  return u.gone
    ? new HttpError(404, `No direct job ${jobId} is open: ${u.unreachable}, and the job with it.`, {
      code: "job_not_found",
    })
    : new HttpError(503, `Job ${jobId} could not be reached: ${u.unreachable}; try again.`, {
      code: "job_owner_unavailable",
    });
}

type Ask =
  | { op: "terms"; job: string }
  | { op: "ack"; job: string; key: string; ack: unknown }
  | { op: "receipt"; node: string; event: unknown };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The subject an instance answers its direct jobs' questions on. */
export function directSubject(prefix: string, instance: string): string {
  return `${prefix}.direct.${instance}`;
}

/** The instance a direct job's id names, or null for an id that names none (a lone instance's). */
export function ownerOfJob(jobId: string): string | null {
  const m = /^job_[0-9a-f]{32}-([A-Za-z0-9_]+)$/.exec(jobId);
  return m ? m[1] : null;
}

function parseAsk(data: Uint8Array): Ask | null {
  try {
    const v = JSON.parse(decoder.decode(data));
    if (!isRecord(v)) return null;
    if (v.op === "terms" && typeof v.job === "string") return v as Ask;
    if (v.op === "ack" && typeof v.job === "string" && typeof v.key === "string") return v as Ask;
    if (v.op === "receipt" && typeof v.node === "string") return v as Ask;
  } catch {
    // Not JSON: refused below.
  }
  return null;
}

/** This instance's side of the direct jobs of a deployment: it answers for its own, asks for the others'. */
export class DirectPeers {
  #o: Required<DirectPeersOptions>;
  #sub: Subscription | null = null;

  constructor(opts: DirectPeersOptions) {
    this.#o = { timeoutMs: 5000, ...opts };
  }

  /** Starts answering on this instance's subject. */
  start(): void {
    const { nc, prefix, instance, log } = this.#o;
    this.#sub = nc.subscribe(directSubject(prefix, instance), {
      callback: (err, msg) => {
        if (err) {
          log.warn("direct subject error", { err });
          return;
        }
        const ask = parseAsk(msg.data);
        if (!ask) {
          log.warn("bad direct question", { bytes: msg.data.length });
          msg.respond(encoder.encode(JSON.stringify({ error: "bad question" })));
          return;
        }
        void this.#answer(ask).then(
          (a) => msg.respond(encoder.encode(JSON.stringify(a))),
          (err) => {
            log.error("direct question failed", { op: ask.op, err });
            msg.respond(encoder.encode(JSON.stringify({ error: String(err) })));
          },
        );
      },
    });
  }

  /** A new direct job's id, naming this instance. */
  newJobId(): string {
    return `${newJobId()}-${this.#o.instance}`;
  }

  /** The instance owning a job when it is another one; null when it is this one (or none is named). */
  remoteOwner(jobId: string): string | null {
    const owner = ownerOfJob(jobId);
    return owner === null || owner === this.#o.instance ? null : owner;
  }

  /** A job's terms from its owner: null when it knows no such job, OwnerUnreachable when it cannot be asked. */
  async terms(owner: string, jobId: string): Promise<RemoteTerms | null | OwnerUnreachable> {
    const r = await this.#ask(owner, { op: "terms", job: jobId });
    if ("unreachable" in r) return r;
    const a = r.answer;
    const t = a.terms;
    if (!isRecord(t) || typeof t.apiKeyId !== "string" || !Array.isArray(t.candidates)) return null;
    if (!t.candidates.every((c) => typeof c === "string")) return null;
    return { apiKeyId: BigInt(t.apiKeyId), candidates: t.candidates as string[] };
  }

  /** Hands a usage ack (as received) to the job's owner: its refusal, null when accepted. */
  async ack(
    owner: string,
    jobId: string,
    apiKeyId: bigint,
    ack: unknown,
  ): Promise<AckRefusal | null | OwnerUnreachable> {
    const r = await this.#ask(owner, { op: "ack", job: jobId, key: apiKeyId.toString(), ack });
    if ("unreachable" in r) return r;
    return isRecord(r.answer.refusal) ? r.answer.refusal as AckRefusal : null;
  }

  /** Hands a node receipt this instance accepted to the owner of its job (a direct job of another). */
  forwardReceipt(owner: string, node: string, receipt: VerifiedNodeReceipt): void {
    const jobId = receipt.content.task_id;
    void this.#ask(owner, { op: "receipt", node, event: receipt.event }).then(
      (r) => {
        if ("unreachable" in r) {
          this.#o.log.warn("direct job's owner gone; its receipt is not settled", { jobId, owner });
        }
      },
      (err) => this.#o.log.error("direct job's receipt not forwarded", { jobId, owner, err }),
    );
  }

  async #ask(owner: string, ask: Ask): Promise<{ answer: Record<string, unknown> } | OwnerUnreachable> {
    const { nc, prefix, timeoutMs } = this.#o;
    try {
      const msg = await nc.request(directSubject(prefix, owner), encoder.encode(JSON.stringify(ask)), {
        timeout: timeoutMs,
      });
      const v = JSON.parse(decoder.decode(msg.data));
      if (!isRecord(v) || typeof v.error === "string") {
        throw new Error(`instance ${owner} could not answer: ${isRecord(v) ? v.error : "not an object"}`);
      }
      return { answer: v };
    } catch (err) {
      if (err instanceof RequestError && err.isNoResponders()) {
        return { unreachable: `instance ${owner}, which routed it, is gone`, gone: true };
      }
      if (err instanceof Error && err.name === "TimeoutError") {
        return {
          unreachable: `instance ${owner}, which routed it, did not answer within ${timeoutMs} ms`,
          gone: false,
        };
      }
      throw err;
    }
  }

  async #answer(ask: Ask): Promise<Record<string, unknown>> {
    const { direct } = this.#o;
    switch (ask.op) {
      case "terms": {
        const t = direct.terms(ask.job);
        return { terms: t && { apiKeyId: t.apiKeyId.toString(), candidates: t.candidates } };
      }
      case "ack": {
        // Checked again here: only a verified ack moves money, wherever it was received.
        const { verifyEvent } = await fastestSecp256k1();
        const checked = verifyUsageAck(ask.ack, { verify: verifyEvent });
        if (!checked.ok) {
          const refusal = {
            status: 400,
            code: "ack_invalid",
            message: `The usage ack was refused: ${checked.reason}.`,
          };
          return { refusal };
        }
        return { refusal: direct.ack(ask.job, BigInt(ask.key), checked.ack) };
      }
      case "receipt": {
        const { verifyEvent } = await fastestSecp256k1();
        const checked = verifyNodeReceipt(ask.event, { verifyEvent });
        if (!checked.ok || checked.value.event.pubkey !== ask.node) {
          this.#o.log.warn("forwarded node receipt refused", { node: ask.node });
          return { ok: false };
        }
        direct.nodeReceipt(ask.node, checked.value);
        return { ok: true };
      }
    }
  }

  /** Stops answering: from now on the others learn this instance is gone. */
  close(): void {
    this.#sub?.unsubscribe();
    this.#sub = null;
  }
}
