// The control plane's Prometheus metrics (npm prom-client): one registry per control plane.
// What happens per request is counted into plain numbers (./tallies.ts) exported when scraped;
// what is a state (jobs in flight, live nodes, queues) is read from the control plane then.
import { Gauge, Registry } from "prom-client";
import type { Context } from "hono";
import { matchedRoutes } from "hono/route";
import { VRAM_TIERS } from "../../shared/mod.ts";
import type { JobRow } from "../../db/mod.ts";
import { type CounterSeries, Family, HistogramSeries, talliedCounter, TalliedHistogram } from "./tallies.ts";

/** What the scrape-time gauges read: the control plane's own state, passed in once it is open. */
export interface MetricsState {
  /** Jobs running on this instance now. */
  jobsInFlight(): number;
  /** Nodes whose socket this instance holds that would get a job now (heartbeat fresh), by VRAM tier. */
  liveNodesByTier(): Map<string, number>;
  /** Nodes this instance's router would send a job to now, wherever their socket is, by VRAM tier. */
  routableNodesByTier(): Map<string, number>;
  /** Nodes registered, live or not. */
  nodesRegistered(): number;
  /** Jobs handed to the recorder and not yet committed to the database. */
  recorderQueued(): number;
  /** Journaled jobs not yet committed, and the journal's open segment files; null: no journal. */
  journal(): { pending: number; segments: number } | null;
  /** The database client: what it runs on and its most connections. */
  database(): { kind: string; maxConnections: number; pgliteWorkerPriority: string | null };
}

const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
const PRIORITY_STATES = ["idle", "normal", "off"] as const;

/** The control plane's metrics and their registry. */
export class Metrics {
  readonly registry = new Registry();
  #state: MetricsState | null = null;
  #requests: Family<CounterSeries>;
  #controlPlane: Family<HistogramSeries>;
  #node: Family<HistogramSeries>;
  #ttft: Family<HistogramSeries>;
  #total: Family<HistogramSeries>;
  #jobs: Family<CounterSeries>;
  #tokens: Family<CounterSeries>;
  #batchSize: HistogramSeries;
  #settleLag: HistogramSeries;
  #commitTime: HistogramSeries;

  constructor() {
    const registers = [this.registry];
    this.#requests = talliedCounter({
      name: "infernet_http_requests_total",
      help: "HTTP requests answered, by route pattern, method and status.",
      labelNames: ["route", "method", "status"],
      registers,
    });
    const byKindStream = ["kind", "stream"];
    this.#controlPlane = new TalliedHistogram({
      name: "infernet_v1_control_plane_seconds",
      help: "A /v1 job's time in the control plane's own work (Server-Timing cp): " +
        "reading, authenticating, routing, holding, then answering.",
      labelNames: byKindStream,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers,
    }).series;
    this.#node = new TalliedHistogram({
      name: "infernet_v1_node_seconds",
      help: "A /v1 job's time from dispatch to the node's first event (Server-Timing node).",
      labelNames: byKindStream,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }).series;
    this.#ttft = new TalliedHistogram({
      name: "infernet_v1_time_to_first_token_seconds",
      help: "A /v1 job's time from its start to the first token (or the whole answer).",
      labelNames: byKindStream,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }).series;
    this.#total = new TalliedHistogram({
      name: "infernet_v1_job_duration_seconds",
      help: "A /v1 job's time from its start to its end, by how it ended.",
      labelNames: ["kind", "stream", "status"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    }).series;
    this.#jobs = talliedCounter({
      name: "infernet_v1_jobs_total",
      help: "/v1 jobs ended, by kind, stream and status.",
      labelNames: ["kind", "stream", "status"],
      registers,
    });
    this.#tokens = talliedCounter({
      name: "infernet_tokens_total",
      help: "Tokens of ended jobs (the engine's usage, else our count), by job kind and type.",
      labelNames: ["kind", "type"],
      registers,
    });
    this.#batchSize = new TalliedHistogram({
      name: "infernet_settlement_batch_jobs",
      help: "Jobs per settlement batch committed to the database.",
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
      registers,
    }).series.get();
    this.#settleLag = new TalliedHistogram({
      name: "infernet_settlement_lag_seconds",
      help: "Per committed batch: how long its oldest job waited from its end to the commit.",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }).series.get();
    this.#commitTime = new TalliedHistogram({
      name: "infernet_settlement_commit_seconds",
      help: "Time of one settlement batch's database statement, from send to commit.",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    }).series.get();
    this.#registerGauges(registers);
  }

  /** Starts reading the control plane's state at each scrape. */
  watch(state: MetricsState): void {
    this.#state = state;
  }

  /** Counts an answered request under its route's pattern (see {@link routeLabel}). */
  countResponse(c: Context): void {
    this.countRequest(routeLabel(matchedRoutes(c), c.req.routeIndex), c.req.method, c.res.status);
  }

  /** Counts one answered request; `route` is the route's pattern, never the raw path. */
  countRequest(route: string, method: string, status: number): void {
    this.#requests.get(route, KNOWN_METHODS.has(method) ? method : "other", status).value++;
  }

  /** A /v1 job's Server-Timing split, in milliseconds, observed as its answer's headers are set. */
  observeTiming(kind: string, stream: boolean, controlPlaneMs: number, nodeMs: number): void {
    const s = stream ? "true" : "false";
    this.#controlPlane.get(kind, s).observe(controlPlaneMs / 1000);
    this.#node.get(kind, s).observe(nodeMs / 1000);
  }

  /** An ended job, from its row: its count, time to first token, duration and tokens. */
  observeJob(row: JobRow): void {
    const s = row.stream ? "true" : "false";
    this.#jobs.get(row.kind, s, row.status).value++;
    this.#total.get(row.kind, s, row.status).observe(row.latencyMs / 1000);
    if (row.ttftMs !== null) this.#ttft.get(row.kind, s).observe(row.ttftMs / 1000);
    this.#tokens.get(row.kind, "prompt").value += row.promptTokens;
    this.#tokens.get(row.kind, "completion").value += row.completionTokens;
  }

  /** A settlement batch committed: its size, its oldest job's wait and the statement's time. */
  observeSettlementBatch(jobs: number, oldestWaitMs: number, commitMs: number): void {
    this.#batchSize.observe(jobs);
    this.#settleLag.observe(oldestWaitMs / 1000);
    this.#commitTime.observe(commitMs / 1000);
  }

  /** The exposition, in Prometheus' text format. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** The exposition's content type. */
  get contentType(): string {
    return this.registry.contentType;
  }

  #registerGauges(registers: Registry[]): void {
    const state = () => this.#state;
    new Gauge({
      name: "infernet_jobs_in_flight",
      help: "Jobs running on this instance.",
      registers,
      collect() {
        this.set(state()?.jobsInFlight() ?? 0);
      },
    });
    // Among several instances, each node's socket is on one: the sum of infernet_nodes_live over
    // the instances is the deployment's; infernet_nodes_routable is the deployment's on each one.
    new Gauge({
      name: "infernet_nodes_live",
      help: "Nodes whose job socket this instance holds that would get a job now (heartbeat fresh), " +
        "by VRAM tier. Sum over instances for the deployment.",
      labelNames: ["tier"] as const,
      registers,
      collect() {
        const live = state()?.liveNodesByTier();
        for (const tier of VRAM_TIERS) this.set({ tier }, live?.get(tier) ?? 0);
      },
    });
    new Gauge({
      name: "infernet_nodes_routable",
      help: "Nodes this instance's router would send a job to now, wherever their socket is, by VRAM " +
        "tier. The same deployment-wide count on every instance: do not sum.",
      labelNames: ["tier"] as const,
      registers,
      collect() {
        const live = state()?.routableNodesByTier();
        for (const tier of VRAM_TIERS) this.set({ tier }, live?.get(tier) ?? 0);
      },
    });
    new Gauge({
      name: "infernet_nodes_registered",
      help: "Nodes registered with this instance, live or not.",
      registers,
      collect() {
        this.set(state()?.nodesRegistered() ?? 0);
      },
    });
    new Gauge({
      name: "infernet_settlement_queued_jobs",
      help: "Ended jobs waiting for their settlement batch to commit to the database.",
      registers,
      collect() {
        this.set(state()?.recorderQueued() ?? 0);
      },
    });
    new Gauge({
      name: "infernet_journal_pending_jobs",
      help: "Jobs in the settlement journal not yet committed to the database (absent without a journal).",
      registers,
      collect() {
        this.reset();
        const journal = state()?.journal();
        if (journal) this.set(journal.pending);
      },
    });
    new Gauge({
      name: "infernet_journal_segments",
      help: "Settlement journal segment files this instance holds open (absent without a journal).",
      registers,
      collect() {
        this.reset();
        const journal = state()?.journal();
        if (journal) this.set(journal.segments);
      },
    });
    new Gauge({
      name: "infernet_db_pool_max_connections",
      help: "The database client's pool size, by database (pglite: always one connection).",
      labelNames: ["database"] as const,
      registers,
      collect() {
        this.reset();
        const db = state()?.database();
        if (db) this.set({ database: db.kind }, db.maxConnections);
      },
    });
    new Gauge({
      name: "infernet_pglite_worker_priority",
      help: "PGlite's worker thread priority: 1 for its current state (idle, normal, off).",
      labelNames: ["state"] as const,
      registers,
      collect() {
        this.reset();
        const current = state()?.database().pgliteWorkerPriority;
        if (!current) return;
        for (const s of PRIORITY_STATES) this.set({ state: s }, s === current ? 1 : 0);
      },
    });
  }
}

/** The label a request is counted under: its route's pattern, or `unmatched` (404s, never the path). */
export function routeLabel(
  routes: readonly { method: string; path: string }[],
  routeIndex: number,
): string {
  // The route that answered, or the endpoint the request was headed for when a middleware (method
  // ALL) answered first, e.g. with a 401.
  for (let i = routeIndex; i < routes.length; i++) if (routes[i].method !== "ALL") return routes[i].path;
  return "unmatched";
}
