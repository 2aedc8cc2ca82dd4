// `infernet model key create | grant | show` (IPIP-0028, docs/protocol.md §14): a publisher makes
// a key for a model file and grants its secret to the nodes it trusts; a node fetches its grants,
// opens them, and keeps the secrets (0600) so it can serve direct requests encrypted to the model.
import { createHash } from "node:crypto";
import { generateSecretKey, getPublicKey, type NostrEvent } from "nostr-tools/pure";
import { decode, npubEncode } from "nostr-tools/nip19";
import { v2 as nip44 } from "nostr-tools/nip44";
import { hexToBytes } from "@noble/hashes/utils.js";
import {
  createModelKeyAnnouncement,
  createModelKeyGrant,
  verifyModelKeyAnnouncement,
  verifyModelKeyGrant,
} from "../../shared/direct/mod.ts";
import { isRecord, nowSeconds } from "../../shared/mod.ts";
import { CliError } from "../cli_error.ts";
import { loadIdentity, loadKeyFile, type NodeIdentity } from "../identity/node_key.ts";
import {
  listModelKeys,
  loadAnnouncement,
  loadModelSecret,
  saveAnnouncement,
  saveModelSecret,
} from "../models/model_keys.ts";
import { type CommandContext, loadNodeConfig, resolveServer } from "./context.ts";
import { parseFlags } from "./flags.ts";

/** The usage of `infernet model key`. */
export const KEY_USAGE = `usage: infernet model key <command>
  create --model ID --file PATH [--key publisher.nsec] [--server URL] [--json]
  grant --model-key HEX --node NPUB [--key publisher.nsec] [--server URL] [--json]
  show [--server URL] [--json]`;

const HEX64 = /^[0-9a-f]{64}$/;

/** The SHA-256 (hex) of a file, read as a stream (model files are gigabytes). */
async function fileSha256(path: string): Promise<string> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (err) {
    throw new CliError("usage", `cannot read ${path}: ${(err as Error).message}`);
  }
  const hash = createHash("sha256");
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

async function request(server: string, path: string, init?: RequestInit): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(server + path, { ...init, signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    throw new CliError("server_unreachable", `cannot reach ${server}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const msg = isRecord(body) && isRecord(body.error) ? body.error.message : `HTTP ${res.status}`;
    throw new CliError("server_refused", `${path}: ${msg}`);
  }
  return body;
}

const postEvent = (server: string, path: string, event: NostrEvent) =>
  request(server, path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(event),
  });

async function publisher(home: string, keyFlag: string | undefined): Promise<NodeIdentity> {
  return keyFlag ? await loadKeyFile(keyFlag) : await loadIdentity(home);
}

/** The events in a list answer: `[…]`, or `{<field>: […]}`. */
function listOf(body: unknown, field: string): unknown[] {
  if (Array.isArray(body)) return body;
  if (isRecord(body) && Array.isArray(body[field])) return body[field] as unknown[];
  throw new CliError("server_refused", `the control plane did not answer with a list of ${field}`);
}

async function runCreate(ctx: CommandContext, args: string[]): Promise<void> {
  const f = parseFlags("model key create", args, {
    model: { type: "string" },
    file: { type: "string" },
    key: { type: "string" },
    server: { type: "string" },
    json: { type: "boolean" },
  });
  if (!f.model || !f.file) throw new CliError("usage", KEY_USAGE);
  const { home, config } = await loadNodeConfig(ctx);
  const server = resolveServer(f.server, config, ctx.env);
  const signer = await publisher(home, f.key);
  const sha256 = await fileSha256(f.file);
  const modelSecret = generateSecretKey();
  // The secret is kept before the announcement goes out: an announced key is never lost.
  const modelPubkey = await saveModelSecret(home, modelSecret);
  const event = createModelKeyAnnouncement(signer.secretKey, {
    model: f.model,
    artifact_sha256: sha256,
    model_pubkey: modelPubkey,
    created_at: nowSeconds(),
  });
  await saveAnnouncement(home, modelPubkey, event);
  await postEvent(server, "/api/model-keys", event);
  const out = { model: f.model, model_key: modelPubkey, artifact_sha256: sha256, announcement: event.id };
  if (f.json) ctx.print(JSON.stringify(out));
  else {
    ctx.print(`model key ${modelPubkey} for ${f.model} (file sha256 ${sha256}) announced`);
    ctx.print(`grant it to a node: infernet model key grant --model-key ${modelPubkey} --node <npub>`);
  }
}

function nodeHex(text: string): string {
  if (HEX64.test(text)) return text;
  try {
    const d = decode(text);
    if (d.type === "npub") return d.data;
  } catch { /* not bech32: refused below */ }
  throw new CliError("usage", `--node must be the node's npub (or hex pubkey), not ${text}`);
}

async function runGrant(ctx: CommandContext, args: string[]): Promise<void> {
  const f = parseFlags("model key grant", args, {
    "model-key": { type: "string" },
    node: { type: "string" },
    key: { type: "string" },
    server: { type: "string" },
    json: { type: "boolean" },
  });
  const modelKey = f["model-key"];
  if (!modelKey || !f.node || !HEX64.test(modelKey)) throw new CliError("usage", KEY_USAGE);
  const node = nodeHex(f.node);
  const { home, config } = await loadNodeConfig(ctx);
  const server = resolveServer(f.server, config, ctx.env);
  const signer = await publisher(home, f.key);
  const secret = await loadModelSecret(home, modelKey);
  if (!secret) throw new CliError("model_key", `this machine holds no secret of model key ${modelKey}`);
  // The announcement the grant points at: the one `model key create` made here.
  const announcement = verifyModelKeyAnnouncement(await loadAnnouncement(home, modelKey));
  if (
    !announcement.ok || announcement.key.content.model_pubkey !== modelKey ||
    announcement.key.event.pubkey !== signer.pubkey
  ) {
    throw new CliError("model_key", `no announcement of ${modelKey} by this publisher on this machine`);
  }
  const sealedSecret = nip44.encrypt(
    Array.from(secret, (b) => b.toString(16).padStart(2, "0")).join(""),
    nip44.utils.getConversationKey(signer.secretKey, node),
  );
  const event = createModelKeyGrant(signer.secretKey, {
    node,
    announcement: announcement.key.event.id,
    sealedSecret,
    createdAt: nowSeconds(),
  });
  await postEvent(server, "/api/model-keys/grants", event);
  if (f.json) ctx.print(JSON.stringify({ model_key: modelKey, node, grant: event.id }));
  else ctx.print(`model key ${modelKey} granted to ${npubEncode(node)}`);
}

/** An event as the server may store it: an object, or its JSON text. */
function parseMaybe(v: unknown): unknown {
  if (typeof v !== "string") return v;
  try {
    return JSON.parse(v);
  } catch {
    return null;
  }
}

/** Opens a grant sent to `node`: the model secret, checked against the announced key. */
function openGrant(node: NodeIdentity, grant: NostrEvent): Uint8Array | null {
  try {
    const hex = nip44.decrypt(grant.content, nip44.utils.getConversationKey(node.secretKey, grant.pubkey));
    if (!HEX64.test(hex)) return null;
    return hexToBytes(hex);
  } catch {
    return null;
  }
}

async function runShow(ctx: CommandContext, args: string[]): Promise<void> {
  const f = parseFlags("model key show", args, { server: { type: "string" }, json: { type: "boolean" } });
  const { home, config } = await loadNodeConfig(ctx);
  const server = resolveServer(f.server, config, ctx.env);
  const node = await loadIdentity(home);
  const body = await request(server, `/api/model-keys/grants?node=${node.pubkey}`);
  const rows: { model: string | null; model_key: string; artifact_sha256: string | null }[] = [];
  for (const item of listOf(body, "grants")) {
    // An event (or its JSON text), or {grant, announcement} when the server joins them.
    const raw = parseMaybe(isRecord(item) && item.grant !== undefined ? item.grant : item);
    const checked = verifyModelKeyGrant(raw);
    if (!checked.ok || checked.grant.node !== node.pubkey) continue;
    const announced = isRecord(item) && item.announcement
      ? verifyModelKeyAnnouncement(parseMaybe(item.announcement))
      : null;
    const a = announced?.ok && announced.key.event.id === checked.grant.announcement &&
        announced.key.event.pubkey === checked.grant.event.pubkey
      ? announced.key.content
      : null;
    const secret = openGrant(node, checked.grant.event);
    if (!secret) continue;
    const modelKey = getPublicKey(secret);
    // A grant whose secret is not the announced key's is the publisher's mistake: not kept.
    if (a && a.model_pubkey !== modelKey) continue;
    await saveModelSecret(home, secret);
    rows.push({ model: a?.model ?? null, model_key: modelKey, artifact_sha256: a?.artifact_sha256 ?? null });
  }
  const held = await listModelKeys(home);
  if (f.json) {
    ctx.print(JSON.stringify({ grants: rows, held }));
    return;
  }
  if (rows.length === 0) ctx.print("no model keys granted to this node");
  for (const r of rows) {
    ctx.print(`${r.model ?? "(model unknown)"}  key ${r.model_key}  file sha256 ${r.artifact_sha256 ?? "?"}`);
  }
  ctx.print(`${held.length} model key(s) held in ${home}/model_keys`);
}

/** Runs `infernet model key …`. */
export async function runModelKey(ctx: CommandContext, args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "create":
      return await runCreate(ctx, rest);
    case "grant":
      return await runGrant(ctx, rest);
    case "show":
      return await runShow(ctx, rest);
    default:
      throw new CliError("usage", KEY_USAGE);
  }
}
