// The operator page's node section: health, hardware, engine, models and prices.
import { formatUsd } from "../../shared/mod.ts";
import type { OperatorView } from "./operator_view.ts";
import { time } from "./When.tsx";

const gib = (mb: number) => `${(mb / 1024).toFixed(mb % 1024 === 0 ? 0 : 1)} GB`;

function ago(s: number | null): string {
  if (s === null) return "never";
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

/** The node: health, hardware, engine, models and prices. */
export function NodeSection(props: { view: OperatorView }) {
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
