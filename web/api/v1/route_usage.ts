// POST /v1/route/:job_id/usage (docs/protocol.md §14): the consumer's signed usage ack (kind
// 7479) of a direct job, from its one-off key. Checked here; settled in web/direct/direct_jobs.ts,
// on the instance that routed the job (web/cluster/direct_peers.ts hands it there).
import type { AppContext } from "../../app_env.ts";
import { fastestSecp256k1 } from "../../../shared/mod.ts";
import { verifyUsageAck } from "../../../shared/direct/acks.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { HttpError } from "../../http_error.ts";
import type { ApiCaller } from "./api_key_auth.ts";
import { ownerError } from "../../cluster/direct_peers.ts";

/** The handler for a direct job's usage ack. */
export function routeUsage(cp: ControlPlane) {
  return async (c: AppContext): Promise<Response> => {
    const jobId = c.req.param("job_id") ?? "";
    const caller = c.get("caller") as ApiCaller;
    const { verifyEvent } = await fastestSecp256k1();
    const checked = verifyUsageAck(c.get("body"), { verify: verifyEvent });
    if (!checked.ok) {
      const status = checked.code === "ack_forged" ? 403 : 400;
      throw new HttpError(status, `The usage ack was refused: ${checked.reason}.`, { code: checked.code });
    }
    const peers = cp.cluster?.direct;
    const owner = peers?.remoteOwner(jobId) ?? null;
    const refused = owner === null
      ? cp.direct.ack(jobId, caller.apiKeyId, checked.ack)
      : await peers!.ack(owner, jobId, caller.apiKeyId, c.get("body"));
    if (refused && "unreachable" in refused) throw ownerError(jobId, refused);
    if (refused) throw new HttpError(refused.status, refused.message, { code: refused.code });
    return c.json({ job_id: jobId, accepted: true });
  };
}
