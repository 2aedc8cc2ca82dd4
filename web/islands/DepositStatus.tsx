// A deposit's status and the account balance, polled until the deposit is credited (or ends).
import { useEffect, useState } from "preact/hooks";

/** What the status endpoint answers, and the island's props. */
export interface DepositStatusData {
  id: string;
  status: string;
  balanceUsd: string;
}

const FINAL = new Set(["credited", "expired", "failed"]);

/** Shows the status and the balance; polls `/account/deposits/<id>/status` every 1.5 s. */
export default function DepositStatus(props: DepositStatusData) {
  const [data, setData] = useState(props);
  useEffect(() => {
    if (FINAL.has(data.status)) return;
    const timer = setTimeout(async () => {
      try {
        const res = await fetch(`/account/deposits/${encodeURIComponent(props.id)}/status`, {
          headers: { accept: "application/json" },
        });
        if (res.ok) setData(await res.json());
        else setData({ ...data });
      } catch {
        setData({ ...data });
      }
    }, 1500);
    return () => clearTimeout(timer);
  }, [data]);
  return (
    <p class="status">
      Status: <strong data-status={data.status}>{data.status}</strong>
      {FINAL.has(data.status) ? "" : " (updates by itself)"}
      <br />
      Balance: <strong class="balance">{data.balanceUsd} USD</strong>
    </p>
  );
}
