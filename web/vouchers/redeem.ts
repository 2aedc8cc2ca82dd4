// Redeeming a spending voucher (docs/protocol.md, "Vouchers"): the node that served the job
// sends, NIP-98 signed, the voucher, its own signed receipt for the job and the prices it charged;
// the control plane checks all three and settles the job as any other (charge capped at the
// voucher's max, fee split, the rest back to the buyer). A refusal changes nothing.
import {
  isRecord,
  jobCost,
  type NostrEvent,
  nowSeconds,
  tagValue,
  type VerifiedNodeReceipt,
  type VerifiedVoucher,
  verifyNodeReceipt,
  verifyVoucher,
} from "../../shared/mod.ts";
import { type RedeemResult, redeemVoucher } from "../../db/mod.ts";
import type { AppContext } from "../app_env.ts";
import type { ControlPlane } from "../control_plane.ts";
import { verifiedJson } from "../api/nodes/nip98_auth.ts";
import { formatUsd } from "../../shared/mod.ts";
import { HttpError } from "../http_error.ts";

/** The tag a node's receipt may carry to name the voucher that paid for its job. */
export const RECEIPT_VOUCHER_TAG = "voucher";

/** A redemption request as checked: the voucher, the receipt, and the prices (nano-USD per 1k). */
export interface CheckedRedemption {
  voucher: VerifiedVoucher;
  receipt: VerifiedNodeReceipt;
  promptPer1k: bigint;
  completionPer1k: bigint;
}

function receiptInvalid(message: string): HttpError {
  return new HttpError(400, message, { code: "receipt_invalid" });
}

/**
 * Whether a receipt is for this voucher's job: it names the voucher (a `voucher` tag, or the
 * voucher id as its job id), and when it names a consumer (`p` tag), the voucher's.
 */
export function receiptMatchesVoucher(
  receipt: NostrEvent,
  taskId: string,
  voucher: VerifiedVoucher,
): string | null {
  const id = voucher.content.voucher_id;
  const named = tagValue(receipt, RECEIPT_VOUCHER_TAG);
  if (named !== undefined ? named !== id : taskId !== id) {
    return "the receipt is for another voucher's job (its voucher tag or job id must be the voucher id)";
  }
  const consumer = tagValue(receipt, "p");
  if (consumer !== undefined && consumer !== voucher.content.consumer) {
    return "the receipt is for another consumer than the voucher's";
  }
  return null;
}

/** Checks a redemption body from `nodePubkey` against the platform key, the clock and the registry. */
export function checkRedemption(
  cp: ControlPlane,
  nodePubkey: string,
  raw: unknown,
  nowS: number,
): CheckedRedemption {
  if (!isRecord(raw)) throw new HttpError(400, "the body must be a JSON object", { code: "invalid_request" });
  const v = verifyVoucher(raw.voucher, { platformPubkey: cp.platformKey.pubkey, nowS });
  if (!v.ok) throw new HttpError(v.code === "voucher_expired" ? 410 : 400, v.message, { code: v.code });
  const r = verifyNodeReceipt(raw.receipt);
  if (!r.ok) throw receiptInvalid(`the receipt is not a valid node receipt: ${r.reason}`);
  if (r.value.event.pubkey !== nodePubkey) {
    throw receiptInvalid("the receipt is not signed by the calling node");
  }
  const mismatch = receiptMatchesVoucher(r.value.event, r.value.content.task_id, v.voucher);
  if (mismatch) throw receiptInvalid(mismatch);
  const price = isRecord(raw.price) ? raw.price : {};
  const ok = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
  if (!ok(price.prompt_per_1k) || !ok(price.completion_per_1k)) {
    throw new HttpError(
      400,
      "price must be {prompt_per_1k, completion_per_1k}: non-negative integers (nano-USD)",
      {
        code: "price_invalid",
        param: "price",
      },
    );
  }
  const node = cp.registry.get(nodePubkey);
  if (!node) throw new HttpError(403, "this node is not registered here", { code: "node_not_registered" });
  const model = node.record.models.find((m) => m.id === r.value.content.model);
  if (!model) {
    throw new HttpError(400, `the node's registered record does not list model '${r.value.content.model}'`, {
      code: "price_invalid",
    });
  }
  const pp = price.prompt_per_1k as number;
  const cpk = price.completion_per_1k as number;
  if (pp > model.promptPricePer1k || cpk > model.completionPricePer1k) {
    throw new HttpError(
      400,
      `price is above the node's registered prices for '${model.id}' (${model.promptPricePer1k} prompt, ` +
        `${model.completionPricePer1k} completion, nano-USD per 1k tokens)`,
      { code: "price_invalid", param: "price" },
    );
  }
  return { voucher: v.voucher, receipt: r.value, promptPer1k: BigInt(pp), completionPer1k: BigInt(cpk) };
}

/** Settles a checked redemption; refusals from the ledger become the matching HTTP errors. */
export async function settleRedemption(
  cp: ControlPlane,
  nodePubkey: string,
  checked: CheckedRedemption,
  nowS: number = nowSeconds(),
): Promise<Extract<RedeemResult, { ok: true }>> {
  const c = checked.receipt.content;
  const usage = c.usage ?? { prompt_tokens: 0, completion_tokens: 0 };
  const result = await redeemVoucher(cp.db.sql, {
    voucherId: checked.voucher.content.voucher_id,
    nodePubkey,
    jobId: c.task_id,
    receiptId: checked.receipt.event.id,
    kind: c.category === "inference:embeddings" ? "embeddings" : "chat",
    model: c.model,
    promptTokens: usage.prompt_tokens,
    completionTokens: usage.completion_tokens,
    promptPer1k: checked.promptPer1k,
    completionPer1k: checked.completionPer1k,
    feeBps: cp.config.feeBps,
    cost: jobCost({
      promptTokens: usage.prompt_tokens,
      completionTokens: usage.completion_tokens,
      promptPer1k: checked.promptPer1k,
      completionPer1k: checked.completionPer1k,
    }),
    durationMs: c.duration_ms,
    nowS,
  });
  if (result.ok) return result;
  switch (result.code) {
    case "voucher_redeemed":
      throw new HttpError(409, "this voucher was already redeemed", { code: "voucher_redeemed" });
    case "voucher_expired":
      throw new HttpError(410, "the voucher has expired", { code: "voucher_expired" });
    default:
      // Signed by this platform's key, yet not in its ledger: never issued here.
      throw new HttpError(400, "this control plane never issued that voucher", { code: "voucher_forged" });
  }
}

/** `POST /api/vouchers/redeem` (behind nip98Auth): the node's redemption, answered with the charge. */
export function redeemVoucherRoute(cp: ControlPlane) {
  return async (c: AppContext): Promise<Response> => {
    const node = c.get("nodePubkey") as string;
    const nowS = nowSeconds();
    const checked = checkRedemption(cp, node, verifiedJson(c), nowS);
    const { voucher, charge } = await settleRedemption(cp, node, checked, nowS);
    cp.log.info("voucher redeemed", { voucher: voucher.id, node, charged: charge.charged.toString() });
    return c.json({
      object: "voucher_redemption",
      voucher_id: voucher.id,
      job_id: voucher.jobId,
      charged_usd: formatUsd(charge.charged),
      charged_nano: charge.charged.toString(),
      operator_share_nano: charge.operatorShare.toString(),
      platform_fee_nano: charge.platformFee.toString(),
      released_nano: (voucher.maxNano - charge.charged).toString(),
    });
  };
}
