// `infernet status`: the node's identity, its engine, and what the control plane knows of it.
import { loadIdentity } from "../identity/node_key.ts";
import { detectEngine } from "../engines/detect.ts";
import { type CommandContext, loadNodeConfig } from "./context.ts";
import { parseFlags } from "./flags.ts";
import { detectAdvertisedAddress } from "../network/advertised_address.ts";

/** Runs `infernet status`. */
export async function runStatus(ctx: CommandContext): Promise<void> {
  const f = parseFlags("status", ctx.args, {
    server: { type: "string" },
    json: { type: "boolean" },
  });
  const { home, config } = await loadNodeConfig(ctx);
  const identity = await loadIdentity(home);
  // Several instances: the first that answers (the daemon re-homes when one dies, and so does this).
  const candidates = f.server ? [f.server] : config.servers ?? (config.server ? [config.server] : []);
  if (candidates.length === 0 && ctx.env.INFERNET_SERVER) candidates.push(ctx.env.INFERNET_SERVER);
  const engine = await detectEngine({ engineUrl: config.engineUrl ?? undefined });
  let server: string | null = candidates[0] ?? null;
  let network: Record<string, unknown> | { error: string } | null = null;
  let unreachable = "";
  for (const candidate of candidates) {
    try {
      const res = await fetch(`${candidate}/api/nodes/${identity.pubkey}`, {
        signal: AbortSignal.timeout(5000),
      });
      const body = await res.json();
      server = candidate;
      network = res.ok ? body : { error: body?.error?.message ?? `HTTP ${res.status}` };
      break;
    } catch (err) {
      unreachable = (err as Error).message;
    }
  }
  if (network === null && server !== null) {
    network = { error: `cannot reach ${candidates.join(" nor ")}: ${unreachable}` };
  }
  // Shown, not advertised: in gateway mode the advert's endpoint stays null.
  const address = detectAdvertisedAddress(ctx.env);
  const status = {
    npub: identity.npub,
    pubkey: identity.pubkey,
    home,
    server,
    engine: engine
      ? { kind: engine.kind, url: engine.baseUrl, models: engine.models.map((m) => m.id) }
      : null,
    network,
    advertised_address: address
      ? { address: address.address, interface: address.interfaceName, scope: address.scope }
      : null,
  };
  if (f.json) {
    ctx.print(JSON.stringify(status));
    return;
  }
  ctx.print(`node:    ${identity.npub}`);
  ctx.print(`home:    ${home}`);
  ctx.print(
    `address: ${
      address
        ? `${address.address} (${address.interfaceName ?? "INFERNET_PUBLIC_ADDRESS"}, ${address.scope})`
        : "none found"
    }; not advertised: jobs come over the outbound socket`,
  );
  ctx.print(
    `engine:  ${
      engine ? `${engine.kind} at ${engine.baseUrl} (${engine.models.length} models)` : "none found"
    }`,
  );
  if (!server) ctx.print("server:  not configured (infernet register --server URL)");
  else if (network && "error" in network) ctx.print(`server:  ${server} — ${network.error}`);
  else if (network) {
    ctx.print(
      `server:  ${server} — ${network.live ? "LIVE" : "registered, not live"}; last heartbeat ${
        network.last_heartbeat_at ?? "never"
      }`,
    );
    ctx.print(
      `jobs:    ${network.jobs_succeeded} succeeded, ${network.jobs_failed} failed, ${network.in_flight} running`,
    );
  }
}
