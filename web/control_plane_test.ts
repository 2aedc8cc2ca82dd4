import assert from "node:assert/strict";
import { parseWebConfig } from "./config.ts";
import { openControlPlane } from "./control_plane.ts";

Deno.test({
  name: "control plane - its embedded PGlite runs at idle priority, unless INFERNET_PGLITE_IDLE=0",
  ignore: Deno.build.os !== "linux",
  async fn() {
    // Managed: "idle", or "normal" when the watchdog raised it because it waited (migrations on a
    // busy machine); db/worker_priority_test.ts tests the lowering and raising themselves.
    for (const [env, managed] of [[{}, true], [{ INFERNET_PGLITE_IDLE: "0" }, false]] as const) {
      const dataDir = await Deno.makeTempDir({ prefix: "infernet-cp-" });
      const config = {
        ...parseWebConfig({ INFERNET_DATA_DIR: dataDir, INFERNET_LOG_LEVEL: "silent", ...env }, []),
        localNode: false,
      };
      const cp = await openControlPlane(config, { kv: await Deno.openKv(":memory:") });
      try {
        assert.equal(cp.db.kind, "pglite");
        const state = cp.db.priority?.state;
        if (managed) assert.ok(state === "idle" || state === "normal", `state ${state}`);
        else assert.equal(state, undefined);
      } finally {
        await cp.close();
        await Deno.remove(dataDir, { recursive: true });
      }
    }
  },
});
