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
  const [signedOut, setSignedOut] = useState(false);
  useEffect(() => {
    if (FINAL.has(data.status) || signedOut) return;
    const timer = setTimeout(async () => {
      try {
        const res = await fetch(`/account/deposits/${encodeURIComponent(props.id)}/status`, {
          headers: { accept: "application/json" },
        });
        // Signed out meanwhile (here or from another browser): polling would only fail from now on.
        if (res.status === 401 || res.status === 403) setSignedOut(true);
        else if (res.ok) setData(await res.json());
        else setData({ ...data });
      } catch {
        setData({ ...data });
      }
    }, 1500);
    return () => clearTimeout(timer);
  }, [data, signedOut]);
  return (
    <p class="status">
      Status: <strong data-status={data.status}>{data.status}</strong>
      {FINAL.has(data.status) ? "" : signedOut
        ? (
          <>
            {" "}(no longer updated: this browser was signed out; <a href="/account">sign in again</a>{" "}
            to see it)
          </>
        )
        : " (updates by itself)"}
      <br />
      Balance: <strong class="balance">{data.balanceUsd} USD</strong>
    </p>
  );
}
