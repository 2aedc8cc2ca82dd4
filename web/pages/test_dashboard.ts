// A served control plane for the dashboard's tests, paying through the fake CoinPayPortal.
import { openPaymentsTestControlPlane, type PaymentsTestEnv } from "../test_control_plane.ts";

const CP_API_KEY = "cp_test_dashboard";
const BUSINESS_ID = "biz_dashboard";
const WEBHOOK_SECRET = "whsec_dashboard";

/** The fake processor, the served control plane, its URL, and one close for both. */
export type DashboardEnv = PaymentsTestEnv;

/** Starts the fake processor and a served control plane wired to it (webhooks included). */
export function startDashboard(): Promise<DashboardEnv> {
  return openPaymentsTestControlPlane({
    apiKey: CP_API_KEY,
    businessId: BUSINESS_ID,
    webhookSecret: WEBHOOK_SECRET,
  });
}
