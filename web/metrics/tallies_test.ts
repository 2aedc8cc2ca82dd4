import assert from "node:assert/strict";
import { Counter, Histogram, Registry } from "prom-client";
import { parsePrometheusText, type Sample } from "../../testing/prometheus_text.ts";
import { talliedCounter, TalliedHistogram } from "./tallies.ts";

const sorted = (samples: Sample[]) =>
  samples.map((s) => JSON.stringify([s.name, Object.entries(s.labels).sort(), s.value])).sort();

Deno.test("tallies - a tallied histogram renders what prom-client's own renders for the same values", async () => {
  const buckets = [0.001, 0.01, 0.1, 1];
  const values = [0, 0.0005, 0.001, 0.0011, 0.01, 0.05, 0.1, 0.5, 1, 2, 1000];
  const ours = new Registry();
  const theirs = new Registry();
  const tallied = new TalliedHistogram({
    name: "h_seconds",
    help: "h",
    labelNames: ["kind", "stream"],
    buckets,
    registers: [ours],
  });
  const reference = new Histogram({
    name: "h_seconds",
    help: "h",
    labelNames: ["kind", "stream"],
    buckets,
    registers: [theirs],
  });
  for (const [i, v] of values.entries()) {
    const stream = i % 3 === 0 ? "true" : "false";
    tallied.series.get("chat", stream).observe(v);
    reference.observe({ kind: "chat", stream }, v);
  }
  const a = parsePrometheusText(await ours.metrics());
  const b = parsePrometheusText(await theirs.metrics());
  assert.deepEqual(sorted(a), sorted(b));
  // A value on a bound is counted in that bound's bucket (`le` is inclusive).
  const le = (x: string) =>
    a.find((s) => s.name === "h_seconds_bucket" && s.labels.stream === "false" && s.labels.le === x)!.value;
  assert.equal(le("0.001"), 2); // 0.0005 and 0.001
  assert.equal(le("+Inf"), 7);
});

Deno.test("tallies - a tallied counter renders each series' count, made on first use", async () => {
  const registry = new Registry();
  const family = talliedCounter({
    name: "c_total",
    help: "c",
    labelNames: ["route", "status"],
    registers: [registry],
  });
  family.get("/a", 200).value++;
  family.get("/a", 200).value++;
  family.get("/a", 404).value += 5;
  assert.equal(family.get("/a", 200), family.get("/a", 200));
  const reference = new Registry();
  const counter = new Counter({
    name: "c_total",
    help: "c",
    labelNames: ["route", "status"],
    registers: [reference],
  });
  counter.inc({ route: "/a", status: "200" }, 2);
  counter.inc({ route: "/a", status: "404" }, 5);
  assert.deepEqual(
    sorted(parsePrometheusText(await registry.metrics())),
    sorted(parsePrometheusText(await reference.metrics())),
  );
  // Scraping twice does not count twice.
  assert.deepEqual(
    sorted(parsePrometheusText(await registry.metrics())),
    sorted(parsePrometheusText(await reference.metrics())),
  );
});
