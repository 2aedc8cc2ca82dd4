// Direct mode's encryption cost on one core (issue 28): NIP-44 v2 frames (shared/direct/framing.ts)
// sealed and opened, for 1 KB stream chunks and for a 512 KB prompt (cut into 64 KB frames), by
// nostr-tools' nip44 and by libsodium's primitives (shared/direct/nip44_native.ts, --allow-ffi), and
// raw nostr-tools nip44 encrypt/decrypt of 1 KB beside them; then what each request costs once:
// the conversation key (ECDH + HKDF) and the ticket's signature check, by nostr-tools' pure
// JavaScript and by the fastest secp256k1 backend that loads here (native libsecp256k1 through FFI
// needs --allow-ffi). Rates are per CPU second of this process (the JavaScript runs on one thread)
// and per wall second.
// Last, a whole admission on the node (cli/daemon/direct_admission.ts: ticket, ECDH, the request's
// frames and checks) with the ticket as it comes, and with the same ticket announced ahead over the
// job socket (cli/daemon/ticket_head_start.ts): what the head start takes off a request's path.
// Run: deno run --allow-read --allow-env --allow-sys --allow-ffi bench/direct_bench.ts [seconds per case]
import process from "node:process";
import { v2 as nip44 } from "nostr-tools/nip44";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import {
  conversationKey,
  createTicket,
  fastestNip44,
  FrameOpener,
  FrameSealer,
  nativeNip44,
  NOSTR_TOOLS_NIP44,
  verifyTicket,
} from "../shared/direct/mod.ts";
import { fastestSecp256k1 } from "../shared/mod.ts";
import { admitDirect } from "../cli/daemon/direct_admission.ts";
import { PlatformKeyCache } from "../cli/daemon/platform_key_cache.ts";
import { TicketHeadStarts } from "../cli/daemon/ticket_head_start.ts";
import { UsedTickets } from "../cli/daemon/used_tickets.ts";

const seconds = Number(Deno.args[0] ?? 2);
if (!(seconds > 0 && seconds <= 60)) throw new Error("usage: direct_bench.ts [seconds per case, ≤ 60]");

const key = conversationKey(generateSecretKey(), getPublicKey(generateSecretKey()));
const KB = 1024;
/** Prompt-like text: mixed ASCII and a little UTF-8, as JSON would carry it. */
function text(bytes: number): string {
  const base = 'The quick brown fox said "héllo" to the lazy dog — then wrote some code.\n';
  return base.repeat(Math.ceil(bytes / base.length)).slice(0, bytes);
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

const fmt = (n: number, w = 9) => Math.round(n).toLocaleString("en-US").padStart(w);

/** Runs `once` (which handles `bytes` of plaintext) for about `seconds`; prints per CPU s and per wall s. */
function run(name: string, bytes: number, once: () => void) {
  for (let i = 0; i < 20; i++) once(); // warm the JIT, untimed
  const [wall0, cpu0] = [performance.now(), cpuSeconds()];
  let n = 0;
  const maxRuns = 1_000_000;
  while (n < maxRuns && performance.now() - wall0 < seconds * 1000) {
    for (let i = 0; i < 10; i++) once();
    n += 10;
  }
  const wall = (performance.now() - wall0) / 1000;
  const cpu = cpuSeconds() - cpu0;
  console.log(
    `direct: ${name.padEnd(36)} ${fmt(n / cpu)} /CPU s ${fmt(n / wall)} /wall s ` +
      `${bytes ? (n * bytes / cpu / (KB * KB)).toFixed(1).padStart(7) + " MB/CPU s" : " ".repeat(16)}  (${
        (cpu * 1e6 / n).toFixed(1)
      } µs each)`,
  );
}

/** A node-target ticket for the bench's model, valid ten minutes. */
function benchTicket(
  platformSk: Uint8Array,
  node: string,
  consumer: string,
  jobId: string,
  secp?: NonNullable<Parameters<typeof createTicket>[2]>["secp"],
) {
  const nowS = Math.floor(Date.now() / 1000);
  return createTicket(platformSk, {
    job_id: jobId,
    buyer_did: "did:bench",
    model: "m",
    max_cost: "1000",
    node,
    consumer,
    target: "node",
    model_key: null,
    prompt_tokens: 16,
    max_tokens: 16,
    expires_at: nowS + 600,
    created_at: nowS,
  }, { secp });
}

const chunk = text(KB);
run("nip44 encrypt 1 KB (raw)", KB, () => nip44.encrypt(chunk, key));
const sealedRaw = nip44.encrypt(chunk, key);
run("nip44 decrypt 1 KB (raw)", KB, () => nip44.decrypt(sealedRaw, key));

// Each NIP-44 implementation: nostr-tools' (the reference), and libsodium's where it loads.
for (const cipher of [NOSTR_TOOLS_NIP44, ...(nativeNip44() ? [nativeNip44()!] : [])]) {
  const c = cipher.name;
  // One long stream of 1 KB messages: seal each, then open each in order.
  const sealer = new FrameSealer(key, "job_bench", "n2c", { cipher });
  run(`frame seal 1 KB chunk, ${c}`, KB, () => sealer.message(chunk));
  const frames = new FrameSealer(key, "job_bench", "n2c", { cipher });
  const pool: string[] = [];
  for (let i = 0; i < 2000; i++) pool.push(frames.message(chunk)[0]);
  let opener = new FrameOpener(key, "job_bench", "n2c", { cipher });
  let i = 0;
  run(`frame open 1 KB chunk, ${c}`, KB, () => {
    if (i === pool.length) [opener, i] = [new FrameOpener(key, "job_bench", "n2c", { cipher }), 0];
    opener.open(pool[i++]);
  });

  // A 512 KB prompt: cut into frames, sealed, then opened and joined.
  const prompt = text(512 * KB);
  const sealed = new FrameSealer(key, "job_bench", "c2n", { cipher }).message(prompt);
  if (cipher === NOSTR_TOOLS_NIP44) console.log(`direct: a 512 KB prompt travels as ${sealed.length} frames`);
  run(
    `frame seal 512 KB prompt, ${c}`,
    512 * KB,
    () => new FrameSealer(key, "job_bench", "c2n", { cipher }).message(prompt),
  );
  run(`frame open 512 KB prompt, ${c}`, 512 * KB, () => {
    const opener = new FrameOpener(key, "job_bench", "c2n", { cipher });
    for (const f of sealed) opener.open(f);
  });
}

// Once per request: the node's conversation key with the consumer's one-off key, and the ticket.
{
  const secp = await fastestSecp256k1();
  const [nodeSk, consumerSk, platformSk] = [generateSecretKey(), generateSecretKey(), generateSecretKey()];
  const [node, consumer] = [getPublicKey(nodeSk), getPublicKey(consumerSk)];
  const platformPubkey = getPublicKey(platformSk);
  const nowS = Math.floor(Date.now() / 1000);
  const ticket = benchTicket(platformSk, node, consumer, "job_bench");
  const raw = JSON.parse(JSON.stringify(ticket));
  run("conversation key, pure JS", 0, () => conversationKey(nodeSk, consumer));
  run(`conversation key, ${secp.name}`, 0, () => conversationKey(nodeSk, consumer, { secp }));
  const cipher = fastestNip44();
  run(
    `conversation key, ${secp.name} + ${cipher.name} HKDF`,
    0,
    () => conversationKey(nodeSk, consumer, { secp, cipher }),
  );
  run("ticket check, pure JS", 0, () => verifyTicket(raw, { platformPubkey, node, nowS }));
  run(
    `ticket check, ${secp.name}`,
    0,
    () => verifyTicket(raw, { platformPubkey, node, nowS, verify: secp.verifyEvent }),
  );
}

// A whole admission, the ticket as it comes against the ticket announced ahead: the same requests
// (one-off consumer keys, one-message chat requests), alternating rounds, CPU µs per admission.
{
  const secp = await fastestSecp256k1();
  const cipher = fastestNip44();
  const [nodeSk, platformSk] = [generateSecretKey(), generateSecretKey()];
  const node = getPublicKey(nodeSk);
  const platformPubkey = getPublicKey(platformSk);
  const platformKeys = new PlatformKeyCache(() => Promise.resolve(platformPubkey));
  await platformKeys.refresh();
  const body = JSON.stringify({
    model: "m",
    messages: [{ role: "user", content: "a prompt of a few words" }],
  });
  const N = 500;
  /** N requests, each with its own job id and consumer key: the header and the request's frames. */
  const requests = () =>
    Array.from({ length: N }, (_, i) => {
      const consumerSk = generateSecretKey();
      const consumer = getPublicKey(consumerSk);
      const jobId = `job_${crypto.randomUUID()}_${i}`;
      const ticket = benchTicket(platformSk, node, consumer, jobId, secp);
      const key = conversationKey(consumerSk, node, { secp, cipher });
      const frames = new FrameSealer(key, jobId, "c2n", { cipher }).message(body, { end: true });
      return { header: JSON.parse(JSON.stringify({ ticket, consumer })), ticket, frames };
    });
  const admitAll = async (ahead: boolean) => {
    const batch = requests();
    const headStarts = new TicketHeadStarts({
      nodeSecretKey: nodeSk,
      nodePubkey: node,
      platformPubkey: () => platformPubkey,
      secp,
      cipher,
    });
    // Announced untimed: on a node that happens while the consumer seals and connects.
    if (ahead) {
      for (const r of batch) headStarts.announce(JSON.parse(JSON.stringify(r.ticket)), Date.now() / 1000);
    }
    const deps = {
      nodeSecretKey: nodeSk,
      nodePubkey: node,
      platformKeys,
      usedTickets: new UsedTickets(),
      servedModels: () => ["m"],
      modelSecret: () => Promise.resolve(null),
      secp,
      cipher,
      headStarts: ahead ? headStarts : undefined,
    };
    const cpu0 = cpuSeconds();
    for (const r of batch) {
      let f = 0;
      const admission = await admitDirect(r.header, () => Promise.resolve(r.frames[f++] ?? null), deps);
      if (!admission.ok) throw new Error(`admission refused: ${admission.refusal.message}`);
    }
    return (cpuSeconds() - cpu0) * 1e6 / N;
  };
  await admitAll(false); // warm the JIT and the prompt counter, untimed
  await admitAll(true);
  const asItComes: number[] = [];
  const announced: number[] = [];
  for (let round = 0; round < 4; round++) {
    asItComes.push(await admitAll(false));
    announced.push(await admitAll(true));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  console.log(
    `direct: admission, ticket as it comes        ${
      median(asItComes).toFixed(1).padStart(7)
    } µs CPU each (median of 4 rounds of ${N})`,
  );
  console.log(
    `direct: admission, ticket announced ahead    ${median(announced).toFixed(1).padStart(7)} µs CPU each ` +
      `(${(median(asItComes) - median(announced)).toFixed(1)} µs off the path)`,
  );
}
