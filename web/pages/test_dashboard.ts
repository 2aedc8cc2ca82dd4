// A served control plane for the dashboard's tests, paying through the fake CoinPayPortal.
import { type FakeCoinPayPortal, startFakeCoinPayPortal } from "../../shared/testing/fake_coinpayportal.ts";
import { CoinPayPortal } from "../payments/coinpayportal.ts";
import { openTestControlPlane, type TestControlPlane } from "../test_control_plane.ts";

const CP_API_KEY = "cp_test_dashboard";
const BUSINESS_ID = "biz_dashboard";
const WEBHOOK_SECRET = "whsec_dashboard";

/** The fake processor, the served control plane, its URL, and one close for both. */
export interface DashboardEnv {
  fake: FakeCoinPayPortal;
  tcp: TestControlPlane;
  url: string;
  close(): Promise<void>;
}

/** Starts the fake processor and a served control plane wired to it (webhooks included). */
export async function startDashboard(): Promise<DashboardEnv> {
  const fake = await startFakeCoinPayPortal({
    apiKey: CP_API_KEY,
    businessId: BUSINESS_ID,
    webhookSecret: WEBHOOK_SECRET,
    retryDelaysMs: [10, 10],
  });
  const tcp = await openTestControlPlane({
    serve: true,
    processor: new CoinPayPortal({ baseUrl: fake.url, apiKey: CP_API_KEY, businessId: BUSINESS_ID }),
    webhookSecret: WEBHOOK_SECRET,
    config: {
      coinPayPortal: {
        url: fake.url,
        apiKey: CP_API_KEY,
        businessId: BUSINESS_ID,
        webhookSecret: WEBHOOK_SECRET,
      },
    },
    fundNanoUsd: 0n,
  });
  const url = tcp.server!.url;
  fake.setWebhookUrl(`${url}/api/webhooks/coinpay`);
  return {
    fake,
    tcp,
    url,
    async close() {
      await tcp.close();
      await fake.close();
    },
  };
}
