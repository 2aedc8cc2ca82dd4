// The public network page's numbers, refreshed from `/network.json` every few seconds.
import { useEffect, useState } from "preact/hooks";
import type { NetworkSnapshot } from "../pages/network_data.ts";
import {
  formatMs,
  formatRate,
  formatSamples,
  formatScore,
  formatShare,
  nodeReceiptsHref,
  reputationHref,
} from "../pages/reputation_view.ts";

const REFRESH_MS = 3000;

/** Renders a snapshot of the network and keeps it fresh. */
export default function NetworkStats(props: NetworkSnapshot) {
  const [s, setS] = useState(props);
  useEffect(() => {
    const timer = setInterval(async () => {
      try {
        const res = await fetch("/network.json", { headers: { accept: "application/json" } });
        if (res.ok) setS(await res.json());
      } catch {
        // Offline for a moment: keep the last numbers.
      }
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, []);
  return (
    <>
      <section class="cards">
        <div class="card">
          <span class="num" data-stat="nodes">{s.nodesOnline}</span> nodes online
        </div>
        <div class="card">
          <span class="num" data-stat="jpm">{s.jobsPerMinute}</span> jobs / min
        </div>
        <div class="card">
          <span class="num" data-stat="success">
            {s.successRatePercent === null ? "–" : `${s.successRatePercent} %`}
          </span>{" "}
          success
        </div>
        <div class="card">
          <span class="num">{s.feePercent} %</span> platform fee
        </div>
      </section>
      <h2>Models</h2>
      {s.models.length === 0 ? <p>No node is online right now.</p> : (
        <table>
          <thead>
            <tr>
              <th>Model</th>
              <th>Nodes</th>
              <th>Lowest prompt price</th>
              <th>Lowest completion price</th>
            </tr>
          </thead>
          <tbody>
            {s.models.map((m) => (
              <tr key={m.model}>
                <td>{m.model}</td>
                <td>{m.nodes}</td>
                <td>{m.promptPer1kUsd} USD / 1k</td>
                <td>{m.completionPer1kUsd} USD / 1k</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Nodes by reputation</h2>
      {s.nodes.length === 0 ? <p>None online.</p> : (
        <div class="scroll">
          <table class="nodes">
            <thead>
              <tr>
                <th>Node</th>
                <th>Tier</th>
                <th>Models</th>
                <th>Score</th>
                <th>Reliability</th>
                <th>Suspicion</th>
                <th>Receipts counted</th>
                <th>TTFT</th>
                <th>Throughput</th>
                <th>Published</th>
              </tr>
            </thead>
            <tbody>
              {s.nodes.map((n) => (
                <tr key={n.pubkey} class="node" data-node={n.pubkey}>
                  <td>
                    {n.name} <code>{n.pubkey.slice(0, 10)}…</code>
                  </td>
                  <td>{n.tier}</td>
                  <td>{n.models.join(", ")}</td>
                  <td data-stat="score">
                    {formatScore(n.reputation.score)}
                    {n.reputation.prior ? " " : ""}
                    {n.reputation.prior && <span class="muted">(prior)</span>}
                  </td>
                  <td>{formatShare(n.reputation.reliability)}</td>
                  <td data-stat="suspicion">{formatScore(n.reputation.suspicion)}</td>
                  <td>{formatSamples(n.reputation.samples)}</td>
                  <td>{formatMs(n.reputation.ttftMs)}</td>
                  <td>{formatRate(n.reputation.tokensPerSecond)}</td>
                  <td class="nowrap">
                    <a href={nodeReceiptsHref(n.pubkey)} aria-label={`receipts of node ${n.name}`}>
                      receipts
                    </a>
                    {" · "}
                    <a href={reputationHref(n.npub)} aria-label={`reputation of node ${n.name}`}>
                      reputation
                    </a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p class="muted">
        {s.tiers.map((t) => `${t.tier}: ${t.nodes}`).join(" · ")}
        {s.tiers.length ? " · " : ""}updated {s.updatedAt.slice(11, 19)} UTC
      </p>
      <h2>Published price bounds</h2>
      <table>
        <thead>
          <tr>
            <th>Tier</th>
            <th>Min per 1k tokens</th>
            <th>Max per 1k tokens</th>
          </tr>
        </thead>
        <tbody>
          {s.priceBounds.map((b) => (
            <tr key={b.tier}>
              <td>{b.tier}</td>
              <td>{b.minPer1kUsd} USD</td>
              <td>{b.maxPer1kUsd} USD</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
