// An operator's earnings per day as a server-rendered SVG bar chart (no script, no style
// attribute: the CSP allows neither), with an accessible title and description and the same
// numbers as a table for readers that cannot see the chart.
import { formatUsd } from "../../shared/mod.ts";
import { axisTop, barHeight, type ChartDay } from "./earnings_chart_scale.ts";

const WIDTH = 640;
const HEIGHT = 220;
const LEFT = 100;
const RIGHT = 8;
const TOP = 12;
const BOTTOM = 28;

/** The chart; the caption names what it shows (e.g. the node). */
export function EarningsChart(props: { days: ChartDay[]; caption: string }) {
  const days = props.days;
  const total = days.reduce((s, d) => s + d.earned, 0n);
  if (total === 0n) {
    return <p class="chart-empty">No earnings in the last {days.length} days yet.</p>;
  }
  const best = days.reduce((a, b) => (b.earned > a.earned ? b : a));
  const top = axisTop(best.earned);
  const plotW = WIDTH - LEFT - RIGHT;
  const plotH = HEIGHT - TOP - BOTTOM;
  const slot = plotW / days.length;
  const barW = Math.max(1, Math.round(slot * 0.7 * 100) / 100);
  const ticks = [0n, top / 2n, top];
  const labelled = new Set([0, Math.floor((days.length - 1) / 2), days.length - 1]);
  const round = (n: number) => Math.round(n * 100) / 100;
  return (
    <figure class="chart">
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-labelledby="earnings-title earnings-desc"
        class="earnings-chart"
        xmlns="http://www.w3.org/2000/svg"
      >
        <title id="earnings-title">{props.caption}</title>
        <desc id="earnings-desc">
          {`${formatUsd(total)} USD earned over the last ${days.length} days, from ${days[0].day} to ${
            days.at(-1)!.day
          }; the best day was ${best.day} with ${formatUsd(best.earned)} USD.`}
        </desc>
        {ticks.map((t) => {
          const y = round(TOP + plotH - barHeight(t, top, plotH));
          return (
            <g key={String(t)} class="tick">
              <line x1={LEFT} x2={WIDTH - RIGHT} y1={y} y2={y} stroke="#d8dde3" stroke-width="1" />
              <text x={LEFT - 6} y={y + 4} text-anchor="end">{formatUsd(t)}</text>
            </g>
          );
        })}
        {days.map((d, i) => {
          const h = barHeight(d.earned, top, plotH);
          const x = round(LEFT + i * slot + (slot - barW) / 2);
          return (
            <g key={d.day}>
              {h > 0 && (
                <rect
                  class="bar"
                  data-day={d.day}
                  x={x}
                  y={round(TOP + plotH - h)}
                  width={barW}
                  height={h}
                  fill="#2454d6"
                >
                  <title>{`${d.day}: ${formatUsd(d.earned)} USD, ${d.jobs} jobs`}</title>
                </rect>
              )}
              {labelled.has(i) && (
                // The first and last labels are anchored inside the plot so they are never clipped.
                <text
                  x={i === 0 ? x : i === days.length - 1 ? round(x + barW) : round(x + barW / 2)}
                  y={HEIGHT - 8}
                  text-anchor={i === 0 ? "start" : i === days.length - 1 ? "end" : "middle"}
                >
                  {d.day.slice(5)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <figcaption class="muted">{props.caption} (USD per UTC day)</figcaption>
      <details class="chart-table">
        <summary>The same numbers as a table</summary>
        <table>
          <thead>
            <tr>
              <th>Day (UTC)</th>
              <th>Earned (USD)</th>
              <th>Jobs</th>
            </tr>
          </thead>
          <tbody>
            {days.filter((d) => d.earned > 0n).reverse().map((d) => (
              <tr key={d.day}>
                <td>{d.day}</td>
                <td>{formatUsd(d.earned)}</td>
                <td>{d.jobs}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
