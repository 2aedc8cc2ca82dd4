// `/account`: sign in with an API key (a short server-side session), then the balance, holds,
// deposits, a deposit form, the usage log with filters and a CSV export, and the key's sessions.
import type { ConsumerSessionRow, PaymentRow, UsageRow } from "../../db/mod.ts";
import { formatUsd } from "../../shared/mod.ts";
import DepositStatus from "../islands/DepositStatus.tsx";
import { Island } from "./Island.tsx";
import { JobTable, ReceiptLink } from "./JobTable.tsx";
import { Layout, Notice } from "./Layout.tsx";
import type { UsageQuery } from "./usage_query.ts";

/** The sign-in form (paste the API key; a session lasts `sessionMinutes`). */
export function SignInPage(props: { sessionMinutes: number; error?: string }) {
  return (
    <Layout title="Account">
      {props.error && <Notice kind="error">{props.error}</Notice>}
      <form method="post" action="/account/login" class="stack">
        <label>
          API key <input name="key" type="password" autoComplete="off" required placeholder="inf_…" />
        </label>
        <button type="submit">Sign in</button>
      </form>
      <p class="muted">
        You stay signed in for {props.sessionMinutes} minutes; the browser keeps a session, never the key.
      </p>
      <p>
        No key yet? <a href="/keys">Create one</a>.
      </p>
    </Layout>
  );
}

/** Everything the signed-in account page shows. */
export interface AccountView {
  keyPrefix: string;
  /** The key's live sessions, newest first. */
  sessions: ConsumerSessionRow[];
  /** The session this page is seen in. */
  sessionId: bigint;
  balance: bigint;
  held: bigint;
  deposits: PaymentRow[];
  usage: UsageRow[];
  /** The jobs of `usage` that have a receipt (a failed job that reached a node has one, too). */
  receipted: ReadonlySet<string>;
  query: UsageQuery;
  /** The `before` value of the next (older) page of the usage log; null on the last page. */
  older: string | null;
  /** The CSV export's cap when the filter matches more requests than it holds; else null. */
  csvLimit: number | null;
  /** A one-time token of the deposit form: a double submit creates one deposit. */
  depositToken: string;
  coins: readonly string[];
  minDepositUsd: string;
  maxDepositUsd: string;
  error?: string;
  /** The deposit form as it was sent, when it is shown again with an error. */
  depositForm?: { amountUsd: string; coin: string };
}

function minute(d: Date): string {
  return d.toISOString().slice(0, 16).replace("T", " ");
}

function depositStatus(p: PaymentRow): string {
  return p.creditedAt ? "credited" : p.status;
}

/** What a deposit credited: what the processor says was paid, which may differ from what was asked. */
function creditedCell(p: PaymentRow): string {
  if (p.paidAmount === null) return "—";
  const usd = `${formatUsd(p.paidAmount)} USD`;
  if (p.paidAmount < p.amount) return `${usd} (paid less than asked)`;
  if (p.paidAmount > p.amount) return `${usd} (paid more than asked)`;
  return usd;
}

/** The signed-in account page. */
export function AccountPage(props: AccountView) {
  const q = props.query;
  const csv = new URLSearchParams(q.params).toString();
  const olderHref = props.older
    ? `/account?${new URLSearchParams({ ...q.params, before: props.older })}`
    : null;
  const newestHref = `/account${csv ? `?${csv}` : ""}`;
  return (
    <Layout title="Account">
      {props.error && <Notice kind="error">{props.error}</Notice>}
      <section class="cards">
        <div class="card">
          <span class="num" data-stat="balance">{formatUsd(props.balance)} USD</span> balance
        </div>
        <div class="card">
          <span class="num">{formatUsd(props.held)} USD</span> held for jobs in flight and unspent vouchers
        </div>
      </section>
      <p class="muted">
        Signed in with key <code>{props.keyPrefix}…</code>
      </p>
      <form method="post" action="/account/logout">
        <button type="submit" class="secondary">Sign out</button>
      </form>

      <h2>Add credit</h2>
      <form method="post" action="/account/deposits" class="inline">
        <input type="hidden" name="token" value={props.depositToken} />
        <label>
          Amount (USD){" "}
          <input
            name="amount_usd"
            inputMode="decimal"
            required
            placeholder="10.00"
            size={8}
            value={props.depositForm?.amountUsd}
          />
        </label>
        <label>
          Pay with{" "}
          <select name="coin">
            {props.coins.map((c) => (
              <option key={c} value={c} selected={c === (props.depositForm?.coin ?? "USDC_SOL")}>{c}</option>
            ))}
          </select>
        </label>
        <button type="submit">Deposit</button>
      </form>
      <p class="muted">From {props.minDepositUsd} to {props.maxDepositUsd} USD.</p>

      <h2>Deposits</h2>
      {props.deposits.length === 0 ? <p>None yet.</p> : (
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th>Created</th>
                <th>Amount</th>
                <th>Coin</th>
                <th>Status</th>
                <th>Credited</th>
              </tr>
            </thead>
            <tbody>
              {props.deposits.map((p) => (
                <tr key={p.id}>
                  <td>{minute(p.createdAt)}</td>
                  <td>{formatUsd(p.amount)} USD</td>
                  <td>{p.coin}</td>
                  <td>
                    <a href={`/account/deposits/${encodeURIComponent(p.id)}`}>{depositStatus(p)}</a>
                  </td>
                  <td data-credited={p.id}>{creditedCell(p)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h2>Usage</h2>
      <form method="get" action="/account" class="inline filters">
        <label>
          Model <input name="model" value={q.params.model ?? ""} size={12} />
        </label>
        <label>
          Status{" "}
          <select name="status">
            <option value="">any</option>
            {["completed", "failed", "cancelled", "timeout", "rejected"].map((s) => (
              <option key={s} value={s} selected={q.params.status === s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          From <input name="from" type="date" value={q.params.from ?? ""} />
        </label>
        <label>
          To <input name="to" type="date" value={q.params.to ?? ""} />
        </label>
        <button type="submit">Filter</button>
        <a href={`/account/usage.csv${csv ? `?${csv}` : ""}`} download>Export CSV</a>
      </form>
      {props.csvLimit !== null && (
        <p class="muted" data-csv-capped>
          The CSV export holds the newest {props.csvLimit.toLocaleString("en-US")}{" "}
          requests that match; narrow the dates to export older ones.
        </p>
      )}
      {props.usage.length === 0
        ? <p>{Object.keys(q.params).length === 0 ? "No requests yet." : "No requests match."}</p>
        : (
          <JobTable
            class="usage"
            rows={props.usage}
            time={(u) => u.createdAt.toISOString().slice(0, 19).replace("T", " ")}
            amountLabel="Cost (USD)"
            amount={(u) => u.cost}
            extras={[
              {
                label: "Node",
                cell: (u) => (u.nodePubkey ? <code>{u.nodePubkey.slice(0, 10)}…</code> : "–"),
              },
              // A job that reached a node has a receipt, written moments after it ends.
              {
                label: "Receipt",
                cell: (
                  u,
                ) => (u.nodePubkey || props.receipted.has(u.jobId) ? <ReceiptLink jobId={u.jobId} /> : "–"),
              },
            ]}
          />
        )}
      {(olderHref || q.filter.before) && (
        <nav class="pager">
          {q.filter.before && <a href={newestHref}>Newest</a>}
          {olderHref && <a href={olderHref} rel="next">Older</a>}
        </nav>
      )}

      <Sessions sessions={props.sessions} current={props.sessionId} />
    </Layout>
  );
}

/** The key's signed-in browsers, each with its own sign-out, and one to sign out everywhere. */
function Sessions(props: { sessions: ConsumerSessionRow[]; current: bigint }) {
  return (
    <>
      <h2>Sessions</h2>
      <table class="sessions">
        <thead>
          <tr>
            <th>Signed in (UTC)</th>
            <th>Last seen</th>
            <th>Browser</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {props.sessions.map((s) => (
            <tr key={String(s.id)} data-session={String(s.id)}>
              <td>{minute(s.createdAt)}</td>
              <td>{minute(s.lastSeenAt)}</td>
              <td>
                {s.userAgent || "unknown"}
                {s.id === props.current && (
                  <>
                    <br />
                    <strong>this browser</strong>
                  </>
                )}
              </td>
              <td>
                <form method="post" action="/account/sessions/revoke">
                  <input type="hidden" name="id" value={String(s.id)} />
                  <button type="submit" class="secondary">Sign out</button>
                </form>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form method="post" action="/account/sessions/revoke-all">
        <button type="submit" class="secondary">Sign out everywhere</button>
      </form>
    </>
  );
}

/** A deposit: where to send how much, its QR code, and its status (updating itself). */
export function DepositPage(props: { deposit: PaymentRow; balance: bigint }) {
  const d = props.deposit;
  const status = depositStatus(d);
  return (
    <Layout
      title="Deposit"
      noscriptRefreshS={["credited", "expired", "failed"].includes(status) ? undefined : 5}
    >
      <p>
        Send exactly <strong class="crypto">{d.cryptoAmount} {d.coin}</strong> ({formatUsd(d.amount)} USD) to:
      </p>
      <p>
        <code class="address">{d.paymentAddress}</code>
      </p>
      {d.qrCode.startsWith("data:image/") && (
        <img
          class="qr"
          src={d.qrCode}
          alt={`QR code of the ${d.coin} payment address`}
          width={200}
          height={200}
        />
      )}
      <p class="muted">Expires {d.expiresAt.toISOString().slice(0, 16).replace("T", " ")} UTC.</p>
      <Island name="DepositStatus" props={{ id: d.id, status, balanceUsd: formatUsd(props.balance) }}>
        <DepositStatus id={d.id} status={status} balanceUsd={formatUsd(props.balance)} />
      </Island>
      <p>
        <a href="/account">Back to the account</a>
      </p>
    </Layout>
  );
}
