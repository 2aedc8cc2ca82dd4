// `/operator`: a signed-in operator's node (health, hardware, engine, models and prices), their
// earnings (summary and a per-day chart), the jobs the node served, payout addresses, payout
// history and the payout request form. Everything is plain HTML and forms: no script needed.
import type { EarningsSummary, NodeJobRow, NodeJobStats, PayoutAddressRow, PayoutRow } from "../../db/mod.ts";
import { formatUsd, type VerifiedNodeRecord } from "../../shared/mod.ts";
import { type ChartDay, EarningsChart } from "./earnings_chart.tsx";
import { JobTable } from "./job_table.tsx";
import { Layout, Notice } from "./Layout.tsx";

/** How the node is doing right now, as the registry sees it. */
export interface NodeHealth {
  state: "online" | "stale" | "offline";
  socketOpen: boolean;
  lastHeartbeatAt: Date | null;
  heartbeatAgeS: number | null;
  staleAfterS: number;
  load: number | null;
  freeSlots: number | null;
  inFlight: number;
  successes: number;
  failures: number;
  ttftEwmaMs: number | null;
}

/** Everything the operator page shows. */
export interface OperatorView {
  pubkey: string;
  node: { record: VerifiedNodeRecord; health: NodeHealth } | null;
  stats: NodeJobStats;
  earnings: EarningsSummary;
  /** What a payout request would pay now: the earnings rounded down to whole cents. */
  payable: bigint;
  minPayout: bigint;
  autoPayout: bigint | null;
  chart: ChartDay[];
  jobs: NodeJobRow[];
  olderHref: string | null;
  paged: boolean;
  addresses: PayoutAddressRow[];
  payouts: PayoutRow[];
  coins: readonly string[];
  payoutToken: string;
  notice?: { kind: "ok" | "error"; text: string };
  /** The address form sent back with its error and what was typed. */
  addressForm?: { coin: string; address: string; error: string };
  payoutError?: string;
}

const time = (d: Date) => d.toISOString().slice(0, 19).replace("T", " ");
const gib = (mb: number) => `${(mb / 1024).toFixed(mb % 1024 === 0 ? 0 : 1)} GB`;

/** A UTC date and time that breaks between the two, never inside the date. */
function When(props: { at: Date }) {
  const [day, clock] = time(props.at).split(" ");
  return (
    <>
      <span class="nowrap">{day}</span> {clock}
    </>
  );
}

function ago(s: number | null): string {
  if (s === null) return "never";
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

function NodeSection(props: { view: OperatorView }) {
  const { node, stats } = props.view;
  if (!node) {
    return (
      <section id="node">
        <h2>Node</h2>
        <p>
          No node is registered under this key on this server. Start it with{" "}
          <code>infernet start --server &lt;this server&gt;</code>.
        </p>
      </section>
    );
  }
  const r = node.record;
  const h = node.health;
  const rate = stats.jobs ? `${((100 * stats.completed) / stats.jobs).toFixed(1)} %` : "–";
  return (
    <section id="node">
      <h2>
        Node <span class="node-name">{r.name}</span>
      </h2>
      <section class="cards">
        <div class="card">
          <span class={`num state ${h.state}`} data-stat="state">{h.state}</span>
          heartbeat {ago(h.heartbeatAgeS)}
        </div>
        <div class="card">
          <span class="num" data-stat="slots">{h.freeSlots ?? "–"}</span>
          free slots of {r.maxConcurrency} · {h.inFlight} in flight
        </div>
        <div class="card">
          <span class="num" data-stat="success">{rate}</span>
          success, last 24 h ({stats.completed}/{stats.jobs} jobs)
        </div>
        <div class="card">
          <span class="num" data-stat="latency">
            {stats.medianLatencyMs === null ? "–" : `${stats.medianLatencyMs} ms`}
          </span>
          median latency, 24 h{stats.medianTtftMs === null ? "" : ` · TTFT ${stats.medianTtftMs} ms`}
        </div>
      </section>
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          {h.state}: job socket {h.socketOpen ? "open" : "closed"}; last heartbeat{" "}
          {h.lastHeartbeatAt ? `${time(h.lastHeartbeatAt)} UTC (${ago(h.heartbeatAgeS)})` : "never"}; stale
          after {h.staleAfterS} s
        </dd>
        <dt>Load</dt>
        <dd>{h.load === null ? "not reported yet (comes with the next heartbeat)" : `${h.load}`}</dd>
        <dt>On this server</dt>
        <dd>
          {h.successes} succeeded, {h.failures} failed since it started
          {h.ttftEwmaMs === null ? "" : `; time to first token ≈ ${Math.round(h.ttftEwmaMs)} ms`}
        </dd>
        <dt>Public key</dt>
        <dd>
          <code>{r.pubkey}</code>
        </dd>
        <dt>Engine</dt>
        <dd>
          {r.engine.kind}
          {r.engine.testEngine ? " (test engine)" : ""} · infernet {r.version}
        </dd>
        <dt>Mode</dt>
        <dd>
          {r.endpoint
            ? (
              <>
                direct at <code>{r.endpoint}</code>
              </>
            )
            : "gateway (outbound job socket)"}
        </dd>
        <dt>Hardware</dt>
        <dd>
          {r.gpus.length === 0 ? "no GPU" : r.gpus.map((g) => `${g.name} (${gib(g.vramMb)})`).join(", ")};
          {" "}
          {gib(r.totalVramMb)} VRAM, tier <strong data-stat="tier">{r.vramTier}</strong>; {r.cpuCores}{" "}
          CPU cores, {gib(r.ramMb)} RAM; {r.os}
        </dd>
      </dl>
      <h3>Models and prices</h3>
      {r.models.length === 0 ? <p>No model is advertised.</p> : (
        <div class="scroll">
          <table class="models">
            <thead>
              <tr>
                <th>Model</th>
                <th>Context</th>
                <th>Prompt</th>
                <th>Completion</th>
              </tr>
            </thead>
            <tbody>
              {r.models.map((m) => (
                <tr key={m.id}>
                  <td>{m.id}</td>
                  <td>{m.contextLength ?? "–"}</td>
                  <td>{formatUsd(m.promptPricePer1k)} USD / 1k</td>
                  <td>{formatUsd(m.completionPricePer1k)} USD / 1k</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** The money sections' part of the view (shared with the operator-key page). */
export type MoneyView = Pick<
  OperatorView,
  | "earnings"
  | "payable"
  | "minPayout"
  | "autoPayout"
  | "chart"
  | "addresses"
  | "payouts"
  | "coins"
  | "payoutToken"
  | "addressForm"
  | "payoutError"
>;

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

function JobsSection(props: { view: OperatorView }) {
  const v = props.view;
  return (
    <section id="jobs">
      <h2>Jobs served</h2>
      {v.jobs.length === 0 ? <p>{v.paged ? "No older jobs." : "No jobs yet."}</p> : (
        <JobTable
          class="jobs"
          rows={v.jobs}
          time={(j) => <When at={j.createdAt} />}
          amountLabel="Earned (USD)"
          amount={(j) => j.earned}
        />
      )}
      <p class="pager">
        {v.paged && <a href="/operator#jobs">Newest</a>}
        {v.olderHref && <a href={v.olderHref} rel="next">Older</a>}
      </p>
    </section>
  );
}

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
      {v.addresses.length === 0
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
      <p class="muted">
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

/** The operator page. */
export function OperatorPage(props: OperatorView) {
  return (
    <Layout title="Operator">
      {props.notice && <Notice kind={props.notice.kind}>{props.notice.text}</Notice>}
      <p class="muted">
        Signed in as operator <code>{props.pubkey.slice(0, 16)}…</code>
      </p>
      <NodeSection view={props} />
      <EarningsSection view={props} />
      <JobsSection view={props} />
      <AddressesSection view={props} />
      <PayoutSection view={props} />
    </Layout>
  );
}
