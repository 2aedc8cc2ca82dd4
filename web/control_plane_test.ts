import assert from "node:assert/strict";
import { parseWebConfig } from "./config.ts";
import { openControlPlane } from "./control_plane.ts";

Deno.test({
  name: "control plane - its embedded PGlite runs at idle priority, unless INFERNET_PGLITE_IDLE=0",
  ignore: Deno.build.os !== "linux",
  async fn() {
    for (const [env, expected] of [[{}, "idle"], [{ INFERNET_PGLITE_IDLE: "0" }, undefined]] as const) {
      const dataDir = await Deno.makeTempDir({ prefix: "infernet-cp-" });
      const config = {
        ...parseWebConfig({ INFERNET_DATA_DIR: dataDir, INFERNET_LOG_LEVEL: "silent", ...env }, []),
        localNode: false,
      };
      const cp = await openControlPlane(config, { kv: await Deno.openKv(":memory:") });
      try {
        assert.equal(cp.db.kind, "pglite");
        assert.equal(cp.db.priority?.state, expected);
      } finally {
        await cp.close();
        await Deno.remove(dataDir, { recursive: true });
      }
    }
  },
});
