import assert from "node:assert/strict";
import { PLATFORM_KEY_REFRESH_MS, PlatformKeyCache } from "./platform_key_cache.ts";

Deno.test("platform key cache - fetches at most once a minute", async () => {
  let now = 0;
  let fetches = 0;
  const cache = new PlatformKeyCache(() => Promise.resolve(`key${++fetches}`), { now: () => now });
  assert.equal(cache.current, null);
  assert.equal(await cache.refresh(), "key1");
  now += PLATFORM_KEY_REFRESH_MS - 1;
  assert.equal(await cache.refresh(), "key1", "within the minute: the known key, no fetch");
  assert.equal(fetches, 1);
  now += 1;
  assert.equal(await cache.refresh(), "key2");
  assert.equal(cache.current, "key2");
});

Deno.test("platform key cache - a failed fetch also waits a minute before the next", async () => {
  let now = 0;
  let fetches = 0;
  const cache = new PlatformKeyCache(() => {
    fetches++;
    return Promise.reject(new Error("down"));
  }, { now: () => now });
  await assert.rejects(cache.refresh());
  assert.equal(await cache.refresh(), null);
  assert.equal(fetches, 1);
  now += PLATFORM_KEY_REFRESH_MS;
  await assert.rejects(cache.refresh());
  assert.equal(fetches, 2);
});

Deno.test("platform key cache - callers during a fetch get its key, not null", async () => {
  let release: (key: string) => void = () => {};
  let fetches = 0;
  const cache = new PlatformKeyCache(() => {
    fetches++;
    return new Promise<string>((resolve) => release = resolve);
  });
  const first = cache.refresh();
  const second = cache.refresh(); // a second ticket while the first fetch is under way
  release("key1");
  assert.deepEqual(await Promise.all([first, second]), ["key1", "key1"]);
  assert.equal(fetches, 1);
});
