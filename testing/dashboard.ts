// A served control plane for the dashboard's tests, paying through the fake CoinPayPortal, and an
// account session's cookie for a key.
import { createConsumerSession, findApiKeyByHash, hashApiKey, type Sql } from "../db/mod.ts";
import { ACCOUNT_COOKIE } from "../web/auth/account_session.ts";
import { openPaymentsTestControlPlane, type PaymentsTestEnv } from "./control_plane.ts";

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

/** Runs one non-streamed chat per message through the served control plane (all must answer 200), then writes their rows. */
export async function runChats(env: DashboardEnv, key: string, messages: string[]): Promise<void> {
  for (const content of messages) {
    const res = await fetch(`${env.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "infernet-test-echo", messages: [{ role: "user", content }] }),
    });
    if (res.status !== 200) throw new Error(`chat answered ${res.status}: ${await res.text()}`);
    await res.body?.cancel();
  }
  await env.tcp.cp.recorder.flush();
}

/** A `cookie` header value signing `key` in to the account page (a fresh session, one hour). */
export async function accountCookie(sql: Sql, key: string): Promise<string> {
  const row = await findApiKeyByHash(sql, hashApiKey(key));
  if (!row) throw new Error("no such API key");
  const { token } = await createConsumerSession(sql, { apiKeyId: row.id, ttlS: 3600 });
  return `${ACCOUNT_COOKIE}=${token}`;
}
