// POST /v1/embeddings: https://platform.openai.com/docs/api-reference/embeddings/create. The engine
// is always asked for numbers; a consumer that asks for `base64` (OpenAI's SDKs do by default) gets
// them encoded here, so any engine serves the SDKs' default (llama.cpp-based ones refuse base64).
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
      if (!Array.isArray(data)) return;
      // Hashed as the engine's numbers (what the node hashes too), whatever the consumer's encoding.
      started.run.artifactHash = embeddingsArtifactHash(data.map((d) => d?.embedding ?? null));
      if (req.encodingFormat !== "base64") return;
      return {
        ...(parsed as Record<string, unknown>),
        data: data.map((d) => isFloats(d?.embedding) ? { ...d, embedding: float32Base64(d.embedding) } : d),
      };
    });
  };
}

function isFloats(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => typeof x === "number");
}

/** OpenAI's `base64` encoding: the vector as float32 little-endian bytes, base64-encoded. */
export function float32Base64(vector: readonly number[]): string {
  const bytes = new Uint8Array(vector.length * 4);
  const view = new DataView(bytes.buffer);
  vector.forEach((x, i) => view.setFloat32(i * 4, x, true));
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
