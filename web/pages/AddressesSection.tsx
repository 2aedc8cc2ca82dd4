// The money sections' payout addresses: one per coin, each replaceable.
import { Notice } from "./Layout.tsx";
import type { MoneyView } from "./operator_view.ts";

/** One payout address per coin, each replaceable, and the form to add one. */
export function AddressesSection(props: { view: MoneyView }) {
  const v = props.view;
  const f = v.addressForm;
  const typed = (coin: string, fallback: string) => (f && f.coin === coin ? f.address : fallback);
  const unset = v.coins.filter((c) => !v.addresses.some((a) => a.coin === c));
  const addingCoin = f && unset.includes(f.coin) ? f.coin : unset[0];
  return (
    <section id="addresses">
      <h2>Payout addresses</h2>
      {v.addresses.length === 0 && <p>None yet: set one to be paid.</p>}
      {v.addresses.map((a) => (
        <form key={a.coin} method="post" action="/operator/payout-address" class="address-form">
          {f && f.coin === a.coin && <Notice kind="error">{f.error}</Notice>}
          <input type="hidden" name="coin" value={a.coin} />
          <label>
            <strong>{a.coin}</strong>{" "}
            <input
              name="address"
              value={typed(a.coin, a.address)}
              required
              autoComplete="off"
              autoCapitalize="off"
            />
          </label>
          <button type="submit" class="secondary">Replace</button>
        </form>
      ))}
      {unset.length > 0 && (
        <form method="post" action="/operator/payout-address" class="address-form add">
          {f && f.coin === addingCoin && <Notice kind="error">{f.error}</Notice>}
          <label>
            Coin{" "}
            <select name="coin">
              {unset.map((c) => <option key={c} value={c} selected={c === addingCoin}>{c}</option>)}
            </select>
          </label>
          <label>
            Address{" "}
            <input
              name="address"
              value={f && f.coin === addingCoin ? f.address : ""}
              required
              autoComplete="off"
              autoCapitalize="off"
            />
          </label>
          <button type="submit">Save address</button>
        </form>
      )}
    </section>
  );
}
