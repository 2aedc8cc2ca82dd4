// The operator page's jobs section: the jobs the node served, paged.
import { JobTable, ReceiptLink } from "./JobTable.tsx";
import type { OperatorView } from "./operator_view.ts";
import { When } from "./When.tsx";

/** The jobs the node served, newest first, paged by cursor. */
export function JobsSection(props: { view: OperatorView }) {
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
          extras={[{ label: "Receipt", cell: (j) => <ReceiptLink jobId={j.jobId} /> }]}
        />
      )}
      <p class="pager">
        {v.paged && <a href="/operator#jobs">Newest</a>}
        {v.olderHref && <a href={v.olderHref} rel="next">Older</a>}
      </p>
    </section>
  );
}
