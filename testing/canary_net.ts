// A network for verification tests: a test control plane with in-process nodes (the test engine
// by default, any engine handler) and a canary scheduler on its own app, wired to the control
// plane's receipt desk and reputation service as in production.
import { seededRandom } from "./seeded_random.ts";
import { NANO_USD_PER_USD } from "../shared/mod.ts";
import { createApp } from "../web/app.ts";
import type { CanaryScheduler } from "../web/verification/canary_scheduler.ts";
import { createCanaryScheduler } from "../web/verification/canary_wiring.ts";
import { openTestControlPlane, type TestControlPlane } from "./control_plane.ts";
import { attachEngineNode, type EngineNode } from "./engine_node.ts";
import { fundOperatorEarnings } from "./funding.ts";
import { createTestEngineHandler, type TestEngineLie } from "./test_engine.ts";
import type { NodeAdvert } from "../shared/nostr/node_record.ts";

/** No node receipt comes from an in-process node: the desk writes the platform's at once. */
export const CANARY_TEST_CONFIG = { receiptWaitMs: 0 };

/** The network a verification test drives. */
export interface CanaryNet {
  t: TestControlPlane;
  app: ReturnType<typeof createApp>;
  canaries: CanaryScheduler;
  /** A node's suspicion as the router sees it (the reputation service refreshes it). */
  suspicion(pubkey: string): number;
  /** A test engine node serving model "m", lying as told. */
  node(lie?: TestEngineLie): Promise<EngineNode>;
  /** A node answering with any engine handler. */
  engineNode(engine: (req: Request) => Promise<Response>, advert?: Partial<NodeAdvert>): Promise<EngineNode>;
}

/** Runs `fn` on a fresh network whose platform has 1 USD of fees to fund canaries. */
export async function withCanaryNet(fn: (net: CanaryNet) => Promise<void>): Promise<void> {
  const t = await openTestControlPlane({ config: CANARY_TEST_CONFIG });
  try {
    await fundOperatorEarnings(t.cp.db.sql, "ab".repeat(32), 9n * NANO_USD_PER_USD);
    const app = createApp(t.cp);
    const net: CanaryNet = {
      t,
      app,
      suspicion: (pubkey) => t.cp.registry.get(pubkey)?.reputation.suspicion ?? NaN,
      canaries: null as unknown as CanaryScheduler,
      node: (lie = "none") => attachEngineNode(t.cp, createTestEngineHandler({ models: ["m"], lie }).handler),
      engineNode: (engine, advert) => attachEngineNode(t.cp, engine, advert),
    };
    net.canaries = createCanaryScheduler(t.cp, (req) => app.fetch(req), {}, { random: seededRandom(27) });
    await fn(net);
  } finally {
    await t.close();
  }
}
