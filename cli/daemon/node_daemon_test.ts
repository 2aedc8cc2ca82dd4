// The daemon's start and stop: a stop that comes while it is still registering (a SIGTERM during
// `infernet start`) leaves no job socket and no heartbeat behind.
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { npubEncode } from "nostr-tools/nip19";
import { createLogger } from "../../shared/mod.ts";
import { sampleAdvert, within } from "../../testing/mod.ts";
import { NodeDaemon } from "./node_daemon.ts";

Deno.test("node daemon - a stop during registration: start resolves, no socket, no heartbeat", async () => {
  const paths: string[] = [];
  let registering: () => void;
  const registerSeen = new Promise<void>((r) => (registering = r));
  let release: () => void;
  const released = new Promise<void>((r) => (release = r));
  const cp = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    paths.push(path);
    if (path === "/api/nodes/register") {
      registering();
      await released;
      return Response.json({ ok: true });
    }
    return new Response("no", { status: 404 });
  });
  const secretKey = generateSecretKey();
  const pubkey = getPublicKey(secretKey);
  const daemon = new NodeDaemon({
    server: `http://127.0.0.1:${cp.addr.port}`,
    identity: { secretKey, pubkey, npub: npubEncode(pubkey) },
    advert: sampleAdvert(),
    engineBaseUrl: "http://127.0.0.1:9",
    log: createLogger({ level: "silent" }),
    heartbeatIntervalMs: 20,
  });
  try {
    const starting = daemon.start();
    await within(registerSeen, 5_000, "the registration");
    await within(daemon.stop(), 5_000, "the stop");
    release!();
    await within(starting, 5_000, "the start");
    // A socket or a 20 ms heartbeat started after the stop would show here (and leak a timer).
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(paths.filter((p) => p !== "/api/nodes/register" && !p.startsWith("/.well-known")), []);
  } finally {
    release!();
    await daemon.stop();
    await cp.shutdown();
  }
});
