import assert from "node:assert/strict";
import { buildGraph, findViolations, moduleSpecifiers, readRepository } from "./import_directions.ts";

Deno.test("import directions - finds static, type, dynamic and module-URL specifiers", () => {
  const source = [
    `import { a } from "./a.ts";`,
    `import type { B } from "../b.ts";`,
    `export { c } from "./c.ts";`,
    `import "./side.ts";`,
    `const d = await import("./d.ts");`,
    `new Worker(new URL("./w.ts", import.meta.url).href);`,
    `import { z } from "hono";`,
    `const data = new URL("./testdata/x.json", import.meta.url);`,
  ].join("\n");
  assert.deepEqual(moduleSpecifiers(source), [
    "./a.ts",
    "../b.ts",
    "./c.ts",
    "./side.ts",
    "./d.ts",
    "./w.ts",
  ]);
});

Deno.test("import directions - names each broken rule with the chain that breaks it", () => {
  const files = new Map([
    ["web/main.ts", `import { fake } from "../testing/fake.ts";`],
    ["testing/fake.ts", ``],
    ["cli/commands/x_test.ts", `import { h } from "../../testing/harness.ts";`],
    ["testing/harness.ts", `import { app } from "../web/app.ts";`],
    ["web/app.ts", ``],
    ["shared/a.ts", `import type { D } from "../cli/daemon.ts";`],
    ["cli/daemon.ts", ``],
    ["db/q.ts", `import { HttpError } from "../web/app.ts";`],
    ["testing/uses_bench.ts", `import { b } from "../bench/b.ts";`],
    ["bench/b.ts", `import { t } from "../tests/t_test.ts";`],
    ["tests/t_test.ts", ``],
    ["web/ok_test.ts", `import { fake } from "../testing/fake.ts";`],
  ]);
  const found = findViolations(buildGraph(files)).map((v) => `${v.file}: ${v.chain.join(" > ")}`);
  assert.deepEqual(found, [
    "bench/b.ts: bench/b.ts > tests/t_test.ts",
    "cli/commands/x_test.ts: cli/commands/x_test.ts > testing/harness.ts > web/app.ts",
    "db/q.ts: db/q.ts > web/app.ts",
    "shared/a.ts: shared/a.ts > cli/daemon.ts",
    "testing/uses_bench.ts: testing/uses_bench.ts > bench/b.ts > tests/t_test.ts",
    "testing/uses_bench.ts: testing/uses_bench.ts > bench/b.ts",
    "web/main.ts: web/main.ts > testing/fake.ts",
  ]);
});

Deno.test("import directions - web/ never reaches direct mode's decryption code", () => {
  const files = new Map([
    ["web/api/v1/route.ts", `import { createTicket } from "../../../shared/direct/ticket.ts";`],
    ["web/api/v1/relay.ts", `import { FrameOpener } from "../../../shared/direct/mod.ts";`],
    ["web/a.ts", `import { x } from "../shared/b.ts";`],
    ["shared/b.ts", `import { FrameOpener } from "./direct/framing.ts";`],
    ["web/c.ts", `import { v2 } from "nostr-tools/nip44";`],
    ["web/d.ts", `import { nip44 } from "nostr-tools";`],
    ["web/e.ts", `import { finalizeEvent } from "nostr-tools/pure";`],
    ["cli/direct.ts", `import { FrameOpener } from "../shared/direct/mod.ts";`],
    ["shared/direct/mod.ts", `export { FrameOpener } from "./framing.ts";`],
    ["shared/direct/framing.ts", `import { v2 } from "nostr-tools/nip44";`],
    ["shared/direct/ticket.ts", ``],
  ]);
  const found = findViolations(buildGraph(files)).map((v) => `${v.file}: ${v.chain.join(" > ")}`);
  assert.deepEqual(found, [
    "web/a.ts: web/a.ts > shared/b.ts > shared/direct/framing.ts",
    "web/api/v1/relay.ts: web/api/v1/relay.ts > shared/direct/mod.ts",
    "web/c.ts: web/c.ts > npm:nostr-tools/nip44",
    "web/d.ts: web/d.ts > npm:nostr-tools",
  ]);
});

Deno.test("import directions - the repository keeps every rule", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const violations = findViolations(buildGraph(await readRepository(root)));
  assert.deepEqual(violations.map((v) => `${v.file}: ${v.rule} (${v.chain.join(" → ")})`), []);
});
