import assert from "node:assert/strict";
import { generateSecretKey, getEventHash, getPublicKey, verifyEvent } from "nostr-tools/pure";
import { workerThreadIds } from "../../db/mod.ts";
import { inlineSigner, workerSigner } from "./event_signer.ts";

Deno.test("event signer - a worker signer signs and checks, and names its own thread", async () => {
  const secretKey = generateSecretKey();
  const signer = workerSigner(secretKey);
  try {
    const template = {
      kind: 1,
      created_at: 1_700_000_000,
      tags: [],
      content: "a",
      pubkey: getPublicKey(secretKey),
    };
    const event = { ...template, id: getEventHash(template) };
    const [sig] = await signer.sign([event]);
    const signed = { ...event, sig };
    assert.equal(verifyEvent({ ...signed }), true);
    assert.deepEqual(await signer.verify([signed, { ...signed, content: "b" }]), [true, false]);
    const thread = await signer.thread();
    if (Deno.build.os !== "linux") return assert.equal(thread, null);
    // Its own id, not a guess from the threads that appeared while it started: one of this
    // process's worker threads, and not the main one.
    assert.ok(typeof thread === "number" && thread !== Deno.pid, `thread ${thread}`);
    assert.ok((await workerThreadIds()).has(thread), `${thread} is not a worker thread of this process`);
  } finally {
    signer.close();
  }
});

Deno.test("event signer - an inline signer has no thread of its own", async () => {
  assert.equal(await inlineSigner(generateSecretKey()).thread(), null);
});
