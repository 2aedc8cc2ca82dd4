// POST /v1/relay/:job_id?node=<hex> (docs/protocol.md §14): a direct request for a node with no
// reachable endpoint, carried over the node's job socket. The body's lines (the header, then
// encrypted frames) go to the node as opaque strings, and the node's answer lines come back the
// same way, as NDJSON: this server checks that each is a string of bounded size, nothing more —
// it holds no key that opens them (testing/import_directions.ts keeps it so). Among several
// instances the job may have been routed elsewhere (its terms are asked there) and the node's
// socket may be held elsewhere (its RemoteLink carries the lines over NATS, as opaque).
import type { AppContext } from "../../app_env.ts";
import { isRecord } from "../../../shared/json/is_record.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { type JobEvent, TIMED_OUT } from "../../dispatch/job_channel.ts";
import { HttpError } from "../../http_error.ts";
import { LineLimitError, ndjsonLines } from "../../direct/ndjson_lines.ts";
import type { ApiCaller } from "./api_key_auth.ts";
import { ownerError, type RemoteTerms } from "../../cluster/direct_peers.ts";

const encoder = new TextEncoder();
const NDJSON_HEADERS = { "content-type": "application/x-ndjson", "cache-control": "no-store" };

// A node's refusal before any frame, by code: the statuses of its own `POST /direct`
// (docs/protocol.md §14); clients rely on the code.
const REFUSAL_STATUS: Record<string, number> = {
  ticket_invalid: 400,
  ticket_forged: 401,
  ticket_expired: 401,
  ticket_foreign: 403,
  ticket_reused: 409,
  model_not_served: 404,
  model_key_not_granted: 403,
  node_busy: 503,
  platform_key_unknown: 503,
};

function refusalStatus(code: string): number {
  return REFUSAL_STATUS[code] ?? 400;
}

function tooLarge(err: LineLimitError): HttpError {
  return new HttpError(413, `The relayed request was refused: ${err.message}.`, {
    code: "request_too_large",
    cause: err,
  });
}

/** A job's terms, here or from the instance that routed it (web/cluster/direct_peers.ts). */
async function jobTerms(cp: ControlPlane, jobId: string): Promise<RemoteTerms> {
  const peers = cp.cluster?.direct;
  const owner = peers?.remoteOwner(jobId) ?? null;
  const terms = owner === null ? cp.direct.terms(jobId) : await peers!.terms(owner, jobId);
  if (terms && "unreachable" in terms) throw ownerError(jobId, terms);
  if (!terms) throw new HttpError(404, `No direct job ${jobId} is open.`, { code: "job_not_found" });
  return terms;
}

/** The handler for relayed direct requests. */
export function relayDirect(cp: ControlPlane) {
  return async (c: AppContext): Promise<Response> => {
    const caller = c.get("caller") as ApiCaller;
    const jobId = c.req.param("job_id") ?? "";
    const node = c.req.query("node") ?? "";
    const terms = await jobTerms(cp, jobId);
    c.set("jobId", jobId);
    if (terms.apiKeyId !== caller.apiKeyId) {
      throw new HttpError(403, "This job was routed for another API key.", { code: "permission_denied" });
    }
    if (!terms.candidates.includes(node)) {
      throw new HttpError(404, "That node holds no ticket for this job.", {
        code: "node_not_candidate",
        param: "node",
      });
    }
    const conn = cp.registry.get(node)?.connection;
    if (!conn?.open) {
      throw new HttpError(503, "That node is not connected; try the next candidate.", {
        code: "node_unavailable",
      });
    }
    const body = c.req.raw.body;
    if (!body) throw new HttpError(400, "The request has no body.", { code: "invalid_request" });
    const lines = ndjsonLines(body);
    let header: unknown;
    try {
      const first = await lines.next();
      header = first.done ? null : JSON.parse(first.value);
    } catch (err) {
      if (err instanceof LineLimitError) throw tooLarge(err);
      header = null;
    }
    if (!isRecord(header)) {
      throw new HttpError(400, "Line 1 must be the header object {ticket, consumer}.", {
        code: "invalid_request",
      });
    }

    const channel = conn.openRelay(jobId, header);
    const signal = c.req.raw.signal;
    let ended = false;
    const end = () => {
      ended = true;
      signal.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      if (!ended) conn.cancelJob(jobId, "client disconnected");
      end();
    };
    signal.addEventListener("abort", onAbort, { once: true });
    let refusal: HttpError | null = null;
    void (async () => {
      try {
        for await (const line of lines) if (!conn.relayFrame(jobId, line)) return;
      } catch (err) {
        if (err instanceof LineLimitError) refusal = tooLarge(err);
        conn.cancelJob(jobId, refusal ? "request too large" : "request body failed");
      }
    })();

    const first = await channel.next(cp.config.firstTokenTimeoutMs);
    if (first === TIMED_OUT || first.type === "lost" || first.type === "fail" || first.type === "response") {
      if (first === TIMED_OUT) conn.cancelJob(jobId, "no answer in time");
      end();
      if (refusal) throw refusal;
      if (first === TIMED_OUT) {
        throw new HttpError(504, "The node did not answer in time.", { code: "node_timeout" });
      }
      if (first.type === "fail") {
        return Response.json({ error: { code: first.code, message: first.message } }, {
          status: refusalStatus(first.code),
          headers: { "x-request-id": jobId },
        });
      }
      throw new HttpError(502, "The node went away before it answered.", { code: "node_failed" });
    }
    let pending: JobEvent | null = first;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        let out = "";
        for (let i = 0; i < 1000; i++) {
          const ev = pending ?? (out ? channel.poll() : await channel.next(cp.config.streamIdleTimeoutMs));
          pending = null;
          if (ev === null) break;
          if (ev !== TIMED_OUT && ev.type === "chunks") {
            out += ev.data.join("\n") + "\n";
            continue;
          }
          // The end, a failure, a lost node or silence: the stream stops here. Whether the node's
          // own end frame came is the consumer's to see (it alone can open the frames).
          if (ev === TIMED_OUT) conn.cancelJob(jobId, "relay went silent");
          end();
          if (out) controller.enqueue(encoder.encode(out));
          controller.close();
          return;
        }
        if (out) controller.enqueue(encoder.encode(out));
      },
      cancel() {
        onAbort();
      },
    });
    return new Response(stream, { headers: { ...NDJSON_HEADERS, "x-request-id": jobId } });
  };
}
