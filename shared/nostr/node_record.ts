// The node record: a NIP-78 addressable event (kind 30078, `d` = node id) whose content is the
// node's advertisement as JSON. It verifies on its own, so it can later be mirrored to relays.
import { finalizeEvent, type NostrEvent } from "nostr-tools/pure";
import { hasValidSignature, nowSeconds, parseEvent, tagValue } from "./event.ts";
import { isVramTier, tierAtLeast, type VramTier, vramTierMinMb, vramTierOf } from "../hardware/tiers.ts";
import { isRecord } from "../json/is_record.ts";
import { isQuantization, type Quantization } from "../hardware/quantization.ts";

/** NIP-78 application-specific data: addressable, replaceable per `d` tag. */
export const NODE_RECORD_KIND = 30078;

/** The `t` tag that marks a NIP-78 event as an Infernet node record. */
export const NODE_RECORD_TAG = "infernet-node";

/** The protocol version a node record speaks. */
export const NODE_PROTOCOL_VERSION = 1;

/** A model a node serves, with its price in nano-USD per 1,000 tokens. */
export interface NodeModel {
  id: string;
  contextLength: number | null;
  promptPricePer1k: number;
  completionPricePer1k: number;
  /** How the weights are quantized (`quantization`); absent means "unknown". */
  quantization?: Quantization;
  /** The optional request parameters the node honours (`supported_parameters`); absent: unknown. */
  supportedParameters?: string[];
}

/** A GPU as the node reports it. */
export interface NodeGpu {
  name: string;
  vramMb: number;
  vendor: string;
}

/** The node's advertisement, camelCase inside the code. */
export interface NodeAdvert {
  nodeId: string;
  name: string;
  version: string;
  engine: { kind: string; testEngine: boolean };
  endpoint: string | null;
  gpus: NodeGpu[];
  totalVramMb: number;
  vramTier: VramTier;
  cpuCores: number;
  ramMb: number;
  os: string;
  maxConcurrency: number;
  models: NodeModel[];
}

declare const verifiedRecord: unique symbol;

/** A node record whose signature and content were checked. */
export type VerifiedNodeRecord = NodeAdvert & {
  readonly pubkey: string;
  readonly createdAt: number;
  readonly event: NostrEvent;
  readonly [verifiedRecord]: true;
};

/** The outcome of {@link verifyNodeRecord}. */
export type NodeRecordResult = { ok: true; record: VerifiedNodeRecord } | { ok: false; reason: string };

/** Signs a node advertisement as a node record event. */
export function createNodeRecord(
  secretKey: Uint8Array,
  advert: NodeAdvert,
  createdAt = nowSeconds(),
): NostrEvent {
  const content = {
    protocol: NODE_PROTOCOL_VERSION,
    name: advert.name,
    version: advert.version,
    engine: { kind: advert.engine.kind, test_engine: advert.engine.testEngine },
    endpoint: advert.endpoint,
    hardware: {
      gpus: advert.gpus.map((g) => ({ name: g.name, vram_mb: g.vramMb, vendor: g.vendor })),
      total_vram_mb: advert.totalVramMb,
      vram_tier: advert.vramTier,
      cpu_cores: advert.cpuCores,
      ram_mb: advert.ramMb,
      os: advert.os,
    },
    max_concurrency: advert.maxConcurrency,
    models: advert.models.map((m) => ({
      id: m.id,
      context_length: m.contextLength,
      price: { prompt_per_1k: m.promptPricePer1k, completion_per_1k: m.completionPricePer1k },
      ...(m.quantization === undefined ? {} : { quantization: m.quantization }),
      ...(m.supportedParameters === undefined ? {} : { supported_parameters: m.supportedParameters }),
    })),
  };
  return finalizeEvent({
    kind: NODE_RECORD_KIND,
    created_at: createdAt,
    tags: [["d", advert.nodeId], ["t", NODE_RECORD_TAG]],
    content: JSON.stringify(content),
  }, secretKey);
}

class RecordError extends Error {}

function need<T>(ok: boolean, value: T, what: string): T {
  if (!ok) throw new RecordError(what);
  return value;
}

const isNat = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const isStr = (x: unknown, max = 256): x is string => typeof x === "string" && x.length <= max;

function parseModel(m: unknown, i: number): NodeModel {
  need(isRecord(m), 0, `models[${i}] must be an object`);
  const o = m as Record<string, unknown>;
  const price = isRecord(o.price) ? o.price : {};
  return {
    id: need(isStr(o.id) && o.id !== "", o.id as string, `models[${i}].id must be a string`),
    contextLength: o.context_length == null
      ? null
      : need(isNat(o.context_length), o.context_length as number, `models[${i}].context_length`),
    promptPricePer1k: need(
      isNat(price.prompt_per_1k),
      price.prompt_per_1k as number,
      `models[${i}].price.prompt_per_1k must be a non-negative integer`,
    ),
    completionPricePer1k: need(
      isNat(price.completion_per_1k),
      price.completion_per_1k as number,
      `models[${i}].price.completion_per_1k must be a non-negative integer`,
    ),
    ...optionalModelFields(o, i),
  };
}

/**
 * The declared hardware must hold together: the total VRAM no more than its GPUs' sum (when GPUs
 * are listed), and the tier (which sets the price ceiling and `min_vram_tier` routing) no higher
 * than that total supports. Declaring less is allowed.
 */
function checkHardware(a: NodeAdvert): NodeAdvert {
  if (a.gpus.length > 0) {
    const sum = a.gpus.reduce((n, g) => n + g.vramMb, 0);
    need(
      a.totalVramMb <= sum,
      0,
      `hardware.total_vram_mb (${a.totalVramMb}) is more than the sum of hardware.gpus[].vram_mb (${sum})`,
    );
  }
  const supported = vramTierOf(a.totalVramMb);
  need(
    tierAtLeast(supported, a.vramTier),
    0,
    `hardware.vram_tier "${a.vramTier}" needs hardware.total_vram_mb of at least ` +
      `${vramTierMinMb(a.vramTier)} (declared ${a.totalVramMb}, tier "${supported}")`,
  );
  return a;
}

const MAX_SUPPORTED_PARAMETERS = 64;

// Optional fields, added after version 1 shipped: absent stays absent, so older records verify as before.
function optionalModelFields(o: Record<string, unknown>, i: number): Partial<NodeModel> {
  const out: Partial<NodeModel> = {};
  if (o.quantization != null) {
    out.quantization = need(
      isQuantization(o.quantization),
      o.quantization as Quantization,
      `models[${i}].quantization must be one of int4, int8, fp4, fp6, fp8, fp16, bf16, fp32, unknown`,
    );
  }
  if (o.supported_parameters != null) {
    const list = o.supported_parameters;
    out.supportedParameters = need(
      Array.isArray(list) && list.length <= MAX_SUPPORTED_PARAMETERS && list.every((x) => isStr(x, 64)),
      list as string[],
      `models[${i}].supported_parameters must be an array of at most ${MAX_SUPPORTED_PARAMETERS} strings`,
    );
  }
  return out;
}

function parseAdvert(nodeId: string, content: string): NodeAdvert {
  let c: unknown;
  try {
    c = JSON.parse(content);
  } catch {
    throw new RecordError("content is not JSON");
  }
  need(isRecord(c), 0, "content must be a JSON object");
  const o = c as Record<string, unknown>;
  need(o.protocol === NODE_PROTOCOL_VERSION, 0, `protocol must be ${NODE_PROTOCOL_VERSION}`);
  const hw = need(isRecord(o.hardware), o.hardware as Record<string, unknown>, "hardware missing");
  const engine = need(isRecord(o.engine), o.engine as Record<string, unknown>, "engine missing");
  const gpus = need(Array.isArray(hw.gpus), hw.gpus as unknown[], "hardware.gpus must be an array");
  const models = need(Array.isArray(o.models), o.models as unknown[], "models must be an array");
  need(models.length <= 512, 0, "too many models");
  return checkHardware({
    nodeId,
    name: need(isStr(o.name), o.name as string, "name must be a string"),
    version: need(isStr(o.version, 64), o.version as string, "version must be a string"),
    engine: {
      // Free-form (docs/protocol.md §3 lists the reference node's kinds): shown, never acted on.
      kind: need(
        isStr(engine.kind, 32) && engine.kind !== "",
        engine.kind as string,
        "engine.kind must be a string of 1-32 characters",
      ),
      testEngine: engine.test_engine === true,
    },
    endpoint: o.endpoint == null
      ? null
      : need(isStr(o.endpoint, 512), o.endpoint as string, "endpoint must be a string"),
    gpus: gpus.map((g, i) => {
      const x = need(isRecord(g), g as Record<string, unknown>, `hardware.gpus[${i}]`);
      return {
        name: need(isStr(x.name), x.name as string, `hardware.gpus[${i}].name`),
        vramMb: need(isNat(x.vram_mb), x.vram_mb as number, `hardware.gpus[${i}].vram_mb`),
        vendor: need(isStr(x.vendor, 32), x.vendor as string, `hardware.gpus[${i}].vendor`),
      };
    }),
    totalVramMb: need(isNat(hw.total_vram_mb), hw.total_vram_mb as number, "hardware.total_vram_mb"),
    vramTier: need(isVramTier(hw.vram_tier), hw.vram_tier as VramTier, "hardware.vram_tier"),
    cpuCores: need(isNat(hw.cpu_cores), hw.cpu_cores as number, "hardware.cpu_cores"),
    ramMb: need(isNat(hw.ram_mb), hw.ram_mb as number, "hardware.ram_mb"),
    os: need(isStr(hw.os, 64), hw.os as string, "hardware.os"),
    maxConcurrency: need(
      isNat(o.max_concurrency) && (o.max_concurrency as number) >= 1,
      o.max_concurrency as number,
      "max_concurrency must be a positive integer",
    ),
    models: models.map(parseModel),
  });
}

/** Verifies a node record event from untrusted JSON; never throws. */
export function verifyNodeRecord(raw: unknown): NodeRecordResult {
  const event = parseEvent(raw);
  if (!event) return { ok: false, reason: "node record is not a well-formed Nostr event" };
  if (event.kind !== NODE_RECORD_KIND) {
    return { ok: false, reason: `node record kind must be ${NODE_RECORD_KIND}` };
  }
  const nodeId = tagValue(event, "d");
  if (!nodeId || nodeId.length > 64) return { ok: false, reason: "node record needs a d tag (node id)" };
  if (tagValue(event, "t") !== NODE_RECORD_TAG) {
    return { ok: false, reason: `node record needs a t tag '${NODE_RECORD_TAG}'` };
  }
  let advert: NodeAdvert;
  try {
    advert = parseAdvert(nodeId, event.content);
  } catch (err) {
    if (err instanceof RecordError) return { ok: false, reason: `node record: ${err.message}` };
    throw err;
  }
  if (!hasValidSignature(event)) return { ok: false, reason: "node record signature is invalid" };
  const record = { ...advert, pubkey: event.pubkey, createdAt: event.created_at, event };
  return { ok: true, record: record as VerifiedNodeRecord };
}
