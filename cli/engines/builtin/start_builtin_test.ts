import { equal, rejects } from "node:assert/strict";
import { CliError } from "../../cli_error.ts";
import { plannedBuiltin, startBuiltinEngine } from "./start_builtin.ts";

Deno.test("start builtin - 'tiny' generates the model in the node's home and serves it on a local port", async () => {
  const home = await Deno.makeTempDir();
  try {
    equal(plannedBuiltin("tiny", home).models[0].id, "infernet-tiny");
    const running = await startBuiltinEngine("tiny", home);
    try {
      equal(running.engine.kind, "builtin");
      const body = await (await fetch(`${running.engine.baseUrl}/v1/models`)).json();
      equal(body.data[0].id, "infernet-tiny");
      equal((await Deno.stat(`${home}/models/infernet-tiny.gguf`)).isFile, true);
    } finally {
      await running.close();
    }
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("start builtin - a missing model file is one CLI error line", async () => {
  await rejects(
    startBuiltinEngine("/nonexistent/model.gguf", "/tmp"),
    (e) => e instanceof CliError && e.code === "no_engine",
  );
});
