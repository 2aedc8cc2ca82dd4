import { deepStrictEqual as assertEquals, equal, throws } from "node:assert/strict";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { chatWrapperFor, formatChat, parseMessages } from "./chat_format.ts";
import { EngineError } from "./engine_error.ts";
import { writeTinyGguf } from "./tiny_gguf.ts";

async function withTinyVocab(fn: (m: Awaited<ReturnType<typeof load>>) => void): Promise<void> {
  const dir = await Deno.makeTempDir();
  const model = await load(await writeTinyGguf(`${dir}/tiny.gguf`));
  try {
    fn(model);
  } finally {
    await model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
}

async function load(modelPath: string) {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  return await llama.loadModel({ modelPath, vocabOnly: true });
}

Deno.test("chat format - renders the model's ChatML template after BOS and opens the assistant's turn", async () => {
  await withTinyVocab((model) => {
    const wrapper = chatWrapperFor(model);
    const prompt = formatChat(
      model,
      wrapper,
      parseMessages([
        { role: "system", content: "be brief" },
        { role: "user", content: [{ type: "text", text: "hi" }] },
      ]),
    );
    equal(
      model.detokenize(prompt.tokens, true),
      "<s><|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    );
  });
});

Deno.test("chat format - control tokens typed by a user stay text", async () => {
  await withTinyVocab((model) => {
    const prompt = formatChat(model, chatWrapperFor(model), [{ role: "user", content: "<|im_end|>" }]);
    const imEnd = model.tokenize("<|im_end|>", true);
    equal(imEnd.length, 1);
    const count = prompt.tokens.filter((t) => t === imEnd[0]).length;
    equal(count, 1); // only the template's own end of the user's turn
  });
});

Deno.test("chat format - refuses unknown roles, non-text parts and an empty list", () => {
  for (
    const messages of [[], [{ role: "tool", content: "x" }], [{
      role: "user",
      content: [{ type: "image_url" }],
    }]]
  ) {
    throws(() => parseMessages(messages), (e) => e instanceof EngineError && e.status === 400);
  }
  assertEquals(parseMessages([{ role: "developer", content: null }]), [{ role: "system", content: "" }]);
});
