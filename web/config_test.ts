import assert from "node:assert/strict";
import { ConfigError, parseWebConfig } from "./config.ts";

Deno.test("config - defaults give a quiet local control plane on 8787 with embedded storage", () => {
  const c = parseWebConfig({}, []);
  assert.equal(c.port, 8787);
  assert.equal(c.hostname, "127.0.0.1");
  assert.equal(c.dataDir, "./data");
  assert.equal(c.databaseUrl, null);
  assert.equal(c.logLevel, "warn");
  assert.equal(c.localNode, true);
  assert.equal(c.nodeStaleMs, 90_000);
  assert.equal(c.pgliteIdle, true);
  assert.equal(parseWebConfig({ INFERNET_PGLITE_IDLE: "0" }, []).pgliteIdle, false);
});

Deno.test("config - flags override the environment; bad values are named", () => {
  const c = parseWebConfig({ PORT: "1", INFERNET_LOCAL_NODE: "1" }, ["--port", "0", "--no-local-node"]);
  assert.equal(c.port, 0);
  assert.equal(c.localNode, false);
  assert.throws(
    () => parseWebConfig({ PORT: "x" }, []),
    (e: unknown) => e instanceof ConfigError && /PORT/.test(e.message),
  );
  assert.throws(() => parseWebConfig({ DATABASE_URL: "mysql://x" }, []), /DATABASE_URL/);
  assert.throws(() => parseWebConfig({ INFERNET_PUBLIC_URL: "https://x/path" }, []), /INFERNET_PUBLIC_URL/);
  assert.throws(() => parseWebConfig({ INFERNET_LOG_LEVEL: "loud" }, []), /INFERNET_LOG_LEVEL/);
  assert.throws(() => parseWebConfig({}, ["--bogus"]), ConfigError);
});

Deno.test("config - INFERNET_METRICS_TOKEN guards /metrics; unset leaves it open; a short one is refused", () => {
  assert.equal(parseWebConfig({}, []).metricsToken, null);
  assert.equal(parseWebConfig({ INFERNET_METRICS_TOKEN: "" }, []).metricsToken, null);
  const token = "a".repeat(16);
  assert.equal(parseWebConfig({ INFERNET_METRICS_TOKEN: token }, []).metricsToken, token);
  assert.throws(
    () => parseWebConfig({ INFERNET_METRICS_TOKEN: "short" }, []),
    (e: unknown) => e instanceof ConfigError && /INFERNET_METRICS_TOKEN/.test(e.message),
  );
  assert.throws(
    () => parseWebConfig({ INFERNET_METRICS_TOKEN: `${token} ${token}` }, []),
    /INFERNET_METRICS_TOKEN/,
  );
});

Deno.test("config - canaries: about 1 % of a node's jobs, a floor in minutes, 0 turns them off", () => {
  const defaults = parseWebConfig({}, []);
  assert.equal(defaults.canaryRate, 0.01);
  assert.equal(defaults.canaryFloorMs, 30 * 60_000);
  const set = parseWebConfig({ INFERNET_CANARY_RATE: "0", INFERNET_CANARY_FLOOR_MINUTES: "5" }, []);
  assert.equal(set.canaryRate, 0);
  assert.equal(set.canaryFloorMs, 5 * 60_000);
  assert.throws(
    () => parseWebConfig({ INFERNET_CANARY_RATE: "2" }, []),
    /INFERNET_CANARY_RATE must be from 0 to 1/,
  );
  assert.throws(
    () => parseWebConfig({ INFERNET_CANARY_RATE: "often" }, []),
    /INFERNET_CANARY_RATE must be from 0 to 1/,
  );
});

Deno.test("config - the router's exploration share and suspicion threshold are fractions", () => {
  const c = parseWebConfig({}, []);
  assert.equal(c.explorationShare, 0.05);
  assert.equal(c.suspicionThreshold, 0.9);
  const set = parseWebConfig({ INFERNET_EXPLORATION_SHARE: "0", INFERNET_SUSPICION_THRESHOLD: "0.75" }, []);
  assert.equal(set.explorationShare, 0);
  assert.equal(set.suspicionThreshold, 0.75);
  for (const bad of ["1.5", "-0.1", "x"]) {
    assert.throws(
      () => parseWebConfig({ INFERNET_EXPLORATION_SHARE: bad }, []),
      /INFERNET_EXPLORATION_SHARE/,
    );
  }
});

Deno.test("config - direct mode: tickets live 60 s and an ack is awaited 30 s by default", () => {
  const c = parseWebConfig({}, []);
  assert.equal(c.ticketTtlS, 60);
  assert.equal(c.directAckWaitMs, 30_000);
  const set = parseWebConfig({ INFERNET_TICKET_TTL_S: "30", INFERNET_DIRECT_ACK_WAIT_MS: "500" }, []);
  assert.equal(set.ticketTtlS, 30);
  assert.equal(set.directAckWaitMs, 500);
  assert.throws(() => parseWebConfig({ INFERNET_TICKET_TTL_S: "0" }, []), /INFERNET_TICKET_TTL_S/);
});

Deno.test("config - shared state is local on one machine and PostgreSQL with a database URL", () => {
  const pg = "postgres://db.internal/infernet";
  assert.equal(parseWebConfig({}, []).sharedState, "local");
  assert.equal(parseWebConfig({ DATABASE_URL: pg }, []).sharedState, "postgres");
  assert.equal(parseWebConfig({ DATABASE_URL: pg, INFERNET_SHARED_STATE: "local" }, []).sharedState, "local");
  assert.throws(() => parseWebConfig({ INFERNET_SHARED_STATE: "postgres" }, []), /needs DATABASE_URL/);
  assert.throws(() => parseWebConfig({ INFERNET_SHARED_STATE: "nats" }, []), /local or postgres/);
  const drain = parseWebConfig({ INFERNET_DRAIN_DELAY_MS: "0", INFERNET_DRAIN_TIMEOUT_MS: "500" }, []);
  assert.deepEqual([drain.drainDelayMs, drain.drainTimeoutMs], [0, 500]);
});

Deno.test("config - INFERNET_NATS_URL joins instances; unset keeps one instance and no NATS", () => {
  const alone = parseWebConfig({}, []);
  assert.equal(alone.natsUrl, null);
  assert.equal(alone.natsPrefix, "infernet");
  const c = parseWebConfig({
    INFERNET_NATS_URL: "nats://10.0.0.1:4222,nats://10.0.0.2:4222",
    INFERNET_NATS_PREFIX: "prod_eu-1",
  }, []);
  assert.equal(c.natsUrl, "nats://10.0.0.1:4222,nats://10.0.0.2:4222");
  assert.equal(c.natsPrefix, "prod_eu-1");
  assert.throws(() => parseWebConfig({ INFERNET_NATS_URL: "http://x:4222" }, []), /INFERNET_NATS_URL/);
  assert.throws(() => parseWebConfig({ INFERNET_NATS_PREFIX: "a.b" }, []), /INFERNET_NATS_PREFIX/);
});
