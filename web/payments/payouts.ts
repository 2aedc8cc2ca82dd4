// Operator payouts: an operator's earnings, rounded down to whole cents, sent to their payout
// address through the payment processor. The ledger moves first (earnings → in flight, in the
// same transaction as the payout row); then the processor is called with the idempotency key
// `payout:<id>`, so a retried call (the open-payout sweep) can never pay twice. A refusal
// reverses the movement; an outage leaves the payout open for the sweep. A payout the processor
// accepted but has not finished (`sent`) is polled by the sweep, less often each time, until it
// is paid (its tx hash recorded) or failed (its amount back in the operator's earnings, once).
import {
  accountBalance,
  createOperatorPayout,
  createPayout,
  failPayout,
  listOperatorPayoutAddresses,
  listPayoutAddresses,
  markPayoutCompleted,
  markPayoutSent,
  openPayouts,
  operatorEarnings,
  operatorEarningsSummary,
  operatorsDueAutomaticOperatorPayout,
  operatorsDueAutomaticPayout,
  PayoutError,
  type PayoutRow,
  payoutsDueCheck,
  recordPayoutCheck,
  type Sql,
} from "../../db/mod.ts";
import { type Coin, formatUsd, isCoin, type Logger } from "../../shared/mod.ts";
import { type PaymentProcessor, ProcessorError } from "./processor.ts";
import type { RateProvider } from "./rates.ts";

/** Nano-USD in one US cent. */
export const NANO_USD_PER_CENT = 10_000_000n;

/** The first status check of a sent payout comes this long after it was sent; each next one twice as late. */
export const FIRST_CHECK_DELAY_MS = 30_000;
/** Status checks of a payout that stays in progress come at least this often (an hour). */
export const MAX_CHECK_DELAY_MS = 3_600_000;

/** When to ask again about a payout after `checks` status checks that found it still in progress. */
export function nextCheckAt(checks: number, now = new Date()): Date {
  const delay = Math.min(FIRST_CHECK_DELAY_MS * 2 ** Math.min(checks, 20), MAX_CHECK_DELAY_MS);
  return new Date(now.getTime() + delay);
}

/** What payouts need from the control plane. */
export interface PayoutDeps {
  sql: Sql;
  processor: PaymentProcessor;
  rates: RateProvider;
  /** The smallest payout, in cents. */
  minPayoutCents: number;
  /** Earnings (cents) at which an automatic payout is sent; 0 turns them off. */
  autoPayoutCents: number;
  log: Logger;
}

/** Stable codes of refused payout requests. */
export type PayoutRequestErrorCode = "no_payout_address" | "below_minimum" | "insufficient_funds" | "claimed";

/** A payout request that was refused before any money moved; the message is for the operator. */
export class PayoutRequestError extends Error {
  override name = "PayoutRequestError";
  readonly code: PayoutRequestErrorCode;
  constructor(code: PayoutRequestErrorCode, message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.code = code;
  }
}

/** Decimals quoted for each coin's crypto amount (display precision, not the chain's). */
const CRYPTO_DECIMALS: Record<Coin, number> = {
  BTC: 8,
  ETH: 8,
  SOL: 9,
  POL: 6,
  BNB: 8,
  XRP: 6,
  ADA: 6,
  DOGE: 8,
  USDC_ETH: 6,
  USDC_SOL: 6,
  USDC_POL: 6,
  USDC_BASE: 6,
  USDT_ETH: 6,
  USDT_SOL: 6,
  USDT_POL: 6,
};

/**
 * `amount` nano-USD in `coin` at `usdPerUnit` (a decimal string), rounded down to the coin's
 * quoted decimals, as a decimal string; null when the rate is not a positive decimal.
 * @example cryptoAmountFor(1_000_000_000n, "BTC", "50000") === "0.00002"
 */
export function cryptoAmountFor(amount: bigint, coin: Coin, usdPerUnit: string): string | null {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(usdPerUnit);
  if (!m) return null;
  const frac = m[2] ?? "";
  const rate = BigInt(m[1] + frac); // USD per unit × 10^frac.length
  if (rate === 0n) return null;
  const decimals = CRYPTO_DECIMALS[coin];
  // units = amount / 1e9 / (rate / 10^f), in 10^-decimals steps, rounded down.
  const scaled = (amount * 10n ** BigInt(frac.length + decimals)) / (1_000_000_000n * rate);
  const digits = scaled.toString().padStart(decimals + 1, "0");
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, "");
  return fraction ? `${whole}.${fraction}` : whole;
}

async function quote(deps: PayoutDeps, coin: Coin, amount: bigint) {
  try {
    const usdPerUnit = await deps.rates.usdPerUnit(coin);
    const cryptoAmount = cryptoAmountFor(amount, coin, usdPerUnit);
    if (cryptoAmount !== null) return { usdPerUnit, cryptoAmount };
    deps.log.warn("unusable exchange rate; payout recorded without one", { coin, usdPerUnit });
  } catch (err) {
    // The processor converts the USD amount itself; the rate on the row is for the operator.
    deps.log.warn("no exchange rate; payout recorded without one", { coin, err });
  }
  return { usdPerUnit: null, cryptoAmount: null };
}

/**
 * Pays out an operator's earnings (rounded down to whole cents; the rest stays) to their address
 * for `coin`, or their first address. Throws PayoutRequestError when nothing can be paid; returns
 * the payout as it stands after the processor answered (`completed`, `sent`, `failed`, or
 * `requested` when the processor was unreachable and the sweep will retry).
 */
export async function requestPayout(
  deps: PayoutDeps,
  req: { nodePubkey: string; coin?: Coin; automatic: boolean },
): Promise<PayoutRow> {
  const addresses = await listPayoutAddresses(deps.sql, req.nodePubkey);
  const target = req.coin ? addresses.find((a) => a.coin === req.coin) : addresses[0];
  if (!target || !isCoin(target.coin)) {
    const coin = req.coin ?? "<COIN>";
    throw new PayoutRequestError(
      "no_payout_address",
      `no ${
        req.coin ? `${req.coin} ` : ""
      }payout address is set; run \`infernet payout set --coin ${coin} --address <address>\` first`,
    );
  }
  const coin = target.coin;
  const balance = await accountBalance(deps.sql, operatorEarnings(req.nodePubkey));
  const amount = (balance / NANO_USD_PER_CENT) * NANO_USD_PER_CENT;
  const minAmount = BigInt(Math.max(1, deps.minPayoutCents)) * NANO_USD_PER_CENT;
  if (amount < minAmount) {
    throw new PayoutRequestError(
      "below_minimum",
      `earnings of $${formatUsd(balance)} are below the minimum payout of $${formatUsd(minAmount)}`,
    );
  }
  const { usdPerUnit, cryptoAmount } = await quote(deps, coin, amount);
  let payout: PayoutRow;
  try {
    payout = await createPayout(deps.sql, {
      nodePubkey: req.nodePubkey,
      coin,
      address: target.address,
      amount,
      minAmount,
      usdPerUnit,
      cryptoAmount,
      automatic: req.automatic,
    });
  } catch (err) {
    if (err instanceof PayoutError && err.code === "claimed") {
      throw new PayoutRequestError(
        "claimed",
        `${err.message}: the operator requests payouts from their own dashboard`,
        { cause: err },
      );
    }
    // Another payout took the balance between our read and the transaction.
    if (err instanceof PayoutError && (err.code === "insufficient_funds" || err.code === "below_minimum")) {
      throw new PayoutRequestError(
        "insufficient_funds",
        "earnings changed while the payout was being created (another payout is under way); try again",
        { cause: err },
      );
    }
    throw err;
  }
  deps.log.info("payout created", {
    payoutId: payout.id.toString(),
    node: req.nodePubkey,
    coin,
    usd: formatUsd(amount),
    automatic: req.automatic,
  });
  return await sendPayout(deps, payout);
}

/**
 * Pays out an operator's earnings: the sum over the nodes they have claimed (rounded down to whole
 * cents), to their operator address for `coin` or their first one. A `requestKey` seen before
 * returns that payout and pays nothing more. Errors and answers as {@link requestPayout}.
 */
export async function requestOperatorPayout(
  deps: PayoutDeps,
  req: { operatorPubkey: string; coin?: Coin; automatic: boolean; requestKey: string | null },
): Promise<PayoutRow> {
  const addresses = await listOperatorPayoutAddresses(deps.sql, req.operatorPubkey);
  const target = req.coin ? addresses.find((a) => a.coin === req.coin) : addresses[0];
  if (!target || !isCoin(target.coin)) {
    throw new PayoutRequestError(
      "no_payout_address",
      `no ${
        req.coin ? `${req.coin} ` : ""
      }operator payout address is set; set one on the operator page first`,
    );
  }
  const coin = target.coin;
  const { pending } = await operatorEarningsSummary(deps.sql, req.operatorPubkey, { days: 1 });
  const amount = (pending / NANO_USD_PER_CENT) * NANO_USD_PER_CENT;
  const minAmount = BigInt(Math.max(1, deps.minPayoutCents)) * NANO_USD_PER_CENT;
  const { usdPerUnit, cryptoAmount } = await quote(deps, coin, amount);
  let created: { payout: PayoutRow; created: boolean };
  try {
    created = await createOperatorPayout(deps.sql, {
      operatorPubkey: req.operatorPubkey,
      coin,
      address: target.address,
      amount,
      minAmount,
      usdPerUnit,
      cryptoAmount,
      automatic: req.automatic,
      requestKey: req.requestKey,
    });
  } catch (err) {
    if (err instanceof PayoutError && err.code === "below_minimum") {
      throw new PayoutRequestError(
        "below_minimum",
        `earnings of $${formatUsd(pending)} are below the minimum payout of $${formatUsd(minAmount)}`,
        { cause: err },
      );
    }
    if (err instanceof PayoutError && err.code === "insufficient_funds") {
      throw new PayoutRequestError(
        "insufficient_funds",
        "earnings changed while the payout was being created (another payout is under way); try again",
        { cause: err },
      );
    }
    throw err;
  }
  if (!created.created) return created.payout;
  deps.log.info("operator payout created", {
    payoutId: created.payout.id.toString(),
    operator: req.operatorPubkey,
    coin,
    usd: formatUsd(amount),
    automatic: req.automatic,
  });
  return await sendPayout(deps, created.payout);
}

/** Asks the processor to pay an open payout (same idempotency key every time) and records the answer. */
export async function sendPayout(deps: PayoutDeps, payout: PayoutRow): Promise<PayoutRow> {
  const id = payout.id;
  if (!isCoin(payout.coin)) return await failPayout(deps.sql, id, `unsupported coin ${payout.coin}`);
  try {
    const sent = await deps.processor.createPayout({
      recipientWallet: payout.address,
      coin: payout.coin,
      amountCents: Number(payout.amount / NANO_USD_PER_CENT),
      idempotencyKey: `payout:${id}`,
    });
    if (sent.status === "completed") {
      return await markPayoutCompleted(deps.sql, id, { processorPayoutId: sent.id, txHash: sent.txHash });
    }
    if (sent.status === "failed") {
      deps.log.warn("payout failed at the processor; reversed", { payoutId: id.toString() });
      return await failPayout(deps.sql, id, failureReason(sent.error));
    }
    return await markPayoutSent(deps.sql, id, { processorPayoutId: sent.id, nextCheckAt: nextCheckAt(0) });
  } catch (err) {
    if (err instanceof ProcessorError && !err.retryable) {
      deps.log.warn("payout refused by the processor; reversed", { payoutId: id.toString(), err });
      return await failPayout(deps.sql, id, err.message);
    }
    // Unreachable, 5xx, rate limited, or unknown: leave it open; the sweep retries with the same
    // idempotency key, so the processor pays it at most once.
    deps.log.warn("payout not sent yet; will retry", { payoutId: id.toString(), err });
    return payout;
  }
}

function failureReason(processorSays: string | null): string {
  return processorSays
    ? `the payment processor reported the payout as failed: ${processorSays}`
    : "the payment processor reported the payout as failed";
}

/**
 * Asks the processor where a sent payout is and records it: paid (with its tx hash), failed
 * (its amount back in the operator's earnings, once however many sweeps see it), or still in
 * progress (asked again later, less often). A read that fails changes nothing but the next check:
 * the money may have left, so it is never returned on a guess.
 */
export async function checkPayout(deps: PayoutDeps, payout: PayoutRow): Promise<PayoutRow> {
  const id = payout.id;
  if (payout.processorPayoutId === null) return await sendPayout(deps, payout);
  const later = () => recordPayoutCheck(deps.sql, id, nextCheckAt(payout.statusChecks + 1));
  let now;
  try {
    now = await deps.processor.getPayout(payout.processorPayoutId);
  } catch (err) {
    deps.log.warn("payout status not read; will ask again", { payoutId: id.toString(), err });
    return await later();
  }
  if (now.status === "completed") {
    deps.log.info("payout completed", { payoutId: id.toString(), txHash: now.txHash });
    return await markPayoutCompleted(deps.sql, id, { txHash: now.txHash });
  }
  if (now.status === "failed") {
    deps.log.warn("payout failed at the processor; returned to the operator's earnings", {
      payoutId: id.toString(),
      reason: now.error,
    });
    return await failPayout(deps.sql, id, failureReason(now.error));
  }
  return await later();
}

/**
 * The payout sweep: sends again every `requested` payout older than `olderThanMs` (default 30 s,
 * so a payout still being sent by its request is left alone) with its original idempotency key,
 * and checks every `sent` payout whose next status check is due.
 */
export async function resumeOpenPayouts(
  deps: PayoutDeps,
  opts: { olderThanMs?: number } = {},
): Promise<PayoutRow[]> {
  const unsent = await openPayouts(deps.sql, {
    status: "requested",
    createdBefore: new Date(Date.now() - (opts.olderThanMs ?? 30_000)),
  });
  const out: PayoutRow[] = [];
  for (const p of unsent) {
    try {
      out.push(await sendPayout(deps, p));
    } catch (err) {
      deps.log.error("open payout not resumed", { payoutId: p.id.toString(), err });
    }
  }
  for (const p of await payoutsDueCheck(deps.sql)) {
    try {
      out.push(await checkPayout(deps, p));
    } catch (err) {
      deps.log.error("payout status not recorded", { payoutId: p.id.toString(), err });
    }
  }
  return out;
}

/**
 * Sends an automatic payout to every node whose earnings reached `autoPayoutCents` (and the
 * minimum), that has a payout address, no payout open and no operator; then to every operator
 * whose claimed nodes' earnings summed reach it, likewise. Does nothing when turned off (0).
 */
export async function runAutomaticPayouts(deps: PayoutDeps): Promise<PayoutRow[]> {
  if (deps.autoPayoutCents <= 0) return [];
  const threshold = BigInt(Math.max(deps.autoPayoutCents, deps.minPayoutCents)) * NANO_USD_PER_CENT;
  const out: PayoutRow[] = [];
  for (const nodePubkey of await operatorsDueAutomaticPayout(deps.sql, threshold)) {
    try {
      out.push(await requestPayout(deps, { nodePubkey, automatic: true }));
    } catch (err) {
      // One operator's problem must not hold up the others' payouts.
      if (err instanceof PayoutRequestError) {
        deps.log.info("automatic payout skipped", { node: nodePubkey, reason: err.message });
      } else deps.log.error("automatic payout failed", { node: nodePubkey, err });
    }
  }
  for (const operatorPubkey of await operatorsDueAutomaticOperatorPayout(deps.sql, threshold)) {
    try {
      out.push(await requestOperatorPayout(deps, { operatorPubkey, automatic: true, requestKey: null }));
    } catch (err) {
      if (err instanceof PayoutRequestError) {
        deps.log.info("automatic payout skipped", { operator: operatorPubkey, reason: err.message });
      } else deps.log.error("automatic payout failed", { operator: operatorPubkey, err });
    }
  }
  return out;
}
