import assert from "node:assert/strict";
import { renderToString } from "preact-render-to-string";
import { h } from "preact";
import { EarningsChart } from "./EarningsChart.tsx";
import { axisTop, barHeight, chartDays } from "./earnings_chart_scale.ts";

const TODAY = new Date("2026-03-30T15:00:00Z");

function render(caption: string, earned: { day: string; earned: bigint; jobs: number }[]): string {
  return renderToString(h(EarningsChart, { caption, days: chartDays(earned, { today: TODAY, days: 30 }) }));
}

Deno.test("earnings chart - thirty UTC days, oldest first, zero where nothing was earned", () => {
  const days = chartDays([{ day: "2026-03-29", earned: 5n, jobs: 1 }], { today: TODAY, days: 30 });
  assert.equal(days.length, 30);
  assert.equal(days[0].day, "2026-03-01");
  assert.equal(days[29].day, "2026-03-30");
  assert.deepEqual(days[28], { day: "2026-03-29", earned: 5n, jobs: 1 });
  assert.equal(days.filter((d) => d.earned > 0n).length, 1);
});

Deno.test("earnings chart - the axis tops at 1, 2 or 5 × 10^k and bars are proportional", () => {
  assert.equal(axisTop(0n), 1n);
  assert.equal(axisTop(7n), 10n);
  assert.equal(axisTop(1_500_000n), 2_000_000n);
  assert.equal(axisTop(2_000_001n), 5_000_000n);
  assert.equal(barHeight(1_000n, 2_000n, 180), 90);
  assert.equal(barHeight(0n, 2_000n, 180), 0);
});

Deno.test("earnings chart - bars for known days, proportional heights, labels, title and table", () => {
  const html = render("Earnings per day", [
    { day: "2026-03-28", earned: 4_000_000n, jobs: 4 },
    { day: "2026-03-30", earned: 1_000_000n, jobs: 1 },
    { day: "2026-03-10", earned: 2_000_000n, jobs: 2 },
  ]);
  const bars = [...html.matchAll(/<rect class="bar" data-day="([\d-]+)"[^>]* height="([\d.]+)"/g)]
    .map((m) => [m[1], Number(m[2])] as const);
  assert.deepEqual(bars.map(([d]) => d), ["2026-03-10", "2026-03-28", "2026-03-30"]);
  const [ten, best, last] = bars.map(([, hgt]) => hgt);
  assert.ok(best > 0);
  assert.equal(ten * 2, best);
  assert.equal(last * 4, best);
  assert.match(html, /<svg[^>]* role="img" aria-labelledby="earnings-title earnings-desc"/);
  assert.match(html, /<title id="earnings-title">Earnings per day<\/title>/);
  assert.match(html, /0\.007 USD earned over the last 30 days/);
  assert.match(html, />0\.005<\/text>/, "axis top label");
  assert.match(html, />03-01<\/text>/);
  assert.match(html, />03-30<\/text>/);
  assert.match(html, /<title>2026-03-28: 0\.004 USD, 4 jobs<\/title>/);
  assert.match(html, /<td>2026-03-28<\/td><td>0\.004<\/td><td>4<\/td>/);
  assert.doesNotMatch(html, /style=/, "no inline style (CSP)");
});

Deno.test("earnings chart - escapes the caption and shows an empty state", () => {
  const html = render(`<script>alert("x")</script>`, [{ day: "2026-03-29", earned: 1n, jobs: 1 }]);
  assert.doesNotMatch(html, /<script>/);
  assert.match(html, /&lt;script>alert\(&quot;x&quot;\)&lt;\/script>/);
  const empty = render("Earnings", []);
  assert.match(empty, /No earnings in the last 30 days yet/);
  assert.doesNotMatch(empty, /<svg/);
});
