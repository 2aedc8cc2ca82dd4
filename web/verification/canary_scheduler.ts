// Canaries: known-answer chat jobs the control plane sends each live node from time to time,
// through the same path as consumer traffic (an in-process request to its own
// `/v1/chat/completions` with the platform's canary key, pinned to the node), paid to the operator
// from platform fees. Each answer is checked (answer_checks.ts, reference_answers.ts) and every
// verdict is a signed verification event (kind 7477) stored and served beside the receipts.
import { createVerification, fastestSecp256k1, type Logger, nostrDid } from "../../shared/mod.ts";
import { type HardwareFacts, hardwareVerdict } from "./hardware_check.ts";
import { ensurePlatformApiKey, fundCanaryKey, insertVerifications, type Sql } from "../../db/mod.ts";
import { checkContains, checkUsage, type Verdict } from "./answer_checks.ts";
import { type CanaryPrompt, pickCanaryPrompt } from "./canary_prompts.ts";
import { ReferenceAnswers } from "./reference_answers.ts";

/** A live node as the scheduler sees it. */
export interface CanaryNode {
  pubkey: string;
  models: string[];
  /** The quantization each model is declared with (absent: "unknown"); answers are compared within one. */
  quantizations?: Record<string, string>;
  /** The declared tier and measured speed, for the hardware check (absent: not checked). */
  hardware?: HardwareFacts;
  /** Jobs the node has finished on this server (the rate is a share of them). */
  jobsServed: number;
}

/** What canaries need from the control plane (canary_wiring.ts builds it from a ControlPlane). */
export interface CanaryDeps {
  /** The app's own handler: canaries travel the consumer path in-process, no network. */
  fetch(req: Request): Response | Promise<Response>;
  sql: Sql;
  log: Logger;
  /** The control plane's Nostr key: it derives the canary API key and signs verifications. */
  platformKey: { secretKey: Uint8Array; pubkey: string };
  /** The platform receipt of a job on a node, once written (null: the job never reached it). */
  whenReceipted(jobId: string, nodePubkey: string): Promise<{ eventId: string } | null>;
  /** The live nodes. */
  nodes(): Iterable<CanaryNode>;
  /** A node's suspicion, 0..1 (reputation); the rate grows with it. */
  suspicionOf(pubkey: string): number;
  /** The node's reported and our counted completion tokens of a finished job (its stored row). */
  jobUsage(jobId: string): Promise<{ reported: number | null; counted: number | null } | null>;
  /** Called after a node's verifications are stored, with their events as JSON (reputation, relays). */
  onVerification?(pubkey: string, events: string[]): void | Promise<void>;
}

/** Tuning; every field has a default. */
export interface CanaryOptions {
  /** The share of a node's jobs sent as canaries (default 0.01). */
  rate?: number;
  /** The longest a live node goes without a canary (default 30 minutes). */
  floorMs?: number;
  /** The shortest time between two canaries on one node (the cap; default 60 s). */
  minIntervalMs?: number;
  /** The rate is multiplied by 1 + this × suspicion (default 50). */
  suspicionBoost?: number;
  /** Nodes under this suspicion may give reference answers (default 0.5). */
  goodStandingBelow?: number;
  /** The canary key is topped up to `fundTargetNano` when under `fundBelowNano` (default 0.5 / 2 USD). */
  fundBelowNano?: bigint;
  fundTargetNano?: bigint;
  /** Canaries at most per tick, all nodes together (default 20). */
  perTick?: number;
  /** How often `start` looks for nodes due (default 5 s). */
  tickMs?: number;
  /** Math.random's shape: picks prompts and models (tests pass a seeded one). */
  random?: () => number;
}

/** What one canary found. */
export interface CanaryOutcome {
  node: string;
  jobId: string | null;
  /** The HTTP status of the canary's answer (402: the canary account is empty). */
  status: number;
  verdicts: { check: "canary" | "cross_check" | "metering" | "hardware"; pass: boolean; detail: string }[];
}

/** Derives the platform's canary API key from its Nostr key: every instance shares it, none stores it. */
export async function canaryApiKey(secretKey: Uint8Array): Promise<string> {
  const raw = await crypto.subtle.importKey(
    "raw",
    new Uint8Array(secretKey),
    { name: "HMAC", hash: "SHA-256" },
    false,
    [
      "sign",
    ],
  );
  const mac = await crypto.subtle.sign("HMAC", raw, new TextEncoder().encode("infernet canary api key"));
  return "inf_canary_" + Array.from(new Uint8Array(mac), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Sends canaries: on a timer (`start`) at each node's rate, or now (`runCanaries`, tests). */
export class CanaryScheduler {
  #deps: CanaryDeps;
  #opts: Required<CanaryOptions>;
  #refs: ReferenceAnswers;
  /** Models some node in good standing answered a rule-checked canary correctly on. */
  #capable = new Set<string>();
  #key: Promise<{ key: string; id: bigint }> | null = null;
  #last = new Map<string, { atMs: number; jobs: number }>();
  #paused = false;
  #retryAtMs = 0;
  #timer: ReturnType<typeof setInterval> | null = null;
  #running: Promise<unknown> = Promise.resolve();
  #next = 0;

  constructor(deps: CanaryDeps, opts: CanaryOptions = {}) {
    this.#deps = deps;
    this.#opts = {
      rate: 0.01,
      floorMs: 30 * 60_000,
      minIntervalMs: 60_000,
      suspicionBoost: 50,
      goodStandingBelow: 0.5,
      fundBelowNano: 500_000_000n,
      fundTargetNano: 2_000_000_000n,
      perTick: 20,
      tickMs: 5_000,
      random: Math.random,
      ...opts,
    };
    this.#refs = new ReferenceAnswers((n) => deps.suspicionOf(n) < this.#opts.goodStandingBelow);
  }

  /** Whether canaries are paused because the platform's fees cannot fund them. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Whether the timer runs (between `start` and `stop`). */
  get running(): boolean {
    return this.#timer !== null;
  }

  /** Looks for due nodes every `tickMs` until `stop`. */
  start(): void {
    if (this.#timer !== null || this.#opts.rate <= 0) return;
    this.#timer = setInterval(() => {
      this.#running = this.#running.then(() => this.runDue())
        .catch((err) => this.#deps.log.error("canary round failed", { err }));
    }, this.#opts.tickMs);
  }

  /** Stops the timer and waits for the canaries in flight. */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  /**
   * Whether a node is due: its share of jobs since its last canary reached one, or the floor
   * passed; both shortened by suspicion, never closer than `minIntervalMs`.
   */
  isDue(node: CanaryNode, nowMs: number): boolean {
    const last = this.#last.get(node.pubkey);
    if (!last) {
      // A node first seen now starts its count now: its first canary comes like any other.
      this.#last.set(node.pubkey, { atMs: nowMs, jobs: node.jobsServed });
      return false;
    }
    const boost = 1 + this.#opts.suspicionBoost * this.#deps.suspicionOf(node.pubkey);
    if (nowMs - last.atMs < this.#opts.minIntervalMs) return false;
    return (node.jobsServed - last.jobs) * this.#opts.rate * boost >= 1 ||
      nowMs - last.atMs >= this.#opts.floorMs / boost;
  }

  /** Sends one canary to each due node (at most `perTick`); returns what they found. */
  async runDue(nowMs = Date.now()): Promise<CanaryOutcome[]> {
    // Paused for want of funds: the fees are looked at again once a minute, not every tick.
    if (this.#paused && nowMs < this.#retryAtMs) return [];
    this.#retryAtMs = nowMs + 60_000;
    const due = [...this.#deps.nodes()].filter((n) => n.models.length > 0 && this.isDue(n, nowMs))
      .slice(0, this.#opts.perTick);
    // Distinct nodes, so at once: one node waiting for its receipt does not hold up the others.
    const outcomes = await Promise.all(due.map((node) => this.runOne(node)));
    return outcomes.filter((o): o is CanaryOutcome => o !== null);
  }

  /** Sends `count` canaries now, to `pubkey` or round-robin over the live nodes. */
  async runCanaries(count: number, pubkey?: string): Promise<CanaryOutcome[]> {
    const out: CanaryOutcome[] = [];
    for (let i = 0; i < count; i++) {
      const nodes = [...this.#deps.nodes()].filter((n) =>
        n.models.length > 0 && (!pubkey || n.pubkey === pubkey)
      );
      if (nodes.length === 0) break;
      const outcome = await this.runOne(nodes[this.#next++ % nodes.length]);
      if (!outcome) break;
      out.push(outcome);
    }
    return out;
  }

  /** One canary on one node; null when canaries are paused for want of funds. */
  async runOne(node: CanaryNode): Promise<CanaryOutcome | null> {
    const { key } = await this.#ensureFunded() ?? {};
    if (!key) return null;
    this.#last.set(node.pubkey, { atMs: Date.now(), jobs: node.jobsServed });
    const random = this.#opts.random;
    const model = node.models[Math.floor(random() * node.models.length) % node.models.length];
    const prompt = pickCanaryPrompt(random);
    const res = await this.#deps.fetch(canaryRequest(key, node.pubkey, model, prompt));
    const jobId = res.headers.get("x-infernet-job-id");
    const outcome: CanaryOutcome = { node: node.pubkey, jobId, status: res.status, verdicts: [] };
    const body = await res.json().catch(() => null);
    if (res.status === 402) this.#pause();
    if (!res.ok || !jobId || res.headers.get("x-infernet-node") !== node.pubkey) return outcome;
    const choice = (body as { choices?: { message?: { content?: unknown }; finish_reason?: unknown }[] })
      ?.choices?.[0];
    const answer = {
      text: typeof choice?.message?.content === "string" ? choice.message.content : "",
      finishReason: typeof choice?.finish_reason === "string" ? choice.finish_reason : null,
    };
    const answerVerdict: (Verdict & { check: "canary" | "cross_check" }) | null = prompt.expect !== null
      ? this.#ruleVerdict(model, node.pubkey, checkContains(prompt.expect, answer.text))
      : this.#refs.check(
        // A node serving an int4 build is compared with int4 builds: a declared fp16 that answers
        // like int4 disagrees with the honest fp16 nodes.
        `${model}@${node.quantizations?.[model] ?? "unknown"}`,
        prompt.key,
        node.pubkey,
        answer,
      );
    if (answerVerdict) outcome.verdicts.push(answerVerdict);
    if (node.hardware) {
      const peers = [...this.#deps.nodes()].flatMap((n) => (n.hardware ? [n.hardware] : []));
      const hardware = hardwareVerdict(node.hardware, peers, model);
      if (hardware) outcome.verdicts.push({ check: "hardware", ...hardware });
    }
    const usage = await this.#deps.jobUsage(jobId);
    if (usage?.counted != null) {
      outcome.verdicts.push({ check: "metering", ...checkUsage(usage.reported, usage.counted) });
    }
    await this.#record(node.pubkey, jobId, outcome);
    return outcome;
  }

  /**
   * A rule's verdict counts only once the model has shown it can meet such rules (a node in good
   * standing passed one): a tiny model that cannot repeat a sentence is no node's fault.
   */
  #ruleVerdict(model: string, node: string, v: Verdict): (Verdict & { check: "canary" }) | null {
    if (v.pass && this.#deps.suspicionOf(node) < this.#opts.goodStandingBelow) this.#capable.add(model);
    return v.pass || this.#capable.has(model) ? { check: "canary", ...v } : null;
  }

  async #record(node: string, jobId: string, outcome: CanaryOutcome): Promise<void> {
    if (outcome.verdicts.length === 0) return;
    const receipt = await this.#deps.whenReceipted(jobId, node);
    if (!receipt) return;
    const createdAt = Math.floor(Date.now() / 1000);
    // libsecp256k1 when it loads: nostr-tools' pure signer takes ~1 ms of this thread per verdict
    // (up to four per canary), long enough to hold up the requests arriving meanwhile.
    const { finalizeEvent } = await fastestSecp256k1();
    const rows = outcome.verdicts.map((v) => {
      const event = createVerification(this.#deps.platformKey.secretKey, {
        task_id: jobId,
        agent_did: nostrDid(node),
        receipt: receipt.eventId,
        check: v.check,
        result: v.pass ? "pass" : "fail",
        detail: v.detail,
        created_at: createdAt,
      }, { finalize: finalizeEvent });
      return {
        eventId: event.id,
        receiptEventId: receipt.eventId,
        jobId,
        nodePubkey: node,
        checkKind: v.check,
        result: v.pass ? "pass" as const : "fail" as const,
        detail: v.detail,
        createdAt,
        event: JSON.stringify(event),
      };
    });
    await insertVerifications(this.#deps.sql, rows);
    const failed = outcome.verdicts.filter((v) => !v.pass);
    if (failed.length) {
      this.#deps.log.info("canary failed", {
        node,
        jobId,
        failed: failed.map((v) => v.detail),
      });
    }
    await this.#deps.onVerification?.(node, rows.map((r) => r.event));
  }

  async #ensureFunded(): Promise<{ key: string } | null> {
    this.#key ??= canaryApiKey(this.#deps.platformKey.secretKey).then(async (key) => ({
      key,
      id: await ensurePlatformApiKey(this.#deps.sql, key),
    }));
    const { key, id } = await this.#key.catch((err) => {
      this.#key = null;
      throw err;
    });
    const funding = await fundCanaryKey(this.#deps.sql, {
      apiKeyId: id,
      below: this.#opts.fundBelowNano,
      target: this.#opts.fundTargetNano,
    });
    // Canaries run while the account holds something; once it is empty and fees cannot refill it,
    // they pause (logged once) until fees come in.
    if (funding.balance <= 0n) {
      this.#pause();
      return null;
    }
    if (this.#paused) this.#deps.log.info("canaries resumed: platform fees fund them again");
    this.#paused = false;
    return { key };
  }

  #pause(): void {
    if (!this.#paused) this.#deps.log.warn("canaries paused: the platform's fees cannot fund them yet");
    this.#paused = true;
  }
}

/** The canary as a consumer request: the node pinned, greedy sampling, a bounded answer. */
function canaryRequest(key: string, node: string, model: string, prompt: CanaryPrompt): Request {
  return new Request("http://control-plane.internal/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({
      model,
      messages: prompt.messages,
      // Greedy, and seeded per prompt: an honest engine answers the same prompt the same way.
      temperature: 0,
      seed: prompt.seed,
      max_tokens: prompt.maxTokens,
      provider: { only: [node], allow_fallbacks: false },
    }),
  });
}
