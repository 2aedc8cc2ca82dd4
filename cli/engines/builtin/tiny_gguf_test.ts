import { deepStrictEqual as assertEquals, equal, notDeepStrictEqual } from "node:assert/strict";
import { readGgufFileInfo } from "node-llama-cpp";
import { TINY_CHAT_TEMPLATE, tinyGguf, writeTinyGguf } from "./tiny_gguf.ts";

Deno.test("tiny gguf - is a GGUF v3 file that a GGUF reader parses, with the llama keys and tensors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = await writeTinyGguf(`${dir}/tiny.gguf`, { blockCount: 3 });
    const bytes = await Deno.readFile(path);
    equal(new TextDecoder().decode(bytes.slice(0, 4)), "GGUF");
    equal(new DataView(bytes.buffer).getUint32(4, true), 3);
    const info = await readGgufFileInfo(path);
    equal(info.version, 3);
    const meta = info.metadata as unknown as Record<string, Record<string, unknown>>;
    equal(meta.general.architecture, "llama");
    equal(meta.llama.block_count, 3);
    equal((meta.tokenizer.ggml as Record<string, unknown[]>).tokens.length, 5 + 1 + 256);
    equal((meta.tokenizer.ggml as Record<string, unknown[]>).tokens[6 + 0x41], "<0x41>");
    equal(meta.tokenizer.chat_template, TINY_CHAT_TEMPLATE);
    const names = info.fullTensorInfo!.map((t) => t.name);
    equal(names.length, 3 + 3 * 9);
    equal(names.includes("blk.2.ffn_down.weight"), true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tiny gguf - the same options give the same bytes, another seed other weights", () => {
  assertEquals(tinyGguf({ seed: 1 }), tinyGguf({ seed: 1 }));
  notDeepStrictEqual(tinyGguf({ seed: 1 }), tinyGguf({ seed: 2 }));
});
