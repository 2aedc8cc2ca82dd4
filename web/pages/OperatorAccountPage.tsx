// `/operator` for an operator key (docs/protocol.md §10): every node they have claimed with its
// state and earnings, the claims waiting for their countersignature, their earnings summed over
// the nodes, one payout address per coin for all of them, and payouts of the sum.
import type { OperatorClaimRow, OperatorNodeEarnings } from "../../db/mod.ts";
import { formatUsd } from "../../shared/mod.ts";
import ClaimSigner from "../islands/ClaimSigner.tsx";
import { Island } from "./Island.tsx";
import { Layout, Notice } from "./Layout.tsx";
import { AddressesSection } from "./AddressesSection.tsx";
import { EarningsSection } from "./EarningsSection.tsx";
import type { MoneyView } from "./operator_view.ts";
import { PayoutSection } from "./PayoutSection.tsx";
import { formatScore, nodeReceiptsHref, type ReputationView } from "./reputation_view.ts";

/** One claimed node on the page. */
export interface ClaimedNode extends OperatorNodeEarnings {
  name: string | null;
  state: "online" | "stale" | "offline";
  reputation: ReputationView;
  claim: OperatorClaimRow;
}

/** Everything the operator-key page shows. */
export interface OperatorAccountView extends MoneyView {
  pubkey: string;
  nodes: ClaimedNode[];
  pending: OperatorClaimRow[];
  notice?: { kind: "ok" | "error"; text: string };
}

const short = (k: string) => `${k.slice(0, 12)}…${k.slice(-6)}`;

function NodesSection(props: { view: OperatorAccountView }) {
  const v = props.view;
  return (
    <section id="nodes">
      <h2>Your nodes ({v.nodes.length})</h2>
      {v.nodes.length === 0
        ? (
          <p>
            No node is claimed yet. On each box run{" "}
            <code>infernet operator claim --operator {v.pubkey}</code>, then countersign the claim below.
          </p>
        )
        : (
          <div class="scroll">
            <table class="nodes">
              <thead>
                <tr>
                  <th>Node</th>
                  <th>State</th>
                  <th>Score</th>
                  <th>Pending (USD)</th>
                  <th>Earned, 30 days (USD)</th>
                  <th>Jobs, 30 days</th>
                  <th></th>
                </tr>
              </thead>
              <tbody>
                {v.nodes.map((n) => (
                  <tr key={n.nodePubkey} data-node={n.nodePubkey}>
                    <td>
                      {n.name ?? "–"} <code title={n.nodePubkey}>{short(n.nodePubkey)}</code>
                    </td>
                    <td class={`state ${n.state}`}>{n.state}</td>
                    <td data-stat="node-score">
                      {formatScore(n.reputation.score)}{" "}
                      <a
                        href={nodeReceiptsHref(n.nodePubkey)}
                        aria-label={`receipts of node ${n.name ?? n.nodePubkey}`}
                      >
                        receipts
                      </a>
                    </td>
                    <td data-stat="node-pending">{formatUsd(n.pending)}</td>
                    <td data-stat="node-earned">{formatUsd(n.earned)}</td>
                    <td>{n.jobs}</td>
                    <td>
                      <Island
                        name="ClaimSigner"
                        props={{
                          action: "revoke",
                          claimId: n.claim.claimId,
                          nodePubkey: n.nodePubkey,
                          countersignId: n.claim.countersignId,
                        }}
                      >
                        <ClaimSigner
                          action="revoke"
                          claimId={n.claim.claimId}
                          nodePubkey={n.nodePubkey}
                          countersignId={n.claim.countersignId}
                        />
                      </Island>
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

function PendingSection(props: { pending: OperatorClaimRow[] }) {
  if (props.pending.length === 0) return null;
  return (
    <section id="claims">
      <h2>Claims waiting for your countersignature</h2>
      <ul class="claims">
        {props.pending.map((c) => (
          <li key={c.claimId} data-claim={c.claimId}>
            Node <code>{short(c.nodePubkey)}</code>, signed {new Date(c.claimedAt * 1000).toISOString()}{" "}
            <Island
              name="ClaimSigner"
              props={{
                action: "countersign",
                claimId: c.claimId,
                nodePubkey: c.nodePubkey,
                countersignId: null,
              }}
            >
              <ClaimSigner
                action="countersign"
                claimId={c.claimId}
                nodePubkey={c.nodePubkey}
                countersignId={null}
              />
            </Island>
          </li>
        ))}
      </ul>
      <p class="muted">
        Or, on a machine holding the operator key:{" "}
        <code>infernet operator countersign --key &lt;file&gt;</code>.
      </p>
    </section>
  );
}

/** The operator-key page. */
export function OperatorAccountPage(props: OperatorAccountView) {
  return (
    <Layout title="Operator">
      {props.notice && <Notice kind={props.notice.kind}>{props.notice.text}</Notice>}
      <p class="muted">
        Signed in as operator key{" "}
        <code>{props.pubkey.slice(0, 16)}…</code>: earnings and payouts below are summed over all your nodes.
      </p>
      <NodesSection view={props} />
      <PendingSection pending={props.pending} />
      <EarningsSection view={props} />
      <AddressesSection view={props} />
      <PayoutSection view={props} />
    </Layout>
  );
}
