// The daemon's start and stop: a stop that comes while it is still registering (a SIGTERM during
// `infernet start`) leaves no job socket and no heartbeat behind.
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { npubEncode } from "nostr-tools/nip19";
import { createLogger } from "../../shared/mod.ts";
import { sampleAdvert, within } from "../../testing/mod.ts";
import { startHeldRegistration } from "../../testing/held_registration.ts";
import { NodeDaemon } from "./node_daemon.ts";

Deno.test("node daemon - a stop during registration: start resolves, no socket, no heartbeat", async () => {
  const cp = startHeldRegistration();
  const secretKey = generateSecretKey();
  const pubkey = getPublicKey(secretKey);
  const daemon = new NodeDaemon({
    server: cp.url,
    identity: { secretKey, pubkey, npub: npubEncode(pubkey) },
    advert: sampleAdvert(),
    engineBaseUrl: "http://127.0.0.1:9",
    log: createLogger({ level: "silent" }),
    heartbeatIntervalMs: 20,
  });
  try {
    const starting = daemon.start();
    await within(cp.registering, 5_000, "the registration");
    await within(daemon.stop(), 5_000, "the stop");
    cp.release();
    await within(starting, 5_000, "the start");
    // A socket or a 20 ms heartbeat started after the stop would show here (and leak a timer).
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(
      cp.paths.filter((p) => p !== "/api/nodes/register" && !p.startsWith("/.well-known")),
      [],
    );
  } finally {
    await daemon.stop();
    await cp.close();
  }
});
