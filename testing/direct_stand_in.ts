// A stand-in for direct mode's far side (docs/protocol.md §14), for the consumer's tests until the
// real node and control plane serve it: /v1/route hands out real signed tickets for a few scripted
// nodes, each node answers `/n/<i>/direct` (and `/v1/relay/<job>?node=`) with really sealed frames,
// and /v1/route/<job>/usage records the acknowledgements. Everything on 127.0.0.1.
import { generateSecretKey, getPublicKey, type NostrEvent } from "nostr-tools/pure";
import {
  conversationKey,
  createTicket,
  FrameOpener,
  FrameSealer,
  verifyTicket,
} from "../shared/direct/mod.ts";
import { readLines } from "../shared/direct/ndjson.ts";

/** How a scripted node behaves. */
export type StandInBehaviour =
  | "ok" //             answers with the engine's text
  | "refuse" //         HTTP 503 before any work
  | "error_frame" //    an error frame before any message
  | "wrong_key" //      seals its answer with another key
  | "mid_error" //      one chunk, then an error frame
  | "endless" //        a chunk every 20 ms until the consumer goes away
  | "silent"; //         nothing at all until the consumer goes away (10 s at most)

/** One scripted node. */
export interface StandInNode {
  behaviour: StandInBehaviour;
  /** With no direct endpoint the route sends the consumer to the relay. */
  direct: boolean;
  /** Folds a whole answer's end into its frame when the header asks (`fold_end`), as new nodes do. */
  foldsEnd?: boolean;
}

/** What the stand-in saw. */
export interface StandIn {
  url: string;
  platformPubkey: string;
  nodePubkeys: string[];
  /** Decrypted requests per node index. */
  requests: Array<Record<string, unknown>>[];
  /** Route requests as received. */
  routes: Record<string, unknown>[];
  acks: NostrEvent[];
  /** Node indexes whose answer stream the consumer cancelled. */
  cancelled: number[];
  /** How many requests came through the relay. */
  relayed: number;
  /** Per node index, how many requests came with their end folded into their frame. */
  foldedRequests: number[];
  close(): Promise<void>;
}

const WORDS = ["Private", " answers", " travel", " sealed", "."];

/** Starts the stand-in; the answer's text is WORDS joined ("Private answers travel sealed."). */
export function startDirectStandIn(nodes: StandInNode[], opts: { modelKey?: Uint8Array } = {}): StandIn {
  const platformKey = generateSecretKey();
  const nodeKeys = nodes.map(() => generateSecretKey());
  const state: Omit<StandIn, "url" | "close"> = {
    platformPubkey: getPublicKey(platformKey),
    nodePubkeys: nodeKeys.map((k) => getPublicKey(k)),
    requests: nodes.map(() => []),
    routes: [],
    acks: [],
    cancelled: [],
    relayed: 0,
    foldedRequests: nodes.map(() => 0),
  };
  let url = "";
  let jobs = 0;
  const json = (status: number, body: unknown) => Response.json(body, { status });

  async function serveNode(i: number, req: Request): Promise<Response> {
    const lines = readLines(req.body!);
    const header = JSON.parse((await lines.next()).value);
    const check = verifyTicket(header.ticket, {
      platformPubkey: state.platformPubkey,
      node: state.nodePubkeys[i],
      nowS: Math.floor(Date.now() / 1000),
    });
    if (!check.ok) return json(403, { error: { code: check.code, message: check.reason } });
    const jobId = check.ticket.content.job_id;
    // A model-key ticket (IPIP-0028): the request is sealed to the model's key, which every node holds.
    const byModel = check.ticket.content.target === "model" && opts.modelKey;
    const key = conversationKey(byModel ? opts.modelKey! : nodeKeys[i], header.consumer);
    const opener = new FrameOpener(key, jobId, "c2n");
    let request = "";
    for await (const line of lines) {
      const o = opener.open(line);
      if (o.type === "message") request = o.text;
      if (o.type === "message" && o.end) state.foldedRequests[i]++;
      if (opener.ended) break;
    }
    const body = JSON.parse(request);
    state.requests[i].push(body);
    const behaviour = nodes[i].behaviour;
    if (behaviour === "refuse") return json(503, { error: { code: "engine_down", message: "no engine" } });
    const sealer = new FrameSealer(
      behaviour === "wrong_key" ? conversationKey(generateSecretKey(), header.consumer) : key,
      jobId,
      "n2c",
    );
    const chunk = (text: string) =>
      JSON.stringify({
        id: "chatcmpl-standin",
        object: "chat.completion.chunk",
        model: body.model,
        choices: [{ index: 0, delta: { content: text }, finish_reason: null }],
      });
    const enc = new TextEncoder();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let gone = false;
    const stream = new ReadableStream<Uint8Array>({
      async start(ctl) {
        const send = (frames: string[]) => ctl.enqueue(enc.encode(frames.map((f) => f + "\n").join("")));
        if (behaviour === "error_frame") {
          send([sealer.error("engine_failed", "the engine failed")]);
          return ctl.close();
        }
        if (behaviour === "mid_error") {
          send([...sealer.message(chunk(WORDS[0])), sealer.error("engine_failed", "the engine died")]);
          return ctl.close();
        }
        if (behaviour === "silent") {
          for (let n = 0; n < 500 && !gone; n++) await new Promise((r) => timer = setTimeout(r, 20));
          if (!gone) ctl.close();
          return;
        }
        if (behaviour === "endless") {
          for (let n = 0; n < 500 && !gone; n++) { // 10 s at most
            send(sealer.message(chunk("tick ")));
            await new Promise((r) => timer = setTimeout(r, 20));
          }
          if (!gone) {
            send([sealer.end()]);
            ctl.close();
          }
          return;
        }
        if (body.stream) {
          for (const w of WORDS) send(sealer.message(chunk(w)));
        } else {
          const fold = nodes[i].foldsEnd === true && header.fold_end === true;
          send(sealer.message(
            JSON.stringify({
              id: "chatcmpl-standin",
              object: "chat.completion",
              model: body.model,
              choices: [{
                index: 0,
                message: { role: "assistant", content: WORDS.join("") },
                finish_reason: "stop",
              }],
              usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
            }),
            { end: fold },
          ));
          if (fold) return ctl.close();
        }
        send([sealer.end()]);
        ctl.close();
      },
      cancel() {
        gone = true;
        clearTimeout(timer);
        state.cancelled.push(i);
      },
    });
    return new Response(stream, { headers: { "content-type": "application/x-ndjson" } });
  }

  async function handle(req: Request): Promise<Response> {
    const u = new URL(req.url);
    if (req.method === "POST" && u.pathname === "/v1/route") {
      const r = await req.json();
      state.routes.push(r);
      if (r.model === "missing") {
        return json(404, { error: { code: "model_not_found", message: "no such model" } });
      }
      const now = Math.floor(Date.now() / 1000);
      const jobId = `job_standin${++jobs}`;
      const modelKey = r.target === "model" && opts.modelKey ? getPublicKey(opts.modelKey) : null;
      return json(200, {
        job_id: jobId,
        expires_at: now + 60,
        candidates: nodes.map((n, i) => ({
          node: state.nodePubkeys[i],
          endpoint: n.direct ? `${url}/n/${i}` : null,
          relay: `/v1/relay/${jobId}?node=${state.nodePubkeys[i]}`,
          model_key: modelKey,
          ticket: createTicket(platformKey, {
            job_id: jobId,
            buyer_did: "did:infernet:buyer:standin",
            model: r.model,
            max_cost: "1000000",
            node: state.nodePubkeys[i],
            consumer: r.consumer,
            target: modelKey ? "model" : "node",
            model_key: modelKey,
            prompt_tokens: r.prompt_tokens,
            max_tokens: r.max_tokens ?? 256,
            expires_at: now + 60,
            created_at: now,
          }),
        })),
      });
    }
    const direct = u.pathname.match(/^\/n\/(\d+)\/direct$/);
    if (req.method === "POST" && direct) return serveNode(Number(direct[1]), req);
    if (req.method === "POST" && u.pathname.startsWith("/v1/relay/")) {
      state.relayed++;
      return serveNode(state.nodePubkeys.indexOf(u.searchParams.get("node") ?? ""), req);
    }
    if (req.method === "POST" && /^\/v1\/route\/[^/]+\/usage$/.test(u.pathname)) {
      state.acks.push(await req.json());
      return json(200, { ok: true });
    }
    if (req.method === "GET" && u.pathname === "/v1/models") {
      return json(200, {
        object: "list",
        data: [{ id: "standin-model", object: "model", owned_by: "infernet" }],
      });
    }
    return json(404, { error: { code: "not_found", message: u.pathname } });
  }

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handle);
  url = `http://127.0.0.1:${server.addr.port}`;
  return Object.assign(state, { url, close: () => server.shutdown() });
}
