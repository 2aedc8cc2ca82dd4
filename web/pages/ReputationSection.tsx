// The operator page's reputation section: the node's score and its components, the receipts that
// counted against it (newest first) and its verification history, each linked to its receipt.
import {
  formatMs,
  formatRate,
  formatSamples,
  formatScore,
  formatShare,
  nodeReceiptsHref,
  reasonOf,
  receiptHref,
  reputationHref,
  type ReputationPanel,
} from "./reputation_view.ts";
import { When } from "./When.tsx";

const at = (unixS: number) => <When at={new Date(unixS * 1000)} />;

/** Score, components, why it moved, verification history. */
export function ReputationSection(props: { panel: ReputationPanel }) {
  const { reputation: r, against, verifications } = props.panel;
  return (
    <section id="reputation">
      <h2>Reputation</h2>
      <section class="cards">
        <div class="card">
          <span class="num" data-stat="score">{formatScore(r.score)}</span>
          score{r.prior ? " (the prior: no receipt counted yet)" : ""}
        </div>
        <div class="card">
          <span class="num" data-stat="suspicion">{formatScore(r.suspicion)}</span> suspicion
        </div>
        <div class="card">
          <span class="num" data-stat="reliability">{formatShare(r.reliability)}</span> reliability
        </div>
        <div class="card">
          <span class="num" data-stat="samples">{formatSamples(r.samples)}</span> receipts counted
        </div>
      </section>
      <dl class="facts">
        <dt>Time to first token</dt>
        <dd data-stat="rep-ttft">{formatMs(r.ttftMs)}</dd>
        <dt>Throughput</dt>
        <dd data-stat="rep-tps">{formatRate(r.tokensPerSecond)}</dd>
        <dt>Published</dt>
        <dd>
          <a href={reputationHref(props.panel.npub)}>this node's reputation (JSON)</a> ·{" "}
          <a href={nodeReceiptsHref(props.panel.pubkey)}>this node's receipts (JSON)</a>
        </dd>
      </dl>

      <h3>Why it moved</h3>
      {against.length === 0 ? <p>No receipt has counted against this node.</p> : (
        <div class="scroll">
          <table class="against">
            <caption class="muted">
              Receipts that counted against the node, newest first.
            </caption>
            <thead>
              <tr>
                <th>Time (UTC)</th>
                <th>Job</th>
                <th>Reason</th>
              </tr>
            </thead>
            <tbody>
              {against.map((a) => (
                <tr key={a.seq} data-receipt={a.jobId} data-outcome={a.outcome}>
                  <td>{at(a.createdAt)}</td>
                  <td>
                    <a href={receiptHref(a.jobId)} aria-label={`receipt of job ${a.jobId}`}>
                      <code>{a.jobId}</code>
                    </a>
                  </td>
                  <td>{reasonOf(a)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      <h3>Verification history</h3>
      {verifications.length === 0 ? <p>No check of this node's work yet.</p> : (
        <div class="scroll">
          <table class="verifications">
            <thead>
              <tr>
                <th>Time (UTC)</th>
                <th>Check</th>
                <th>Result</th>
                <th>Detail</th>
                <th>Job</th>
              </tr>
            </thead>
            <tbody>
              {verifications.map((v) => (
                <tr key={v.eventId} data-verification={v.eventId}>
                  <td>{at(v.createdAt)}</td>
                  <td>{v.check.replace("_", " ")}</td>
                  <td class={`result ${v.result}`}>{v.result}</td>
                  <td>{v.detail || "–"}</td>
                  <td>
                    <a href={receiptHref(v.jobId)} aria-label={`receipt of job ${v.jobId}`}>
                      <code>{v.jobId}</code>
                    </a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
