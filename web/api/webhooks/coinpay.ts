// `POST /api/webhooks/coinpay`: CoinPayPortal's payment events. Only a correctly signed, fresh
// event for our business changes anything, and each event id is acted on once. A payment we do
// not know yet answers 404 so the processor's retry can credit it once our row exists. A payment
// is credited what the event says was paid (`data.amount_usd`); an under- or overpayment is
// logged with both amounts, and a crediting event that says nothing was paid is held for review.
import type { AppContext } from "../../app_env.ts";
import { applyPaymentEvent, findPayment } from "../../../db/mod.ts";
import { formatUsd, parseDecimal } from "../../../shared/mod.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { HttpError } from "../../http_error.ts";
import { readBodyBytes } from "../../http_body.ts";
import { verifyCoinPayWebhook } from "../../payments/webhook.ts";

/** Webhook bodies are small; anything larger is not CoinPayPortal's (refused before it is read). */
export const MAX_WEBHOOK_BYTES = 64 * 1024;

/** The handler for CoinPayPortal webhooks. */
export function coinPayWebhook(cp: ControlPlane) {
  return async (c: AppContext): Promise<Response> => {
    const raw = await readBodyBytes(c.req.raw, MAX_WEBHOOK_BYTES, () => {
      cp.log.warn("webhook rejected", { reason: "body too large" });
      return new HttpError(413, "webhook body too large", { code: "webhook_invalid" });
    });
    if (!cp.webhookSecret) {
      throw new HttpError(404, "Webhooks are not configured on this server.", { code: "not_found" });
    }
    const checked = verifyCoinPayWebhook(raw, c.req.header("x-coinpay-signature") ?? null, cp.webhookSecret);
    if (!checked.ok) {
      cp.log.warn("webhook rejected", { reason: checked.reason });
      throw new HttpError(401, `webhook rejected: ${checked.reason}`, { code: "webhook_invalid" });
    }
    const ev = checked.event;
    const business = cp.config.coinPayPortal?.businessId;
    if (business && ev.businessId !== business) {
      cp.log.warn("webhook rejected", { reason: "another business", eventId: ev.id });
      throw new HttpError(401, "webhook rejected: not for this business", { code: "webhook_invalid" });
    }
    const outcome = await applyPaymentEvent(cp.db.sql, {
      eventId: ev.id,
      type: ev.type,
      paymentId: ev.paymentId,
      status: ev.status,
      txHash: ev.txHash,
      // Nano-USD, rounded down: never credit more than was paid.
      amountPaid: parseDecimal(ev.amountUsd, 9)!,
    });
    cp.log.info("webhook handled", { eventId: ev.id, type: ev.type, paymentId: ev.paymentId, outcome });
    if (outcome === "credited" || outcome === "held_for_review") {
      const payment = await findPayment(cp.db.sql, ev.paymentId);
      if (payment && payment.paidAmount !== payment.amount) {
        cp.log.warn(
          outcome === "credited"
            ? "deposit paid a different amount; credited what was paid"
            : "deposit held for review: nothing paid",
          {
            eventId: ev.id,
            paymentId: ev.paymentId,
            askedUsd: formatUsd(payment.amount),
            paidUsd: ev.amountUsd,
            creditedUsd: payment.paidAmount === null ? null : formatUsd(payment.paidAmount),
          },
        );
      }
    }
    if (outcome === "unknown_payment") {
      cp.log.warn("webhook for an unknown payment", { eventId: ev.id, paymentId: ev.paymentId });
      throw new HttpError(404, `unknown payment ${ev.paymentId}`, { code: "payment_not_found" });
    }
    return c.json({ received: true, outcome });
  };
}
