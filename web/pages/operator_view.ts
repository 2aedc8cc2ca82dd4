// What the operator pages show: the node's health and the view the sections render.
import type { EarningsSummary, NodeJobRow, NodeJobStats, PayoutAddressRow, PayoutRow } from "../../db/mod.ts";
import type { VerifiedNodeRecord } from "../../shared/mod.ts";
import type { ChartDay } from "./earnings_chart_scale.ts";
import type { ReputationPanel } from "./reputation_view.ts";

/** How the node is doing right now, as the registry sees it. */
export interface NodeHealth {
  state: "online" | "stale" | "offline";
  socketOpen: boolean;
  lastHeartbeatAt: Date | null;
  heartbeatAgeS: number | null;
  staleAfterS: number;
  load: number | null;
  freeSlots: number | null;
  inFlight: number;
  successes: number;
  failures: number;
  ttftEwmaMs: number | null;
}

/** Everything the operator page shows. */
export interface OperatorView {
  pubkey: string;
  node: { record: VerifiedNodeRecord; health: NodeHealth } | null;
  stats: NodeJobStats;
  /** The node's reputation: score, components, why it moved, verification history. */
  reputation: ReputationPanel;
  earnings: EarningsSummary;
  /** What a payout request would pay now: the earnings rounded down to whole cents. */
  payable: bigint;
  minPayout: bigint;
  autoPayout: bigint | null;
  chart: ChartDay[];
  jobs: NodeJobRow[];
  olderHref: string | null;
  paged: boolean;
  addresses: PayoutAddressRow[];
  payouts: PayoutRow[];
  coins: readonly string[];
  payoutToken: string;
  notice?: { kind: "ok" | "error"; text: string };
  /** The address form sent back with its error and what was typed. */
  addressForm?: { coin: string; address: string; error: string };
  payoutError?: string;
  /**
   * The operator (npub) whose active claim holds this node: its earnings are paid to them, so the
   * node's own page offers no payout. Absent on the operator's page and for an unclaimed node.
   */
  claimedBy?: string | null;
}

/** The money sections' part of the view (shared with the operator-key page). */
export type MoneyView = Pick<
  OperatorView,
  | "earnings"
  | "payable"
  | "minPayout"
  | "autoPayout"
  | "chart"
  | "addresses"
  | "payouts"
  | "coins"
  | "payoutToken"
  | "addressForm"
  | "payoutError"
  | "claimedBy"
>;
