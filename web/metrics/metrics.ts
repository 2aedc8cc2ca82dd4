// The control plane's Prometheus metrics (npm prom-client): one registry per control plane.
// What happens per request is counted into plain numbers and label children built once; what is
// a state (jobs in flight, live nodes, queues) is read from the control plane when scraped.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { VRAM_TIERS } from "../../shared/mod.ts";
import type { JobRow } from "../../db/mod.ts";

/** What the scrape-time gauges read: the control plane's own state, passed in once it is open. */
export interface MetricsState {
  /** Jobs running on this instance now. */
  jobsInFlight(): number;
  /** Nodes that would get a job now (socket open, heartbeat fresh), by VRAM tier. */
  liveNodesByTier(): Map<string, number>;
  /** Nodes registered, live or not. */
  nodesRegistered(): number;
  /** Jobs handed to the recorder and not yet committed to the database. */
  recorderQueued(): number;
  /** Journaled jobs not yet committed, and the journal's open segment files; null: no journal. */
  journal(): { pending: number; segments: number } | null;
  /** The database client: what it runs on and its most connections. */
  database(): { kind: string; maxConnections: number; pgliteWorkerPriority: string | null };
}

/** One route, method and status's request count. */
interface RequestTally {
  route: string;
  method: string;
  status: string;
  count: number;
}

const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
const PRIORITY_STATES = ["idle", "normal", "off"] as const;

/** A function of two labels whose results are made once per pair and then looked up. */
function cached2<T>(make: (a: string, b: string) => T): (a: string, b: string) => T {
  const root = new Map<string, Map<string, T>>();
  return (a, b) => {
    let level = root.get(a);
    if (!level) root.set(a, level = new Map());
    let value = level.get(b);
    if (value === undefined) level.set(b, value = make(a, b));
    return value;
  };
}

/** {@link cached2} for three labels. */
function cached3<T>(make: (a: string, b: string, c: string) => T): (a: string, b: string, c: string) => T {
  const root = new Map<string, (b: string, c: string) => T>();
  return (a, b, c) => {
    let level = root.get(a);
    if (!level) root.set(a, level = cached2((b, c) => make(a, b, c)));
    return level(b, c);
  };
}

/** The control plane's metrics and their registry. */
export class Metrics {
  readonly registry = new Registry();
  #state: MetricsState | null = null;
  /** Requests by route, then method, then status: a count each, bumped without allocating. */
  #requests = new Map<string, Map<string, Map<number, RequestTally>>>();
  #controlPlaneChild;
  #nodeChild;
  #ttftChild;
  #totalChild;
  #jobsChild;
  #tokensChild;
  #batchSize;
  #settleLag;
  #commitTime;

  constructor() {
    const registers = [this.registry];
    const tallies = () => this.#requests;
    new Counter({
      name: "infernet_http_requests_total",
      help: "HTTP requests answered, by route pattern, method and status.",
      labelNames: ["route", "method", "status"] as const,
      registers,
      collect() {
        this.reset();
        for (const methods of tallies().values()) {
          for (const statuses of methods.values()) {
            for (const t of statuses.values()) {
              this.inc({ route: t.route, method: t.method, status: t.status }, t.count);
            }
          }
        }
      },
    });
    const byKindStream = ["kind", "stream"] as const;
    const controlPlane = new Histogram({
      name: "infernet_v1_control_plane_seconds",
      help: "A /v1 job's time in the control plane's own work (Server-Timing cp): " +
        "reading, authenticating, routing, holding, then answering.",
      labelNames: byKindStream,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers,
    });
    this.#controlPlaneChild = cached2((kind, stream) => controlPlane.labels(kind, stream));
    const node = new Histogram({
      name: "infernet_v1_node_seconds",
      help: "A /v1 job's time from dispatch to the node's first event (Server-Timing node).",
      labelNames: byKindStream,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.#nodeChild = cached2((kind, stream) => node.labels(kind, stream));
    const ttft = new Histogram({
      name: "infernet_v1_time_to_first_token_seconds",
      help: "A /v1 job's time from its start to the first token (or the whole answer).",
      labelNames: byKindStream,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.#ttftChild = cached2((kind, stream) => ttft.labels(kind, stream));
    const total = new Histogram({
      name: "infernet_v1_job_duration_seconds",
      help: "A /v1 job's time from its start to its end, by how it ended.",
      labelNames: ["kind", "stream", "status"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
      registers,
    });
    this.#totalChild = cached3((kind, stream, status) => total.labels(kind, stream, status));
    const jobs = new Counter({
      name: "infernet_v1_jobs_total",
      help: "/v1 jobs ended, by kind, stream and status.",
      labelNames: ["kind", "stream", "status"] as const,
      registers,
    });
    this.#jobsChild = cached3((kind, stream, status) => jobs.labels(kind, stream, status));
    const tokens = new Counter({
      name: "infernet_tokens_total",
      help: "Tokens of ended jobs (the engine's usage, else our count), by job kind and type.",
      labelNames: ["kind", "type"] as const,
      registers,
    });
    this.#tokensChild = cached2((kind, type) => tokens.labels(kind, type));
    this.#batchSize = new Histogram({
      name: "infernet_settlement_batch_jobs",
      help: "Jobs per settlement batch committed to the database.",
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
      registers,
    });
    this.#settleLag = new Histogram({
      name: "infernet_settlement_lag_seconds",
      help: "Per committed batch: how long its oldest job waited from its end to the commit.",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.#commitTime = new Histogram({
      name: "infernet_settlement_commit_seconds",
      help: "Time of one settlement batch's database statement, from send to commit.",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    });
    this.#registerGauges(registers);
  }

  /** Starts reading the control plane's state at each scrape. */
  watch(state: MetricsState): void {
    this.#state = state;
  }

  /** Counts one answered request; `route` is the route's pattern, never the raw path. */
  countRequest(route: string, method: string, status: number): void {
    let methods = this.#requests.get(route);
    if (!methods) this.#requests.set(route, methods = new Map());
    const m = KNOWN_METHODS.has(method) ? method : "other";
    let statuses = methods.get(m);
    if (!statuses) methods.set(m, statuses = new Map());
    const tally = statuses.get(status);
    if (tally) tally.count++;
    else statuses.set(status, { route, method: m, status: String(status), count: 1 });
  }

  /** A /v1 job's Server-Timing split, in milliseconds, observed as its answer's headers are set. */
  observeTiming(kind: string, stream: boolean, controlPlaneMs: number, nodeMs: number): void {
    const s = stream ? "true" : "false";
    this.#controlPlaneChild(kind, s).observe(controlPlaneMs / 1000);
    this.#nodeChild(kind, s).observe(nodeMs / 1000);
  }

  /** An ended job, from its row: its count, time to first token, duration and tokens. */
  observeJob(row: JobRow): void {
    const s = row.stream ? "true" : "false";
    this.#jobsChild(row.kind, s, row.status).inc();
    this.#totalChild(row.kind, s, row.status).observe(row.latencyMs / 1000);
    if (row.ttftMs !== null) this.#ttftChild(row.kind, s).observe(row.ttftMs / 1000);
    if (row.promptTokens > 0) this.#tokensChild(row.kind, "prompt").inc(row.promptTokens);
    if (row.completionTokens > 0) this.#tokensChild(row.kind, "completion").inc(row.completionTokens);
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
    new Gauge({
      name: "infernet_nodes_live",
      help: "Nodes that would get a job now (socket open, heartbeat fresh), by VRAM tier.",
      labelNames: ["tier"] as const,
      registers,
      collect() {
        const live = state()?.liveNodesByTier();
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
