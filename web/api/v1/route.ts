// POST /v1/route (docs/protocol.md §14, direct mode): routes and holds as a gateway job does, then
// answers with the candidate nodes and one ticket per node, signed with the platform key, instead
// of sending the job. The consumer calls a node itself (or through /v1/relay); the job settles on
// the node's receipt and the consumer's usage ack (web/direct/direct_jobs.ts). Among several
// instances the job's id names this one, which keeps it (web/cluster/direct_peers.ts).
import type { AppContext } from "../../app_env.ts";
import { buyerDidOf, fastestSecp256k1 } from "../../../shared/mod.ts";
import { createTicket, type TicketContent } from "../../../shared/direct/ticket.ts";
import { npubEncode } from "nostr-tools/nip19";
import { grantedModelKeys } from "../../../db/mod.ts";
import { holdJob } from "../../billing/job_hold.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { HttpError } from "../../http_error.ts";
import { JobRun } from "../../jobs/job_run.ts";
import { parseRouteRequest } from "../../direct/route_request.ts";
import type { ApiCaller } from "./api_key_auth.ts";
import { countJobPrompt } from "./job_count.ts";
import { routeJob } from "./job_route.ts";
import { parseOrThrow, quotaError } from "./route_job.ts";

/**
 * The most candidates (and tickets) one route answer carries: enough to fall back twice before the
 * first token, while each ticket's signature costs the answer (~1 ms in pure JavaScript, ~0.05 ms
 * by native libsecp256k1; docs/architecture.md).
 */
export const MAX_CANDIDATES = 3;

/** The handler for direct-mode routing. */
export function routeDirect(cp: ControlPlane) {
  return async (c: AppContext): Promise<Response> => {
    const req = parseOrThrow(() => parseRouteRequest(c.get("body")));
    // A key off the curve would get a ticket every node refuses (no conversation key exists).
    if (!(await fastestSecp256k1()).isPublicKey(req.consumer)) {
      throw new HttpError(
        400,
        "consumer is not a secp256k1 public key: use the x-only public key (hex) of a fresh secret key",
        { code: "invalid_request", param: "consumer" },
      );
    }
    const caller = c.get("caller") as ApiCaller;
    let nodes = routeJob(cp, req.model, req.provider, { includeSuspected: caller.platform })
      .filter((n) => n.connection?.open);
    if (nodes.length === 0) {
      throw new HttpError(503, "No node is available to serve this request right now; try again shortly.", {
        code: "no_node_available",
      });
    }
    let modelKeys = new Map<string, string>();
    if (req.target === "model") {
      modelKeys = await grantedModelKeys(cp.db.sql, req.model, nodes.map((n) => n.record.pubkey));
      nodes = nodes.filter((n) => modelKeys.has(n.record.pubkey));
      if (nodes.length === 0) {
        throw new HttpError(
          404,
          `No available node holds a model key of '${req.model}'; ask with target "node" instead.`,
          { code: "model_key_not_found", param: "target" },
        );
      }
    }
    const run = new JobRun(cp.runDeps, {
      kind: "chat",
      model: req.model,
      stream: req.stream,
      apiKeyId: caller.apiKeyId,
      countPrompt: () => Promise.resolve(req.promptTokens),
    }, { id: cp.cluster?.direct?.newJobId() });
    c.set("jobId", run.id);
    const counted = await countJobPrompt(
      run,
      { kind: "chat", model: req.model, signal: c.req.raw.signal },
      nodes,
    );
    nodes = counted.nodes.slice(0, MAX_CANDIDATES);
    const held = await holdJob(cp.leases, {
      apiKeyId: caller.apiKeyId,
      kind: "chat",
      model: req.model,
      promptTokens: req.promptTokens,
      maxTokens: req.maxTokens,
      defaultMaxTokens: cp.config.defaultMaxTokens,
      nodes,
    });
    if (!held.ok) {
      run.end("rejected", { errorCode: "insufficient_quota" });
      throw quotaError(held.hold, held.available);
    }
    run.lease = held.lease;
    const nowS = Math.floor(Date.now() / 1000);
    const expiresAt = nowS + cp.config.ticketTtlS;
    const buyerDid = buyerDidOf(cp.platformKey.pubkey, `key:${caller.apiKeyId}`);
    const secp = await fastestSecp256k1();
    const candidates = nodes.map((node) => {
      const pubkey = node.record.pubkey;
      const modelKey = req.target === "model" ? modelKeys.get(pubkey)! : null;
      const content: TicketContent = {
        job_id: run.id,
        buyer_did: buyerDid,
        model: req.model,
        max_cost: held.hold.toString(),
        node: pubkey,
        consumer: req.consumer,
        target: req.target,
        model_key: modelKey,
        prompt_tokens: req.promptTokens,
        max_tokens: held.completionAllowance,
        expires_at: expiresAt,
        created_at: nowS,
      };
      cp.receipts.expect(run.id, pubkey, { kind: "chat", model: req.model });
      return {
        node: pubkey,
        npub: npubEncode(pubkey),
        endpoint: node.record.endpoint,
        relay: `/v1/relay/${run.id}?node=${pubkey}`,
        model_key: modelKey,
        ticket: createTicket(cp.platformKey.secretKey, content, { secp }),
      };
    });
    // The first candidate, the one the consumer calls first, gets its ticket now over its socket and
    // checks it (and does its ECDH) while the consumer seals and connects.
    nodes[0].connection?.announceTicket(candidates[0].ticket);
    cp.direct.open(run, {
      apiKeyId: caller.apiKeyId,
      consumer: req.consumer,
      candidates: nodes.map((n) => n.record.pubkey),
      promptTokens: req.promptTokens,
      maxTokens: held.completionAllowance,
    });
    return c.json({ job_id: run.id, expires_at: expiresAt, candidates }, 200, { "x-request-id": run.id });
  };
}
