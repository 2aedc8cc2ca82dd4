// The built-in engine as its own process: loads a GGUF and serves it on a local port, then prints
// one JSON line `{"url": …, "model": …}` (as the test engine does).
//   deno run --allow-net=127.0.0.1 --allow-read --allow-env --allow-ffi --allow-sys \
//     cli/engines/builtin/main.ts --model path.gguf [--port 0] [--tiny]
// With --tiny, the model file is the generated tiny model, written to --model first if absent
// (--allow-write is then needed).
import { parseArgs } from "node:util";
import { LlamaEngine } from "./llama_engine.ts";
import { serveBuiltinEngine } from "./server.ts";
import { writeTinyGguf } from "./tiny_gguf.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { model: { type: "string" }, port: { type: "string", default: "0" }, tiny: { type: "boolean" } },
});
if (!values.model) {
  console.error("usage: main.ts --model path.gguf [--port N] [--tiny]");
  Deno.exit(2);
}
const modelPath = values.tiny ? await writeTinyGguf(values.model) : values.model;
const engine = await LlamaEngine.load({ modelPath });
const server = serveBuiltinEngine(engine, { port: Number(values.port) });
console.log(JSON.stringify({ url: server.url, model: engine.modelId }));
const stop = () => void server.close().then(() => Deno.exit(0));
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
