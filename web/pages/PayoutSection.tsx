// The money sections' payouts: the request form and the history with each payout's state.
import type { PayoutRow } from "../../db/mod.ts";
import { formatUsd } from "../../shared/mod.ts";
import { Notice } from "./Layout.tsx";
import type { MoneyView } from "./operator_view.ts";
import { When } from "./When.tsx";

/** What a payout's status means for the operator's money, under the status in the history. */
function PayoutStatusNote(props: { payout: PayoutRow }) {
  const p = props.payout;
  switch (p.status) {
    case "requested":
      return <div class="muted">Not yet taken by the payment processor; retried automatically.</div>;
    case "sent":
      return <div class="muted">The payment processor is sending it; checked until it is paid.</div>;
    case "completed":
      return null;
    case "failed":
      return (
        <>
          {p.error && <div class="error-text">{p.error}</div>}
          <div class="muted">Returned to your balance.</div>
        </>
      );
  }
}

/** The payout request form and the payout history. */
export function PayoutSection(props: { view: MoneyView }) {
  const v = props.view;
  const enough = v.payable >= v.minPayout && v.payable > 0n;
  return (
    <section id="payouts">
      <h2>Request a payout</h2>
      {v.payoutError && <Notice kind="error">{v.payoutError}</Notice>}
      {v.claimedBy
        ? (
          <p class="claimed">
            This node is claimed by operator{" "}
            <code>{v.claimedBy}</code>: its earnings are paid to the operator. Sign in with the operator's key
            to request a payout.
          </p>
        )
        : v.addresses.length === 0
        ? <p>Set a payout address first.</p>
        : (
          <form method="post" action="/operator/payouts" class="inline payout-form">
            <input type="hidden" name="token" value={v.payoutToken} />
            <label>
              Pay to{" "}
              <select name="coin">
                {v.addresses.map((a) => <option key={a.coin} value={a.coin}>{a.coin}</option>)}
              </select>
            </label>
            <button type="submit" disabled={!enough}>
              {enough ? `Pay out ${formatUsd(v.payable)} USD` : "Request payout"}
            </button>
          </form>
        )}
      <p class="muted" hidden={!!v.claimedBy}>
        {enough
          ? `All pending earnings rounded down to whole cents: ${formatUsd(v.payable)} USD.`
          : `Pending earnings (${formatUsd(v.earnings.pending)} USD) are below the minimum payout of ${
            formatUsd(v.minPayout)
          } USD.`}
      </p>
      <h2>Payout history</h2>
      {v.payouts.length === 0 ? <p>No payouts yet.</p> : (
        <div class="scroll">
          <table class="payouts">
            <thead>
              <tr>
                <th>Created (UTC)</th>
                <th>Status</th>
                <th>Amount</th>
                <th>Tx hash</th>
              </tr>
            </thead>
            <tbody>
              {v.payouts.map((p) => (
                <tr key={String(p.id)} data-payout={String(p.id)}>
                  <td>
                    <When at={p.createdAt} />
                  </td>
                  <td data-status={p.status}>
                    {p.status}
                    {p.automatic ? " (automatic)" : ""}
                    <PayoutStatusNote payout={p} />
                  </td>
                  <td>
                    {formatUsd(p.amount)} USD
                    <div class="muted">{p.cryptoAmount ?? "–"} {p.coin}</div>
                  </td>
                  <td>{p.txHash ? <code class="tx">{p.txHash}</code> : "–"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
