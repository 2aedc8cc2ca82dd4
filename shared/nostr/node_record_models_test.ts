import assert from "node:assert/strict";
import { generateSecretKey } from "nostr-tools/pure";
import { createNodeRecord, type NodeModel, verifyNodeRecord } from "./node_record.ts";
import { sampleAdvert } from "../../testing/node_advert.ts";

const model: NodeModel = { id: "m", contextLength: null, promptPricePer1k: 1, completionPricePer1k: 2 };

// A record whose model content is edited after signing: content is checked before the signature.
function recordWith(edit: (m: Record<string, unknown>) => void) {
  const event = createNodeRecord(generateSecretKey(), sampleAdvert({ models: [model] }));
  const content = JSON.parse(event.content);
  edit(content.models[0]);
  return verifyNodeRecord({ ...event, content: JSON.stringify(content) });
}

Deno.test("node record - a model's quantization and supported_parameters round-trip", () => {
  const sk = generateSecretKey();
  const models: NodeModel[] = [
    { ...model, quantization: "int4", supportedParameters: ["tools", "seed"] },
    { ...model, id: "plain" },
  ];
  const r = verifyNodeRecord(createNodeRecord(sk, sampleAdvert({ models })));
  assert.equal(r.ok, true);
  if (!r.ok) return;
  assert.deepEqual(r.record.models, models);
  // Absent stays absent in the content, so records without them read exactly as before.
  const content = JSON.parse(r.record.event.content);
  assert.equal("quantization" in content.models[1], false);
  assert.equal("supported_parameters" in content.models[1], false);
});

Deno.test("node record - a quantization outside OpenRouter's list, or bad parameters, are refused", () => {
  for (
    const [edit, why] of [
      [(m: Record<string, unknown>) => (m.quantization = "Q4_K_M"), /quantization must be one of/],
      [(m: Record<string, unknown>) => (m.supported_parameters = "tools"), /supported_parameters/],
      [(m: Record<string, unknown>) => (m.supported_parameters = [1]), /supported_parameters/],
    ] as const
  ) {
    const r = recordWith(edit);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.reason, why);
  }
});
