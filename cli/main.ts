// The `infernet` command (and `inferneta`): the operator's CLI and node daemon.
import { createLogger, isLogLevel } from "../shared/mod.ts";
import { CliError } from "./cli_error.ts";
import { CliHelp, wantsHelp } from "./commands/flags.ts";
import type { CommandContext } from "./commands/context.ts";
import { runInit } from "./commands/init.ts";
import { runRegister } from "./commands/register.ts";
import { runStatus } from "./commands/status.ts";
import { runEngine } from "./commands/engine.ts";
import { runModel } from "./commands/model.ts";
import { runPayout } from "./commands/payout.ts";
import { runEarnings } from "./commands/earnings.ts";
import { runPayments } from "./commands/payments.ts";
import { runPrice } from "./commands/price.ts";
import { runGpu } from "./commands/gpu.ts";
import { runStartWithFiles } from "./commands/start_files.ts";
import { runLogs, runRestart, runStop } from "./commands/lifecycle.ts";
import { runService } from "./commands/service.ts";
import { runDoctor } from "./commands/doctor.ts";
import { runUpgradeCommand } from "./commands/upgrade.ts";
import { runUncensored } from "./commands/uncensored.ts";
import { runLogin } from "./commands/login.ts";
import { runOperator } from "./commands/operator.ts";
import { runReceipts } from "./commands/receipts.ts";
import { runReputation } from "./commands/reputation.ts";
import { runProxy } from "./commands/proxy.ts";
import { runVouchers } from "./commands/vouchers.ts";
import { CLI_VERSION } from "./version.ts";

const USAGE = `infernet ${CLI_VERSION} — earn by serving inference on the Infernet network

usage: infernet <command> [flags]

  init [--force] [--server URL]           create this node's Nostr identity
  register [--server URL] [--engine-url URL]
                                          register the node with a control plane
  start [--server URL] [--engine-url URL] [--max-concurrency N] [--no-auto-upgrade] [--log-file]
        [--direct-port N [--direct-url URL]] [--relay ws(s)://URL ...]
                                          run the node daemon (foreground); it upgrades itself
                                          from npm (drains first) unless told not to; with
                                          --direct-port it also serves direct mode's POST /direct;
                                          with --relay it publishes its offers to Nostr relays
  upgrade [--check] [--prerelease] [--json]
                                          check for / install a newer CLI (INFERNET_UPGRADE_REGISTRY)
  status [--json]                         identity, engine and network status
  engine detect [--json]                  which local engine would be used
  gpu [--json]                            GPUs (model, architecture, VRAM, load, temperature,
                                          power), driver and CUDA, VRAM tier, CPU, RAM, OS
  doctor [--json]                         checks key, engine, server, clock, GPU tools, address,
                                          disk and registration, each with a fix (exit 1 on FAIL)
  stop [--timeout S] | restart [--timeout S]
                                          stop the daemon (SIGTERM: it drains first) / restart it
                                          (through systemd when the service is installed)
  logs [-f] [-n N] [--json]               the daemon's log ($INFERNET_HOME/logs/daemon.log)
  service install [--user|--system] [--bin PATH] | uninstall | status [--json]
                                          run the daemon as a systemd service (start --log-file)
  model pull hf:org/repo[:file] [--quant Q] [--json]
                                          download a GGUF (best quant that fits the VRAM);
                                          with Ollama as the engine, also: model pull <name>
  model list|info <name>|remove <name>|recommend [--json]
                                          downloaded models, and what fits this node
  model key create --model ID --file PATH | grant --model-key HEX --node NPUB | show
                                          model keys for direct mode (IPIP-0028): make one,
                                          grant it to a node, or fetch this node's grants
  uncensored [--dry-run] [--json] [--vram-mb N]
                                          pull the best uncensored model that fits (curated list)
                                          and set the node up to serve it
  price set --prompt USD --completion USD [--model ID] [--json]
                                          what this node asks per 1,000 tokens (e.g. 0.0002),
                                          as the default or for one model; checked against the
                                          tier's published bounds, then re-registered
  price show [--json]                     effective prices per model, the bounds and the fee
  payout set --coin COIN --address ADDRESS [--json]
                                          where this node is paid (BTC, ETH, SOL, USDC_SOL, …)
  payout list [--json]                    this node's payout addresses
  payout request [--coin COIN] [--json]   pay out the pending earnings now (whole cents)
  earnings [--json]                       earned per day, pending, in flight, paid, per coin
  payments list [--json]                  payout history: when, coin, USD, crypto, status, tx
  login [--server URL] [--key FILE] [--yes] [--json]
                                          sign in to the web dashboard: shows a code to enter in
                                          the browser, then asks before approving that browser;
                                          --key signs in with an operator's nsec file instead
  operator claim --operator NPUB [--print] [--json]
                                          let one operator key own this node (and its earnings);
                                          --print only prints the signed claim
  operator countersign --key FILE [--claim JSON|-] [--json]
                                          as the operator: countersign the claims naming you
  operator revoke [--key FILE --node PUBKEY] [--json]
                                          end the claim (as the node, or as the operator)
  operator status [--json]                this node's operator, if any
  receipts verify <file|url> [--platform-key NPUB] [--json]
                                          check job receipts (a saved /api/receipts answer,
                                          JSON lines, or its URL) offline: signatures, keys,
                                          hashes and chains; one line per problem (exit 1)
  reputation <npub|hex> [--server URL] [--json]
                                          a node's published score, recomputed from its signed
                                          receipts and verifications (exit 1 if they disagree)
  reputation <npub|hex> --relay URL [--relay URL] --platform-key KEY [--at UNIX_S] [--json]
                                          the same score from the relays alone
  proxy [--port 8788] [--server URL] [--relay-only] [--target node|model]
                                          a local OpenAI-compatible endpoint (127.0.0.1) for
                                          private requests: sealed end to end to the node
  proxy --relay URL [--relay URL] [--vouchers FILE] [--platform-key KEY] [--port 8788]
                                          the same endpoint served from Nostr relays, paid by
                                          vouchers: no control plane at request time; nodes
                                          ranked by reputation from receipts on the relays
  vouchers take --server URL --key inf_... --count N --max-usd X [--ttl-s S] [--out FILE]
                                          take spending vouchers for a new consumer key, kept
                                          with it in a 0600 file (default $INFERNET_HOME/vouchers.json)
  vouchers list [--file FILE] [--json]    the vouchers kept: max, expiry, usable/spent/expired

node files: $INFERNET_HOME (default ~/.config/infernet): node.key (mode 0600), config.json
models: $INFERNET_HOME/models; HF_ENDPOINT, HF_TOKEN for the Hugging Face Hub
logs: INFERNET_LOG_LEVEL=debug|info|warn|error (default warn)`;

const COMMANDS: Record<string, (ctx: CommandContext) => Promise<void>> = {
  init: runInit,
  register: runRegister,
  start: runStartWithFiles,
  status: runStatus,
  engine: runEngine,
  model: runModel,
  payout: runPayout,
  earnings: runEarnings,
  payments: runPayments,
  price: runPrice,
  gpu: runGpu,
  stop: runStop,
  restart: runRestart,
  logs: runLogs,
  service: runService,
  doctor: runDoctor,
  upgrade: runUpgradeCommand,
  uncensored: runUncensored,
  login: runLogin,
  operator: runOperator,
  receipts: runReceipts,
  reputation: runReputation,
  proxy: runProxy,
  vouchers: runVouchers,
};

/** Runs the CLI; returns the process exit code. */
export async function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const [command, ...args] = argv;
  const print = (line: string) => console.log(line);
  if (!command || command === "help" || command === "--help" || command === "-h") {
    print(USAGE);
    return command ? 0 : 2;
  }
  if (command === "--version" || command === "version") {
    print(CLI_VERSION);
    return 0;
  }
  const run = COMMANDS[command];
  const level = env.INFERNET_LOG_LEVEL ?? "warn";
  const log = createLogger({ level: isLogLevel(level) ? level : "warn", fields: { svc: "node" } });
  try {
    if (!run) throw new CliError("usage", `unknown command '${command}'; run 'infernet help'`);
    await run({ args, env, log, print });
    return 0;
  } catch (err) {
    if (err instanceof CliHelp) {
      print(err.text);
      return 0;
    }
    // A command whose usage is its own message (payout, vouchers): asked for, it is no error.
    if (err instanceof CliError && err.code === "usage" && /^usage: /.test(err.message) && wantsHelp(args)) {
      print(err.message);
      return 0;
    }
    if (err instanceof CliError) {
      console.error(`infernet: ${err.message}`);
      return err.exitCode;
    }
    if (err instanceof Deno.errors.PermissionDenied) {
      console.error(`infernet: permission denied: ${err.message}`);
      return 1;
    }
    // Outside what the launcher grants (it grants a file given on the command line only when the
    // file exists): one line naming the path, not Deno's "run again with --allow-read" and a stack.
    if (err instanceof Deno.errors.NotCapable) {
      const path = /"([^"]+)"/.exec(err.message)?.[1];
      console.error(
        path
          ? `infernet: cannot use ${path}: it does not exist, or it is outside the folders infernet may use`
          : `infernet: not allowed: ${err.message}`,
      );
      return 1;
    }
    log.error("unexpected error", { err });
    console.error(`infernet: unexpected error: ${(err as Error).message ?? err}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args, Deno.env.toObject()));
