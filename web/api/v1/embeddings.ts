// POST /v1/embeddings: https://platform.openai.com/docs/api-reference/embeddings/create
import type { AppContext } from "../../app_env.ts";
import { embeddingsArtifactHash, parseEmbeddingsRequest } from "../../../shared/mod.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { countEmbeddingTokensYielding } from "../../metering/count_tokens.ts";
import { parseOrThrow, startJob } from "./route_job.ts";
import { completeJsonResponse } from "./json_response.ts";

/** The handler for embeddings. */
export function embeddings(cp: ControlPlane) {
  return async (c: AppContext): Promise<Response> => {
    const req = parseOrThrow(() => parseEmbeddingsRequest(c.get("body")));
    const started = await startJob(cp, c, {
      kind: "embeddings",
      model: req.model,
      stream: false,
      provider: req.provider,
      body: req.body,
      countPrompt: () => countEmbeddingTokensYielding(req.inputs, c.req.raw.signal),
    });
    return completeJsonResponse(started, (parsed) => {
      const data = (parsed as { data?: { embedding?: unknown }[] }).data;
      if (Array.isArray(data)) {
        started.run.artifactHash = embeddingsArtifactHash(data.map((d) => d?.embedding ?? null));
      }
    });
  };
}
