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
