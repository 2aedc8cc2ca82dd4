// `infernet price set|show` as an operator runs it, against a served control plane and a test
// engine; and the parsing of config.json's `prices`.
import assert from "node:assert/strict";
import { DEFAULT_PRICES } from "../shared/mod.ts";
import { runCli } from "../testing/run_cli.ts";
import { startTestEngine } from "../testing/test_engine.ts";
import { openTestControlPlane } from "../testing/control_plane.ts";
import { CliError } from "../cli/cli_error.ts";
import { parsePricesConfig, parseUsdNano, readNodeConfig, writeNodeConfig } from "../cli/config.ts";
import { modelPrice } from "../cli/node_advert.ts";

async function withHome(fn: (home: string) => Promise<void>) {
  const home = await Deno.makeTempDir({ prefix: "infernet-price-" });
  try {
    await fn(home);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

function oneLine(stderr: string): string {
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line on stderr, got: ${stderr}`);
  return lines[0];
}

Deno.test("price config - decimal USD strings parse exactly to nano-USD and round-trip", async () => {
  assert.equal(parseUsdNano("0.0002"), 200_000);
  assert.equal(parseUsdNano("0.000000001"), 1);
  assert.equal(parseUsdNano("12"), 12_000_000_000);
  for (const bad of ["-1", "abc", "1e5", "0.0000000001", ".5", "1.", "", " 1", "1000000"]) {
    assert.equal(parseUsdNano(bad), null, bad);
  }
  await withHome(async (home) => {
    // Parsed from JSON, as config.json is: "__proto__" is then an own key, as a model id may be.
    const prices = parsePricesConfig(JSON.parse(`{
      "default": {"prompt_per_1k": "0.0003", "completion_per_1k": "0.0009"},
      "models": {"__proto__": {"prompt_per_1k": "0.00001", "completion_per_1k": "0.00002"}}
    }`));
    assert.deepEqual(prices.default, { promptPer1k: 300_000, completionPer1k: 900_000 });
    assert.ok(Object.hasOwn(prices.models, "__proto__"), "a model id is a plain key, never the prototype");
    const cfg = { ...(await readNodeConfig(home)), prices };
    await writeNodeConfig(home, cfg);
    assert.deepEqual((await readNodeConfig(home)).prices, prices);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${home}/config.json`)).prices.default, {
      prompt_per_1k: "0.0003",
      completion_per_1k: "0.0009",
    });
  });
});

Deno.test("price config - a malformed prices field is an error naming the field", () => {
  const pair = { prompt_per_1k: "0.0001", completion_per_1k: "0.0002" };
  const cases: [unknown, RegExp][] = [
    [[], /prices may only hold/],
    [{ default: pair, extra: 1 }, /prices may only hold/],
    [{ default: { ...pair, prompt_per_1k: 0.0001 } }, /prices\.default\.prompt_per_1k must be a decimal USD/],
    [{ default: { ...pair, completion_per_1k: "-1" } }, /prices\.default\.completion_per_1k/],
    [{ default: { prompt_per_1k: "0.0001" } }, /prices\.default must be/],
    [{ default: { ...pair, margin: "1" } }, /prices\.default must be/],
    [{ models: [] }, /prices\.models must be an object/],
    [{ models: { "a b": pair } }, /bad model id 'a b'/],
    [{ models: { m: { ...pair, prompt_per_1k: "0.0000000001" } } }, /prices\.models\["m"\]\.prompt_per_1k/],
  ];
  for (const [raw, message] of cases) {
    assert.throws(
      () => parsePricesConfig(raw),
      (e: unknown) => e instanceof CliError && e.code === "config" && message.test(e.message),
      JSON.stringify(raw),
    );
  }
});

Deno.test("price config - a model's override wins over the default, which wins over the built-in price", () => {
  const def = { promptPer1k: 5_000, completionPer1k: 6_000 };
  const own = { promptPer1k: 7_000, completionPer1k: 8_000 };
  assert.deepEqual(modelPrice(undefined, "m"), { ...DEFAULT_PRICES, source: "built-in" });
  assert.deepEqual(modelPrice({ default: def, models: {} }, "m"), { ...def, source: "default" });
  assert.deepEqual(modelPrice({ default: def, models: { m: own } }, "m"), { ...own, source: "model" });
  assert.deepEqual(modelPrice({ default: null, models: { m: own } }, "constructor"), {
    ...DEFAULT_PRICES,
    source: "built-in",
  });
});

Deno.test("cli price - set within bounds re-registers; overrides win; out of bounds and malformed values save nothing", async () => {
  const t = await openTestControlPlane({ serve: true });
  const engine = await startTestEngine({ models: ["alpha", "beta"] });
  try {
    await withHome(async (home) => {
      const env = { INFERNET_HOME: home };
      const init = await runCli(["init", "--json"], env);
      assert.equal(init.code, 0, init.stderr);
      const pubkey: string = JSON.parse(init.stdout).pubkey;
      const reg = await runCli(["register", "--server", t.server!.url, "--engine-url", engine.url], env);
      assert.equal(reg.code, 0, reg.stderr);
      const prices = () =>
        Object.fromEntries(
          t.cp.registry.get(pubkey)!.record.models.map((
            m,
          ) => [m.id, [m.promptPricePer1k, m.completionPricePer1k]]),
        );
      assert.deepEqual(prices().alpha, [DEFAULT_PRICES.promptPer1k, DEFAULT_PRICES.completionPer1k]);

      const set = await runCli(
        ["price", "set", "--prompt", "0.0003", "--completion", "0.0009", "--engine-url", engine.url],
        env,
      );
      assert.equal(set.code, 0, set.stderr);
      assert.match(set.stdout, /saved: default .*prompt \$0\.0003, completion \$0\.0009 per 1k tokens/);
      assert.match(set.stdout, /tier's bounds 0\.000001–0\.\d+ USD per 1k tokens \(published by http/);
      assert.match(set.stdout, /re-registered with http.*SIGHUP/);
      assert.deepEqual(prices(), { alpha: [300_000, 900_000], beta: [300_000, 900_000] });

      const over = await runCli(
        [
          "price",
          "set",
          "--model",
          "beta",
          "--prompt",
          "0.00001",
          "--completion",
          "0.00002",
          "--json",
          "--engine-url",
          engine.url,
        ],
        env,
      );
      assert.equal(over.code, 0, over.stderr);
      const answer = JSON.parse(over.stdout);
      assert.equal(answer.model, "beta");
      assert.equal(answer.prompt_per_1m_usd, "0.01");
      assert.equal(answer.bounds.source, "server");
      assert.equal(answer.registration.status, "updated");
      assert.deepEqual(prices(), { alpha: [300_000, 900_000], beta: [10_000, 20_000] });

      // Refusals: nothing saved, one line.
      const saved = await Deno.readTextFile(`${home}/config.json`);
      const high = await runCli(["price", "set", "--prompt", "1", "--completion", "0.0001"], env);
      assert.equal(high.code, 2);
      assert.match(
        oneLine(high.stderr),
        /^infernet: prompt price 1 USD per 1k tokens is outside the \w+ tier's bounds 0\.000001–0\.\d+ USD per 1k tokens \(published by http:\/\/127\.0\.0\.1:\d+\); nothing saved$/,
      );
      const low = await runCli(["price", "set", "--prompt", "0.0001", "--completion", "0"], env);
      assert.equal(low.code, 2);
      assert.match(oneLine(low.stderr), /completion price 0 USD .* bounds 0\.000001–/);
      for (
        const bad of [["--prompt", "-1"], ["--prompt=-1"], ["--prompt", "abc"], ["--prompt", "1e5"], [
          "--prompt",
          "0.0000000001",
        ]]
      ) {
        const r = await runCli(["price", "set", ...bad, "--completion", "0.0001"], env);
        assert.equal(r.code, 2, bad.join(" "));
        assert.match(r.stderr, /^infernet: price set: |^infernet: --prompt must be USD per 1,000 tokens/);
        // `--prompt -1` is refused by node:util parseArgs, whose message spans lines.
        if (bad[1] !== "-1") oneLine(r.stderr);
      }
      const noCompletion = await runCli(["price", "set", "--prompt", "0.0001"], env);
      assert.equal(noCompletion.code, 2);
      assert.match(oneLine(noCompletion.stderr), /needs --prompt USD and --completion USD/);
      assert.equal(await Deno.readTextFile(`${home}/config.json`), saved, "config unchanged");
      assert.deepEqual(prices(), { alpha: [300_000, 900_000], beta: [10_000, 20_000] });

      const show = await runCli(["price", "show", "--json", "--engine-url", engine.url], env);
      assert.equal(show.code, 0, show.stderr);
      const s = JSON.parse(show.stdout);
      assert.deepEqual(s.default, {
        prompt_per_1k_usd: "0.0003",
        completion_per_1k_usd: "0.0009",
        prompt_per_1m_usd: "0.3",
        completion_per_1m_usd: "0.9",
        source: "default",
      });
      assert.deepEqual(
        s.models.map((m: Record<string, unknown>) => [m.id, m.prompt_per_1k_usd, m.source, m.served]),
        [["alpha", "0.0003", "default", true], ["beta", "0.00001", "model", true]],
      );
      assert.equal(s.bounds.source, "server");
      assert.equal(s.bounds.min_per_1k_usd, "0.000001");
      assert.equal(s.fee_bps, t.cp.config.feeBps);
      const text = await runCli(["price", "show", "--engine-url", engine.url], env);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /MODEL +PROMPT \/1K +COMPLETION \/1K +PROMPT \/1M +COMPLETION \/1M +FROM/);
      assert.match(text.stdout, /beta +\$0\.00001 +\$0\.00002 +\$0\.01 +\$0\.02 +override/);
      assert.match(text.stdout, /platform fee: \d+ %/);
    });
  } finally {
    await engine.close();
    await t.close();
  }
});

Deno.test("cli price - an unreachable server falls back to the built-in bounds and says so; unregistered nodes are told when it applies", async () => {
  const t = await openTestControlPlane({ serve: true });
  try {
    await withHome(async (home) => {
      await runCli(["init", "--json"], { INFERNET_HOME: home });
      const away = { INFERNET_HOME: home, INFERNET_SERVER: "http://127.0.0.1:9" };
      const set = await runCli(["price", "set", "--prompt", "0.0001", "--completion", "0.0002"], away);
      assert.equal(set.code, 0, set.stderr);
      assert.match(set.stdout, /\(built into this CLI\)/);
      assert.match(
        set.stdout,
        /cannot reach http:\/\/127\.0\.0\.1:9 .*checked against this CLI's built-in bounds/,
      );
      assert.match(set.stdout, /not announced/);
      assert.deepEqual((await readNodeConfig(home)).prices?.default, {
        promptPer1k: 100_000,
        completionPer1k: 200_000,
      });
      const high = await runCli(["price", "set", "--prompt", "0.5", "--completion", "0.0002"], away);
      assert.equal(high.code, 2);
      assert.match(oneLine(high.stderr), /bounds 0\.000001–0\.\d+ USD per 1k tokens \(built into this CLI\)/);

      const env = { INFERNET_HOME: home, INFERNET_SERVER: t.server!.url };
      const fresh = await runCli(
        ["price", "set", "--prompt", "0.0001", "--completion", "0.0003", "--json"],
        env,
      );
      assert.equal(fresh.code, 0, fresh.stderr);
      assert.equal(JSON.parse(fresh.stdout).registration.status, "not_registered");
    });
  } finally {
    await t.close();
  }
});
