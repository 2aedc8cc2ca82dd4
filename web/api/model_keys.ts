// IPIP-0028 model keys (docs/protocol.md §14): publishers' announcements (kind 7480) and their
// grants to nodes (kind 7481), checked, stored and served to anyone. A grant's content is sealed
// to its node: this server stores it as it came and cannot open it.
import type { Hono } from "hono";
import type { AppEnv } from "../app_env.ts";
import type { ControlPlane } from "../control_plane.ts";
import {
  grantsOfNode,
  insertModelKey,
  modelKeyByEvent,
  modelKeysOf,
  upsertModelKeyGrant,
} from "../../db/mod.ts";
import { parseOperatorKey } from "../../shared/mod.ts";
import { verifyModelKeyAnnouncement, verifyModelKeyGrant } from "../../shared/direct/model_keys.ts";
import { HttpError } from "../http_error.ts";
import { readJsonBody } from "../http_body.ts";

function jsonText(text: string, status = 200): Response {
  return new Response(text, { status, headers: { "content-type": "application/json" } });
}

/** Mounts the model-key routes. */
export function mountModelKeyRoutes(app: Hono<AppEnv>, cp: ControlPlane): void {
  app.post("/api/model-keys", async (c) => {
    const checked = verifyModelKeyAnnouncement(await readJsonBody(c.req.raw));
    if (!checked.ok) {
      throw new HttpError(400, `The announcement was refused: ${checked.reason}.`, { code: checked.code });
    }
    const { event, content } = checked.key;
    const stored = await insertModelKey(cp.db.sql, {
      modelPubkey: content.model_pubkey,
      model: content.model,
      artifactSha256: content.artifact_sha256,
      publisher: event.pubkey,
      eventId: event.id,
      createdAt: event.created_at,
      event: JSON.stringify(event),
    });
    if (!stored && (await modelKeyByEvent(cp.db.sql, event.id)) === null) {
      throw new HttpError(409, "That model key was announced before, by another event.", {
        code: "model_key_invalid",
      });
    }
    return c.json({ model_pubkey: content.model_pubkey, event_id: event.id }, stored ? 201 : 200);
  });

  app.post("/api/model-keys/grants", async (c) => {
    const checked = verifyModelKeyGrant(await readJsonBody(c.req.raw));
    if (!checked.ok) {
      throw new HttpError(400, `The grant was refused: ${checked.reason}.`, { code: checked.code });
    }
    const { event, node, announcement } = checked.grant;
    const key = await modelKeyByEvent(cp.db.sql, announcement);
    if (!key) {
      throw new HttpError(404, "The grant names no announced model key (its e tag).", {
        code: "model_key_not_found",
      });
    }
    if (key.publisher !== event.pubkey) {
      // A grant counts only when signed by its announcement's publisher (docs/protocol.md §15).
      throw new HttpError(400, "Only the model key's publisher may grant it.", { code: "model_key_forged" });
    }
    const stored = await upsertModelKeyGrant(cp.db.sql, {
      modelPubkey: key.modelPubkey,
      nodePubkey: node,
      eventId: event.id,
      createdAt: event.created_at,
      event: JSON.stringify(event),
    });
    return c.json({ model_pubkey: key.modelPubkey, node, event_id: event.id, stored }, stored ? 201 : 200);
  });

  app.get("/api/model-keys", async (c) => {
    const model = c.req.query("model") ?? "";
    if (!model || model.length > 256) {
      throw new HttpError(400, "give the model: ?model=<id>", { code: "invalid_request", param: "model" });
    }
    const rows = await modelKeysOf(cp.db.sql, model);
    return jsonText(`{"model":${JSON.stringify(model)},"keys":[${rows.map((r) => r.event).join(",")}]}`);
  });

  app.get("/api/model-keys/grants", async (c) => {
    const node = parseOperatorKey(c.req.query("node") ?? "");
    if (!node) {
      throw new HttpError(400, "node must be an npub or 64 hex characters", {
        code: "invalid_request",
        param: "node",
      });
    }
    const rows = await grantsOfNode(cp.db.sql, node);
    const items = rows.map((r) => `{"model_pubkey":"${r.modelPubkey}","grant":${r.event}}`);
    return jsonText(`{"node":"${node}","grants":[${items.join(",")}]}`);
  });
}
