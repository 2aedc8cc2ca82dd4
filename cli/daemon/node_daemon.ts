// The node daemon: registers, keeps the outbound job socket open (reconnecting with jittered
// backoff), sends heartbeats, and proxies jobs to the local engine. On stop it drains: it takes
// no new jobs and lets the running ones finish, up to a limit. Given several control-plane
// instances, it re-homes: when its instance's socket closes or stops answering pings, it
// registers with the next one and connects there at once (within 5 s of the death).
import {
  createAuthEvent,
  createNip98Header,
  createNodeRecord,
  fastestSecp256k1,
  type HeartbeatBody,
  type Logger,
  type NodeAdvert,
  type NodeFrame,
  parseServerFrame,
  type ReceiptAnswer,
  type ReceiptOutcome,
  type Secp256k1Backend,
  type ServerFrame,
  sleep,
} from "../../shared/mod.ts";
import type { NodeIdentity } from "../identity/node_key.ts";
import { CliError } from "../cli_error.ts";
import { proxyJob } from "./engine_proxy.ts";
import { EngineClient } from "./engine_http.ts";
import { JobOutput, type OutputSummary, ReceiptChain } from "./job_receipt.ts";
import { admitDirect, type DirectRefusal, type NextFrame } from "./direct_admission.ts";
import { type DirectRun, runDirect } from "./direct_run.ts";
import type { JobFrame } from "./engine_proxy.ts";
import { fastestNip44, type FrameSealer, type Nip44Cipher } from "../../shared/direct/mod.ts";
import { RelayInbox } from "./relay_inbox.ts";
import { PlatformKeyCache } from "./platform_key_cache.ts";
import { UsedTickets } from "./used_tickets.ts";
import { TicketHeadStarts } from "./ticket_head_start.ts";
import { ModelSecretCache } from "./direct_model_secrets.ts";
// npm `ws` rather than Deno's WebSocket: Deno's client socket leaves Nagle's algorithm on, so a
// burst of small frames (stream chunks) stalls ~40 ms on a delayed ACK; `ws` sets TCP_NODELAY.
import WebSocket from "ws";

/** What the daemon needs to run. */
export interface NodeDaemonOptions {
  server: string;
  /** Every control-plane instance to re-home between (`server` first); default `[server]`. */
  servers?: string[];
  /** With several servers: how often the socket is pinged, and silent this long it is dead. */
  livenessPingMs?: number;
  livenessTimeoutMs?: number;
  identity: NodeIdentity;
  advert: NodeAdvert;
  engineBaseUrl: string;
  log: Logger;
  heartbeatIntervalMs?: number;
  /** Longest wait between reconnect attempts. */
  maxBackoffMs?: number;
  /** Longest a drain waits for running jobs. */
  drainTimeoutMs?: number;
  /** Sign a receipt of every job (default true; false only to test a node that does not). */
  signReceipts?: boolean;
  /** The control plane's ticket key (default: fetched from the server's /.well-known/infernet.json). */
  platformKeys?: PlatformKeyCache;
  /** The secret of a model key granted to this node (default: none held). */
  modelSecret?: (pubkey: string) => Promise<Uint8Array | null>;
  /** The clock tickets are checked against, in Unix seconds (tests move it). */
  nowS?: () => number;
  /** The secp256k1 backend for tickets, ECDH and receipts (default: the fastest, loaded at start). */
  secp?: Secp256k1Backend;
  /** The NIP-44 implementation for direct-mode frames (default: the fastest, loaded at start). */
  cipher?: Nip44Cipher;
}

/** A direct-mode request's start: refused before any work, or admitted and ready to run. */
export type DirectStart =
  | { ok: false; refusal: DirectRefusal }
  | {
    ok: true;
    /** Whether the consumer asked for a stream (else the answer is one message and the end). */
    stream: boolean;
    /**
     * Runs the job, emitting sealed n2c frames, `last` set on the final one (the answer can go out
     * then); resolves after, once the job's receipt is queued.
     */
    run(emit: (payload: string, last: boolean) => void, signal: AbortSignal): Promise<void>;
  };

/** The daemon's state as `infernet status` and tests see it. */
export interface DaemonState {
  connected: boolean;
  inFlight: number;
  completed: number;
  failed: number;
  reconnects: number;
}

const RECEIPT_OUTCOMES = { completed: "success", failed: "failure", cancelled: "cancelled" } as const;

/**
 * How long ended jobs' receipts wait to share one `receipts` frame (when the server takes them):
 * one socket write and one answer per batch instead of per job, off the jobs' own frames.
 */
const RECEIPT_LINGER_MS = 20;

/** A batch this big goes at once: signing it holds the daemon's thread ~40 µs a receipt. */
const RECEIPTS_PER_FLUSH = 16;

/**
 * Receipts signed and sent per event-loop turn (to a server that takes batches): frames of other
 * jobs never wait behind more than a few signatures (~0.1 ms each with the hash and the frame).
 */
const RECEIPTS_PER_TURN = 4;

/** With several servers, the first try of each after a failure waits this long (±50 %). */
const REHOME_WAIT_MS = 200;

/** Backoff before reconnect attempt `n` (0-based): exponential, capped, with ±50 % jitter. */
export function backoffMs(n: number, maxMs: number, random = Math.random): number {
  const base = Math.min(maxMs, 500 * 2 ** Math.min(n, 16));
  return Math.round(base * (0.5 + random()));
}

/** Posts a NIP-98-signed JSON body to the control plane. */
export async function signedPost(
  server: string,
  path: string,
  secretKey: Uint8Array,
  payload: unknown,
): Promise<Response> {
  const url = server + path;
  const body = JSON.stringify(payload);
  try {
    return await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: createNip98Header(secretKey, url, "POST", body),
      },
      body,
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    throw new CliError(
      "server_unreachable",
      `cannot reach the control plane at ${server}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/** Registers the node record; returns the server's answer or throws a CliError with its reason. */
export async function registerNode(
  server: string,
  identity: NodeIdentity,
  advert: NodeAdvert,
): Promise<Record<string, unknown>> {
  const record = createNodeRecord(identity.secretKey, advert);
  const res = await signedPost(server, "/api/nodes/register", identity.secretKey, record);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const msg = body?.error?.message ?? `HTTP ${res.status}`;
    throw new CliError("server_refused", `registration refused: ${String(msg).slice(0, 300)}`);
  }
  // A 2xx that is not an Infernet control plane's answer (a captive portal, another web server on
  // that port) registers nothing: it must not be taken, or remembered, as one.
  if (body?.ok !== true) {
    throw new CliError(
      "server_refused",
      `${server} answered HTTP ${res.status} but not as an Infernet control plane; check --server`,
    );
  }
  return body;
}

/** A running node daemon. */
export class NodeDaemon {
  #opts: Required<Omit<NodeDaemonOptions, "secp" | "cipher">>;
  #socket: WebSocket | null = null;
  #jobs = new Map<string, AbortController>();
  #stopping = false;
  /** Draining for an upgrade: no models advertised, no new jobs; reversible with resume(). */
  #draining = false;
  #stopped: Promise<void>;
  #resolveStopped!: () => void;
  #heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  #reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  #attempt = 0;
  /** The instances to re-home between, and the one in use. */
  #servers: string[];
  #home = 0;
  /** The server the node record was last registered with. */
  #registeredAt: string | null = null;
  /** Kept-alive connections to the engine, shared by the jobs. */
  #engine: EngineClient;
  /** Whether the ticket key cache is the daemon's own (fetched from its home), not one given. */
  #platformKeysOwn: boolean;
  #receipts: ReceiptChain;
  /** Ended jobs whose receipts are signed and sent at the next flush, in the order they ended. */
  #unsent: { job: JobFrame; output: JobOutput | OutputSummary; outcome: ReceiptOutcome }[] = [];
  #receiptTimer: ReturnType<typeof setTimeout> | null = null;
  /** Whether the server said (in `welcome`) that it takes `receipts` frames. */
  #receiptBatches = false;
  #usedTickets = new UsedTickets();
  /** Tickets announced over the job socket and checked ahead (once the secp256k1 backend is known). */
  #headStarts: TicketHeadStarts | null = null;
  #modelSecrets: ModelSecretCache;
  /** Tickets, ECDH and receipts: the backend given, else the fastest once start() loaded it. */
  #secp: Secp256k1Backend | undefined;
  /** Direct-mode frames: the implementation given, else the fastest once start() loaded it. */
  #cipher: Nip44Cipher | undefined;
  /** Relayed direct requests whose frames are still arriving, by job id. */
  #relays = new Map<string, RelayInbox>();
  /** Jobs that came over Nostr relays: they need no control plane, so its socket closing spares them. */
  #sealed = new Map<string, AbortController>();
  readonly state: DaemonState = { connected: false, inFlight: 0, completed: 0, failed: 0, reconnects: 0 };

  constructor(opts: NodeDaemonOptions) {
    this.#servers = [...new Set([opts.server, ...opts.servers ?? []])];
    this.#opts = {
      ...opts,
      servers: this.#servers,
      livenessPingMs: opts.livenessPingMs ?? 1_000,
      livenessTimeoutMs: opts.livenessTimeoutMs ?? 3_000,
      heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 30_000,
      maxBackoffMs: opts.maxBackoffMs ?? 30_000,
      drainTimeoutMs: opts.drainTimeoutMs ?? 30_000,
      signReceipts: opts.signReceipts ?? true,
      platformKeys: opts.platformKeys ?? PlatformKeyCache.forServer(opts.server),
      modelSecret: opts.modelSecret ?? (() => Promise.resolve(null)),
      nowS: opts.nowS ?? (() => Math.floor(Date.now() / 1000)),
    };
    this.#platformKeysOwn = !opts.platformKeys;
    this.#receipts = new ReceiptChain(opts.identity.secretKey);
    this.#modelSecrets = new ModelSecretCache(this.#opts.modelSecret);
    this.#secp = opts.secp;
    this.#cipher = opts.cipher;
    if (opts.secp) this.#receipts.useFinalizer(opts.secp.finalizeEvent);
    this.#engine = new EngineClient(opts.engineBaseUrl);
    this.#stopped = new Promise((r) => (this.#resolveStopped = r));
  }

  /** The control-plane instance the daemon is homed on now. */
  get server(): string {
    return this.#servers[this.#home];
  }

  /** Registers (with the first instance that answers), then connects the job socket and starts heartbeats. */
  async start(): Promise<void> {
    // Tickets, ECDH and receipts by libsecp256k1 (native, else wasm), not nostr-tools' pure code.
    if (!this.#secp) {
      this.#secp = await fastestSecp256k1();
      this.#receipts.useFinalizer(this.#secp.finalizeEvent);
    }
    // Frames by libsodium's HMAC-SHA256 and ChaCha20 where it loads, else nostr-tools' nip44.
    this.#cipher ??= fastestNip44();
    this.#headStarts = new TicketHeadStarts({
      nodeSecretKey: this.#opts.identity.secretKey,
      nodePubkey: this.#opts.identity.pubkey,
      platformPubkey: () => this.#opts.platformKeys.current,
      secp: this.#secp,
      cipher: this.#cipher,
      modelSecret: (pubkey) => this.#modelSecrets.get(pubkey),
    });
    this.#opts.log.info("crypto backends", { secp256k1: this.#secp.name, nip44: this.#cipher.name });
    for (let i = 0;; i++) {
      try {
        await registerNode(this.server, this.#opts.identity, this.#opts.advert);
        this.#registeredAt = this.server;
        break;
      } catch (err) {
        // An unreachable instance: the next one; a refusal (a bad record) is the same everywhere.
        const unreachable = err instanceof CliError && err.code === "server_unreachable";
        if (!unreachable || i + 1 >= this.#servers.length) throw err;
        this.#opts.log.warn("control plane unreachable; trying the next", { server: this.server });
        this.#rehome();
      }
    }
    // Direct-mode tickets are checked against this key; a failure here is retried on the first one.
    await this.#opts.platformKeys.refresh().catch((err) =>
      this.#opts.log.warn("control plane key not fetched", { err: (err as Error).message })
    );
    // Stopped while registering (a SIGTERM during start-up): no socket, no heartbeats.
    if (this.#stopping) return;
    this.#connect();
    this.#heartbeatTimer = setInterval(() => void this.#heartbeat(), this.#opts.heartbeatIntervalMs);
  }

  /** Registers a new advertisement (e.g. new prices) now and keeps it for later re-registrations. */
  async readvertise(advert: NodeAdvert): Promise<void> {
    await registerNode(
      this.server,
      this.#opts.identity,
      this.#draining ? { ...advert, models: [] } : advert,
    );
    this.#opts = { ...this.#opts, advert };
  }

  /** Resolves when the daemon has stopped. */
  get stopped(): Promise<void> {
    return this.#stopped;
  }

  #socketUrl(): string {
    return this.server.replace(/^http/, "ws") + "/api/nodes/ws";
  }

  /** Moves to the next instance; its ticket key is fetched from there unless one was given. */
  #rehome(): void {
    this.#home = (this.#home + 1) % this.#servers.length;
    if (this.#platformKeysOwn) this.#opts.platformKeys = PlatformKeyCache.forServer(this.server);
  }

  #connect(): void {
    if (this.#stopping) return;
    if (this.#registeredAt !== this.server) {
      // A new home: the node record goes there first (its registry may not know the node yet).
      const server = this.server;
      void registerNode(server, this.#opts.identity, this.#currentAdvert()).then(
        () => {
          this.#registeredAt = server;
          this.#openSocket();
        },
        (err) => {
          this.#opts.log.warn("registration failed", { server, err: (err as Error).message });
          this.#scheduleReconnect(0, "registration failed", false);
        },
      );
      return;
    }
    this.#openSocket();
  }

  #openSocket(): void {
    if (this.#stopping) return;
    const url = this.#socketUrl();
    const several = this.#servers.length > 1;
    const ws = new WebSocket(url, { handshakeTimeout: several ? this.#opts.livenessTimeoutMs : 10_000 });
    this.#socket = ws;
    if (several) this.#watchLiveness(ws);
    ws.on("message", (data: WebSocket.RawData, isBinary: boolean) => {
      const frame = isBinary ? null : parseServerFrame(data.toString());
      if (frame) this.#onFrame(ws, url, frame);
    });
    ws.on("close", (code: number, reason: Buffer) => {
      if (this.#socket === ws) this.#socket = null;
      const wasConnected = this.state.connected;
      this.state.connected = false;
      // Jobs cannot report back over a dead socket; the control plane has already failed them.
      for (const ctrl of this.#jobs.values()) ctrl.abort();
      if (this.#stopping) return;
      this.#scheduleReconnect(code, reason.toString(), wasConnected);
    });
    ws.on("error", (err: Error) => this.#opts.log.debug("job socket error", { err: err.message }));
  }

  /**
   * After a close: with one server, back off and try it again; with several, move to the next and
   * try each once after a short wait, then back off across rounds.
   */
  #scheduleReconnect(code: number, reason: string, wasConnected: boolean): void {
    if (this.#stopping) return;
    const n = this.#servers.length;
    const attempt = this.#attempt++;
    if (n > 1) this.#rehome();
    const wait = n > 1 && attempt < n
      ? Math.round(REHOME_WAIT_MS * (0.5 + Math.random()))
      : backoffMs(n > 1 ? attempt - n : attempt, this.#opts.maxBackoffMs);
    this.#opts.log.warn("job socket closed; reconnecting", {
      code,
      reason,
      waitMs: wait,
      wasConnected,
      server: this.server,
    });
    this.state.reconnects++;
    this.#reconnectTimer = setTimeout(() => this.#connect(), wait);
  }

  /**
   * With several instances, a socket whose instance died without closing it (power, network) is
   * found by pinging: nothing heard for `livenessTimeoutMs` and it is dropped, so the node re-homes.
   */
  #watchLiveness(ws: WebSocket): void {
    let heardAt = Date.now();
    const heard = () => (heardAt = Date.now());
    ws.on("pong", heard);
    ws.on("message", heard);
    ws.on("open", heard);
    const timer = setInterval(() => {
      if (ws.readyState === WebSocket.CLOSED) return clearInterval(timer);
      if (Date.now() - heardAt > this.#opts.livenessTimeoutMs) {
        clearInterval(timer);
        this.#opts.log.warn("control plane silent; dropping the socket", { server: this.server });
        ws.terminate();
        return;
      }
      if (ws.readyState === WebSocket.OPEN) ws.ping();
    }, this.#opts.livenessPingMs);
    ws.on("close", () => clearInterval(timer));
  }

  #send(ws: WebSocket, frame: NodeFrame): void {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  }

  #onFrame(ws: WebSocket, url: string, frame: ServerFrame): void {
    switch (frame.type) {
      case "challenge":
        this.#send(ws, {
          type: "auth",
          event: createAuthEvent(this.#opts.identity.secretKey, url, frame.challenge),
        });
        return;
      case "welcome":
        this.#receipts.reset(frame.receipt_head ?? null);
        this.#receiptBatches = frame.receipt_batches === true;
        this.state.connected = true;
        this.#attempt = 0;
        this.#opts.log.info("connected to the control plane", { server: this.server });
        return;
      case "ping":
        this.#send(ws, { type: "pong", t: frame.t });
        return;
      case "job":
        void this.#runJob(ws, frame);
        return;
      case "cancel":
        this.#jobs.get(frame.job_id)?.abort();
        this.#relays.get(frame.job_id)?.close();
        return;
      case "relay_open":
        void this.#relay(ws, frame.job_id, frame.header);
        return;
      case "relay_frame":
        this.#relays.get(frame.job_id)?.push(frame.frame);
        return;
      case "ticket":
        this.#headStarts?.announce(frame.ticket, this.#opts.nowS());
        return;
      case "receipt_ok":
      case "receipt_refused":
        return this.#onReceiptAnswer(frame);
      case "receipt_answers":
        for (const answer of frame.answers) this.#onReceiptAnswer(answer);
        return;
      case "error":
        this.#opts.log.warn("control plane error", { message: frame.message });
        if (frame.message.includes("not registered")) void this.#reregisterAndReconnect();
        return;
    }
  }

  #onReceiptAnswer(answer: ReceiptAnswer): void {
    if (answer.type === "receipt_ok") return;
    this.#opts.log.warn("receipt refused", {
      jobId: answer.job_id,
      code: answer.code,
      reason: answer.message,
    });
    this.#receipts.reset(answer.head);
  }

  /** Queues the receipt of a job that ended; it is signed and sent at the next flush, in order. */
  #queueReceipt(job: JobFrame, output: JobOutput | OutputSummary, outcome: ReceiptOutcome): void {
    // The job's duration ends now; its output is read and the receipt signed later.
    if (output instanceof JobOutput) output.finish();
    this.#unsent.push({ job, output, outcome });
    if (this.#receiptBatches && this.#unsent.length >= RECEIPTS_PER_FLUSH) return this.#flushReceipts();
    // A server that takes one receipt per frame gets it on the next turn, after frames of other
    // jobs already waiting; one that takes batches gets what ended within the linger.
    this.#receiptTimer ??= setTimeout(
      () => this.#flushReceipts(),
      this.#receiptBatches ? RECEIPT_LINGER_MS : 0,
    );
  }

  /**
   * Signs the queued receipts after the chain's head and sends them (dropped with no socket open):
   * a few per turn, in order, the rest on the next turns; `all` signs and sends every one now.
   */
  #flushReceipts(all = false): void {
    if (this.#receiptTimer !== null) clearTimeout(this.#receiptTimer);
    this.#receiptTimer = null;
    const ws = this.#socket;
    if (ws?.readyState !== WebSocket.OPEN) {
      this.#unsent.length = 0;
      return;
    }
    const slice = all || !this.#receiptBatches ? this.#unsent.length : RECEIPTS_PER_TURN;
    const unsent = this.#unsent.splice(0, slice);
    if (unsent.length === 0) return;
    const events = unsent.map(({ job, output, outcome }) =>
      this.#receipts.sign(job, output instanceof JobOutput ? output.summary(job.kind) : output, outcome)
    );
    if (!this.#receiptBatches) { for (const event of events) this.#send(ws, { type: "receipt", event }); }
    else if (events.length === 1) this.#send(ws, { type: "receipt", event: events[0] });
    else this.#send(ws, { type: "receipts", events });
    if (this.#unsent.length > 0) this.#receiptTimer = setTimeout(() => this.#flushReceipts(), 0);
  }

  async #runJob(ws: WebSocket, job: Extract<ServerFrame, { type: "job" }>): Promise<void> {
    if (this.#stopping || this.#draining || this.#jobs.size >= this.#opts.advert.maxConcurrency) {
      const reason = this.#stopping || this.#draining ? "node is draining" : "node is at capacity";
      this.#send(ws, {
        type: "fail",
        job_id: job.job_id,
        code: "node_busy",
        message: reason,
        started: false,
      });
      return;
    }
    const ctrl = new AbortController();
    this.#jobs.set(job.job_id, ctrl);
    this.state.inFlight = this.#jobs.size;
    const output = new JobOutput();
    try {
      const outcome = await proxyJob(job, this.#engine, (f) => {
        // The frame goes out first: what the receipt needs is read from it after.
        this.#send(ws, f);
        output.observe(f);
      }, ctrl.signal);
      if (outcome === "completed") this.state.completed++;
      else if (outcome === "failed") this.state.failed++;
      if (this.#opts.signReceipts) this.#queueReceipt(job, output, RECEIPT_OUTCOMES[outcome]);
    } finally {
      this.#jobs.delete(job.job_id);
      this.state.inFlight = this.#jobs.size;
    }
  }

  /** Admits a direct-mode request (docs/protocol.md §14), whichever transport carried it. */
  async openDirect(header: unknown, next: NextFrame, opts: { jobId?: string } = {}): Promise<DirectStart> {
    const busy = (): DirectStart | null =>
      this.#stopping || this.#draining || this.#jobs.size >= this.#opts.advert.maxConcurrency
        ? {
          ok: false,
          refusal: { status: 503, code: "node_busy", message: "node is draining or at capacity" },
        }
        : null;
    const early = busy();
    if (early) return early;
    const admission = await admitDirect(header, next, {
      nodeSecretKey: this.#opts.identity.secretKey,
      nodePubkey: this.#opts.identity.pubkey,
      platformKeys: this.#opts.platformKeys,
      usedTickets: this.#usedTickets,
      servedModels: () => this.#draining ? [] : this.#opts.advert.models.map((m) => m.id),
      modelSecret: (pubkey) => this.#modelSecrets.get(pubkey),
      nowS: this.#opts.nowS,
      headStarts: this.#headStarts ?? undefined,
      secp: this.#secp,
      cipher: this.#cipher,
      jobId: opts.jobId,
    });
    if (!admission.ok) return admission;
    const late = busy() ??
      (this.#jobs.has(admission.admitted.job.job_id)
        ? {
          ok: false,
          refusal: { status: 409, code: "ticket_reused", message: "the job is already running" },
        }
        : null);
    if (late) return late;
    const { job } = admission.admitted;
    // The slot is taken now, so the admitted job counts against max_concurrency at once.
    const ctrl = new AbortController();
    this.#jobs.set(job.job_id, ctrl);
    this.state.inFlight = this.#jobs.size;
    return {
      ok: true,
      stream: job.stream,
      run: async (emit, signal) => {
        const onAbort = () => ctrl.abort();
        signal.addEventListener("abort", onAbort, { once: true });
        if (signal.aborted) ctrl.abort();
        try {
          const { outcome, output } = await runDirect(admission.admitted, this.#engine, emit, ctrl.signal);
          if (outcome === "completed") this.state.completed++;
          else if (outcome === "failed") this.state.failed++;
          // Signed after the answer's last frame has gone out (as for gateway jobs); the answer may
          // be the consumer's already, so a failure here is logged, not thrown.
          try {
            if (this.#opts.signReceipts) this.#queueReceipt(job, output, RECEIPT_OUTCOMES[outcome]);
          } catch (err) {
            this.#opts.log.error("direct job receipt failed", {
              jobId: job.job_id,
              err: (err as Error).message,
            });
          }
        } finally {
          signal.removeEventListener("abort", onAbort);
          this.#jobs.delete(job.job_id);
          this.state.inFlight = this.#jobs.size;
        }
      },
    };
  }

  /** The control plane's key as cached for tickets (vouchers are checked against it too). */
  get platformKeys(): PlatformKeyCache {
    return this.#opts.platformKeys;
  }

  /** The advertisement in force (no models while draining). */
  advert(): NodeAdvert {
    return this.#currentAdvert();
  }

  /**
   * Runs a job that reached the node without the control plane (Nostr relays, docs/protocol.md §18)
   * in one of its slots, emitting sealed frames; null when the node is draining or at capacity.
   */
  runSealed(job: JobFrame, sealer: FrameSealer, emit: (payload: string) => void): Promise<DirectRun> | null {
    const busy = this.#jobs.size + this.#sealed.size >= this.#opts.advert.maxConcurrency;
    if (this.#stopping || this.#draining || busy || this.#sealed.has(job.job_id)) return null;
    const ctrl = new AbortController();
    this.#sealed.set(job.job_id, ctrl);
    this.state.inFlight = this.#jobs.size + this.#sealed.size;
    return (async () => {
      try {
        const run = await runDirect({ job, sealer }, this.#engine, emit, ctrl.signal);
        if (run.outcome === "completed") this.state.completed++;
        else if (run.outcome === "failed") this.state.failed++;
        return run;
      } finally {
        this.#sealed.delete(job.job_id);
        this.state.inFlight = this.#jobs.size + this.#sealed.size;
      }
    })();
  }

  /** A direct-mode request relayed by the control plane: the same admission and run, over the socket. */
  async #relay(ws: WebSocket, jobId: string, header: Record<string, unknown>): Promise<void> {
    if (this.#relays.has(jobId)) return;
    const inbox = new RelayInbox();
    this.#relays.set(jobId, inbox);
    let closed = false;
    const close = (error: { code: string; message: string } | null) => {
      if (closed) return;
      closed = true;
      this.#send(ws, { type: "relay_close", job_id: jobId, error });
    };
    try {
      let start: DirectStart;
      try {
        start = await this.openDirect(header, () => inbox.next(), { jobId });
      } finally {
        this.#relays.delete(jobId);
        inbox.close();
      }
      if (!start.ok) return close({ code: start.refusal.code, message: start.refusal.message });
      await start.run((frame, last) => {
        this.#send(ws, { type: "relay_frame", job_id: jobId, frame });
        // The answer is complete: the relay closes now, before the receipt's bookkeeping.
        if (last) close(null);
      }, new AbortController().signal);
      close(null);
    } catch (err) {
      // Never an unhandled rejection in the daemon: the relay ends, the error is logged.
      this.#opts.log.error("relayed direct request failed", { jobId, err: (err as Error).message });
      close({ code: "node_error", message: "the node failed to handle the request" });
    }
  }

  async #heartbeat(): Promise<void> {
    const body: HeartbeatBody = {
      node_id: this.#opts.advert.nodeId,
      load: this.#jobs.size / this.#opts.advert.maxConcurrency,
      free_slots: this.#draining ? 0 : Math.max(0, this.#opts.advert.maxConcurrency - this.#jobs.size),
      in_flight: this.#jobs.size,
      models: this.#draining ? [] : this.#opts.advert.models.map((m) => m.id),
    };
    try {
      const res = await signedPost(
        this.server,
        "/api/nodes/heartbeat",
        this.#opts.identity.secretKey,
        body,
      );
      await res.body?.cancel();
      if (res.status === 404) await this.#reregister();
      else if (!res.ok) this.#opts.log.warn("heartbeat refused", { status: res.status });
    } catch (err) {
      this.#opts.log.warn("heartbeat failed", { err: (err as Error).message });
    }
  }

  async #reregister(): Promise<boolean> {
    try {
      await registerNode(this.server, this.#opts.identity, this.#currentAdvert());
      this.#registeredAt = this.server;
      this.#opts.log.info("re-registered with the control plane");
      return true;
    } catch (err) {
      this.#opts.log.warn("re-registration failed", { err: (err as Error).message });
      return false;
    }
  }

  /**
   * The server answers again but lost this node (a restart with no data): register, then
   * reconnect at once rather than after the backoff grown while it was down.
   */
  async #reregisterAndReconnect(): Promise<void> {
    if (!(await this.#reregister()) || this.#stopping) return;
    this.#attempt = 0;
    if (this.#reconnectTimer !== null) {
      clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = null;
      this.#connect();
    }
  }

  // While draining, the node is registered with no models, so the router sends it nothing.
  #currentAdvert(): NodeAdvert {
    return this.#draining ? { ...this.#opts.advert, models: [] } : this.#opts.advert;
  }

  /**
   * Drains for an upgrade: re-registers with no models (the router stops sending jobs), refuses
   * any job already on its way, and waits for running jobs up to `timeoutMs`; true when all
   * finished. The socket stays open, so running jobs keep streaming.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.#draining = true;
    await this.#reregister();
    const deadline = Date.now() + timeoutMs;
    while (this.#jobs.size + this.#sealed.size > 0 && Date.now() < deadline) await sleep(50);
    return this.#jobs.size + this.#sealed.size === 0;
  }

  /** Ends a drain: advertises the models again and takes jobs. */
  async resume(): Promise<void> {
    if (!this.#draining) return;
    this.#draining = false;
    await this.#reregister();
  }

  /** Drains: refuses new jobs, waits for running ones (up to the drain limit), then closes. */
  async stop(): Promise<void> {
    if (this.#stopping) return this.#stopped;
    this.#stopping = true;
    if (this.#heartbeatTimer !== null) clearInterval(this.#heartbeatTimer);
    if (this.#reconnectTimer !== null) clearTimeout(this.#reconnectTimer);
    const deadline = Date.now() + this.#opts.drainTimeoutMs;
    while (this.#jobs.size + this.#sealed.size > 0 && Date.now() < deadline) await sleep(50);
    for (const ctrl of [...this.#jobs.values(), ...this.#sealed.values()]) ctrl.abort();
    this.#flushReceipts(true);
    this.#socket?.close(1000, "node stopping");
    this.#socket = null;
    await this.#engine.close();
    this.#resolveStopped();
    return this.#stopped;
  }
}
