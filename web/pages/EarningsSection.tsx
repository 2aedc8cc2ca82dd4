// The money sections' earnings: pending, in flight, paid, and the per-day chart.
import { formatUsd } from "../../shared/mod.ts";
import { EarningsChart } from "./EarningsChart.tsx";
import type { MoneyView } from "./operator_view.ts";

/** Pending, in flight, paid, and the per-day chart. */
export function EarningsSection(props: { view: MoneyView }) {
  const v = props.view;
  const e = v.earnings;
  return (
    <section id="earnings">
      <h2>Earnings</h2>
      <section class="cards">
        <div class="card">
          <span class="num" data-stat="pending">{formatUsd(e.pending)} USD</span> pending
        </div>
        <div class="card">
          <span class="num" data-stat="in-flight">{formatUsd(e.inFlight)} USD</span> being paid
        </div>
        <div class="card">
          <span class="num" data-stat="paid">{formatUsd(e.paid)} USD</span> paid out
        </div>
      </section>
      <p class="muted">
        Minimum payout {formatUsd(v.minPayout)} USD; {v.autoPayout === null
          ? "automatic payouts are off."
          : `paid automatically once earnings reach ${formatUsd(v.autoPayout)} USD (to your first address).`}
      </p>
      <EarningsChart days={v.chart} caption={`Earnings per day, last ${v.chart.length} days`} />
    </section>
  );
}
