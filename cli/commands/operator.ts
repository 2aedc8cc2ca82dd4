// `infernet operator claim|countersign|revoke|status`: one operator key for many boxes
// (docs/protocol.md §10). On each box, `claim` signs the node's claim for the operator and sends it
// (or prints it); the operator countersigns on the dashboard (NIP-07) or here with `--key`, from a
// machine holding the operator's nsec. Either side can revoke.
import {
  createCountersign,
  createOperatorClaim,
  createRevocation,
  type NostrEvent,
  OPERATOR_COUNTERSIGN_KIND,
  parseOperatorKey,
  verifyOperatorClaim,
} from "../../shared/mod.ts";
import { CliError } from "../cli_error.ts";
import { loadIdentity, loadKeyFile, type NodeIdentity } from "../identity/node_key.ts";
import { readNodeAnswer, signedGet, signedRequest } from "../daemon/signed_request.ts";
import { type CommandContext, loadNodeConfig, resolveServer } from "./context.ts";
import { parseFlags } from "./flags.ts";

const USAGE =
  "usage: infernet operator claim --operator NPUB [--print] | countersign --key FILE [--claim JSON] " +
  "| revoke [--key FILE --node PUBKEY] | status";

interface ClaimView {
  claim_id: string;
  node_pubkey: string;
  operator_pubkey: string;
  status: string;
  countersign_id: string | null;
  claim: NostrEvent;
}

function claimsOf(answer: Record<string, unknown>, key: "claims" | "claim"): ClaimView[] {
  const raw = key === "claims" ? answer.claims : [answer.claim].filter(Boolean);
  if (!Array.isArray(raw)) throw new CliError("server_refused", "the server's answer lists no claims");
  return raw as ClaimView[];
}

async function context(ctx: CommandContext, serverFlag: string | undefined, keyFile?: string) {
  const { home, config } = await loadNodeConfig(ctx);
  const server = resolveServer(serverFlag, config, ctx.env);
  const key: NodeIdentity = keyFile ? await loadKeyFile(keyFile) : await loadIdentity(home);
  return { server, key };
}

/** Runs `infernet operator …`. */
export async function runOperator(ctx: CommandContext): Promise<void> {
  const [sub, ...rest] = ctx.args;
  const common = { server: { type: "string" }, json: { type: "boolean" } } as const;

  if (sub === "claim") {
    const f = parseFlags("operator claim", rest, {
      ...common,
      operator: { type: "string" },
      print: { type: "boolean" },
    });
    const operator = f.operator ? parseOperatorKey(f.operator) : null;
    if (!operator) {
      throw new CliError("usage", "operator claim needs --operator with the operator's npub or hex key");
    }
    const { home } = await loadNodeConfig(ctx);
    const node = await loadIdentity(home);
    const claim = createOperatorClaim(node.secretKey, operator);
    if (f.print) return ctx.print(JSON.stringify(claim));
    const { server } = await context(ctx, f.server);
    const answer = await readNodeAnswer(
      await signedRequest(server, "POST", "/api/operator/claims", node.secretKey, { claim }),
      "claim refused",
    );
    if (f.json) return ctx.print(JSON.stringify(answer));
    ctx.print(`claim ${claim.id} sent for operator ${operator}`);
    ctx.print(
      "the operator countersigns it on the dashboard, or with: infernet operator countersign --key <file>",
    );
    return;
  }

  if (sub === "countersign") {
    const f = parseFlags("operator countersign", rest, {
      ...common,
      key: { type: "string" },
      claim: { type: "string" },
    });
    if (!f.key) {
      throw new CliError("usage", "operator countersign needs --key with the operator's nsec key file");
    }
    const { server, key } = await context(ctx, f.server, f.key);
    if (f.claim !== undefined) {
      // A claim printed by `operator claim --print`: checked here, then sent with its countersignature.
      let raw: unknown;
      try {
        raw = JSON.parse(f.claim === "-" ? await new Response(Deno.stdin.readable).text() : f.claim);
      } catch {
        throw new CliError(
          "usage",
          "--claim must be the claim's JSON (as printed by 'operator claim --print')",
        );
      }
      const checked = verifyOperatorClaim(raw);
      if (!checked.ok) throw new CliError("usage", `--claim refused: ${checked.reason}`);
      if (checked.value.operatorPubkey !== key.pubkey) {
        throw new CliError(
          "usage",
          `this claim names operator ${checked.value.operatorPubkey}, not the key in ${f.key}`,
        );
      }
      const claim = raw as NostrEvent;
      const answer = await readNodeAnswer(
        await signedRequest(server, "POST", "/api/operator/claims", key.secretKey, {
          claim,
          countersign: createCountersign(key.secretKey, claim),
        }),
        "countersignature refused",
      );
      if (f.json) return ctx.print(JSON.stringify(answer));
      return ctx.print(`node ${checked.value.nodePubkey} is now claimed by ${key.npub}`);
    }
    const listed = await readNodeAnswer(
      await signedGet(server, "/api/operator/claims", key.secretKey),
      "cannot list claims",
    );
    const pending = claimsOf(listed, "claims").filter((c) => c.status === "pending");
    const done: string[] = [];
    for (const c of pending) {
      await readNodeAnswer(
        await signedRequest(server, "POST", "/api/operator/countersign", key.secretKey, {
          countersign: createCountersign(key.secretKey, c.claim),
        }),
        `countersignature for node ${c.node_pubkey} refused`,
      );
      done.push(c.node_pubkey);
    }
    if (f.json) return ctx.print(JSON.stringify({ countersigned: done }));
    if (done.length === 0) return ctx.print("no claim is waiting for your countersignature");
    for (const n of done) ctx.print(`node ${n} is now claimed by ${key.npub}`);
    return;
  }

  if (sub === "revoke") {
    const f = parseFlags("operator revoke", rest, {
      ...common,
      key: { type: "string" },
      node: { type: "string" },
    });
    if ((f.key === undefined) !== (f.node === undefined)) {
      throw new CliError(
        "usage",
        "operator revoke: give both --key and --node (as the operator), or neither (as the node)",
      );
    }
    const { server, key } = await context(ctx, f.server, f.key);
    let revocation;
    if (f.key) {
      // The operator deletes its countersignature of the node's active claim.
      const listed = await readNodeAnswer(
        await signedGet(server, "/api/operator/claims", key.secretKey),
        "cannot list claims",
      );
      const active = claimsOf(listed, "claims").find((c) =>
        c.node_pubkey === f.node && c.status === "active"
      );
      if (!active?.countersign_id) {
        throw new CliError("server_refused", `node ${f.node} is not claimed by ${key.npub}`);
      }
      revocation = createRevocation(key.secretKey, {
        id: active.countersign_id,
        kind: OPERATOR_COUNTERSIGN_KIND,
        pubkey: key.pubkey,
      });
    } else {
      // The node deletes its own claim.
      const current = claimsOf(
        await readNodeAnswer(
          await signedGet(server, "/api/operator/node", key.secretKey),
          "cannot read the claim",
        ),
        "claim",
      )[0];
      if (!current) throw new CliError("server_refused", "this node has no operator to revoke");
      revocation = createRevocation(key.secretKey, current.claim);
    }
    const answer = await readNodeAnswer(
      await signedRequest(server, "POST", "/api/operator/revoke", key.secretKey, { revocation }),
      "revocation refused",
    );
    if (f.json) return ctx.print(JSON.stringify(answer));
    for (const c of claimsOf(answer, "claims")) {
      ctx.print(`node ${c.node_pubkey}: claim by ${c.operator_pubkey} ${c.status}`);
    }
    return;
  }

  if (sub === "status") {
    const f = parseFlags("operator status", rest, common);
    const { server, key } = await context(ctx, f.server);
    const answer = await readNodeAnswer(
      await signedGet(server, "/api/operator/node", key.secretKey),
      "cannot read the claim",
    );
    if (f.json) return ctx.print(JSON.stringify(answer));
    const c = claimsOf(answer, "claim")[0];
    ctx.print(
      c
        ? `operator ${c.operator_pubkey} (${
          c.status === "active" ? "active" : "waiting for the countersignature"
        })`
        : "no operator: this node is paid on its own",
    );
    return;
  }
  throw new CliError("usage", USAGE);
}
