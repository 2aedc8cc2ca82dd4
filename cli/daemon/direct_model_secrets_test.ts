import assert from "node:assert/strict";
import { MODEL_SECRET_MISS_TTL_MS, MODEL_SECRET_TTL_MS, ModelSecretCache } from "./direct_model_secrets.ts";

const KEY = "a".repeat(64);

function counting(answers: Array<Uint8Array | null | Error>) {
  const calls: string[] = [];
  const load = (pubkey: string) => {
    calls.push(pubkey);
    const a = answers[Math.min(calls.length - 1, answers.length - 1)];
    return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
  };
  return { calls, load };
}

Deno.test("model secrets - a loaded secret is read once within its time to live, then again", async () => {
  let now = 1_000;
  const { calls, load } = counting([new Uint8Array([1]), new Uint8Array([2])]);
  const cache = new ModelSecretCache(load, { now: () => now });
  assert.deepEqual(await cache.get(KEY), new Uint8Array([1]));
  now += MODEL_SECRET_TTL_MS - 1;
  assert.deepEqual(await cache.get(KEY), new Uint8Array([1]));
  assert.equal(calls.length, 1);
  now += 1;
  assert.deepEqual(await cache.get(KEY), new Uint8Array([2]));
  assert.equal(calls.length, 2);
});

Deno.test("model secrets - a key not held is asked again after the shorter wait", async () => {
  let now = 0;
  const { calls, load } = counting([null, new Uint8Array([7])]);
  const cache = new ModelSecretCache(load, { now: () => now });
  assert.equal(await cache.get(KEY), null);
  now += MODEL_SECRET_MISS_TTL_MS - 1;
  assert.equal(await cache.get(KEY), null);
  now += 1;
  assert.deepEqual(await cache.get(KEY), new Uint8Array([7]));
  assert.equal(calls.length, 2);
});

Deno.test("model secrets - a failed read is not kept", async () => {
  const { calls, load } = counting([new Error("disk"), new Uint8Array([3])]);
  const cache = new ModelSecretCache(load, { now: () => 0 });
  await assert.rejects(cache.get(KEY), /disk/);
  assert.deepEqual(await cache.get(KEY), new Uint8Array([3]));
  assert.equal(calls.length, 2);
});
