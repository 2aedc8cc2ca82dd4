// The table of jobs both dashboards show: the consumer's usage log (what each request cost) and
// the operator's jobs served (what each earned). Same columns, but each page chooses the money
// column, how times are shown, and any extra columns.
import type { ComponentChildren } from "preact";
import type { JobListItem } from "../../db/mod.ts";
import { formatUsd } from "../../shared/mod.ts";
import { receiptHref } from "./reputation_view.ts";

/** A column one page adds after the common ones. */
export interface ExtraColumn<R> {
  label: string;
  cell: (row: R) => ComponentChildren;
}

/** Jobs newest first, one row each (`data-job` carries the job id). */
export function JobTable<R extends JobListItem>(props: {
  class: string;
  rows: R[];
  time: (row: R) => ComponentChildren;
  amountLabel: string;
  amount: (row: R) => bigint;
  extras?: ExtraColumn<R>[];
}) {
  const { rows, time, amount, extras = [] } = props;
  return (
    <div class="scroll">
      <table class={props.class}>
        <thead>
          <tr>
            <th>Time (UTC)</th>
            <th>Model</th>
            <th>Status</th>
            <th>Tokens in / out</th>
            <th>{props.amountLabel}</th>
            <th>Latency</th>
            {extras.map((x) => <th key={x.label}>{x.label}</th>)}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.jobId} data-job={r.jobId}>
              <td>{time(r)}</td>
              <td>{r.model}</td>
              <td>{r.status}</td>
              <td>{r.promptTokens} / {r.completionTokens}</td>
              <td>{formatUsd(amount(r))}</td>
              <td>{r.latencyMs} ms</td>
              {extras.map((x) => <td key={x.label}>{x.cell(r)}</td>)}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A link to a job's public signed receipts. */
export function ReceiptLink(props: { jobId: string }) {
  return (
    <a href={receiptHref(props.jobId)} class="receipt" aria-label={`receipt of job ${props.jobId}`}>
      receipt
    </a>
  );
}
