// `/operator` for a node's own session: the node (health, hardware, engine, models and prices),
// its reputation (score, why it moved, verification history), its earnings (summary and a
// per-day chart), the jobs it served, payout addresses, payout history and the payout request
// form. Plain HTML and forms: no script needed.
import { AddressesSection } from "./AddressesSection.tsx";
import { EarningsSection } from "./EarningsSection.tsx";
import { JobsSection } from "./JobsSection.tsx";
import { Layout, Notice } from "./Layout.tsx";
import { NodeSection } from "./NodeSection.tsx";
import type { OperatorView } from "./operator_view.ts";
import { PayoutSection } from "./PayoutSection.tsx";
import { ReputationSection } from "./ReputationSection.tsx";

/** The operator page. */
export function OperatorPage(props: OperatorView) {
  return (
    <Layout title="Operator">
      {props.notice && <Notice kind={props.notice.kind}>{props.notice.text}</Notice>}
      <p class="muted">
        Signed in as operator <code>{props.pubkey.slice(0, 16)}…</code>
      </p>
      <NodeSection view={props} />
      <ReputationSection panel={props.reputation} />
      <EarningsSection view={props} />
      <JobsSection view={props} />
      <AddressesSection view={props} />
      <PayoutSection view={props} />
    </Layout>
  );
}
