// Where the reputation pages' data comes from: the registry entry's reputation (the prior until
// one is computed), the node's receipts that counted against it, and its verification results.
import { npubEncode } from "nostr-tools/nip19";
import { receiptsAgainstNode, verificationsOfNode } from "../../db/mod.ts";
import type { ControlPlane } from "../control_plane.ts";
import { reputationOf, type ReputationPanel } from "./reputation_view.ts";

/** How many receipts and verifications the operator page lists. */
export const HISTORY_LIMIT = 20;

/** A node's reputation section: the score, why it moved and its verification history. */
export async function reputationPanel(cp: ControlPlane, pubkey: string): Promise<ReputationPanel> {
  const [against, verifications] = await Promise.all([
    receiptsAgainstNode(cp.db.sql, pubkey, { limit: HISTORY_LIMIT }),
    verificationsOfNode(cp.db.sql, pubkey, { limit: HISTORY_LIMIT }),
  ]);
  return {
    pubkey,
    npub: npubEncode(pubkey),
    reputation: reputationOf(cp.registry.get(pubkey)),
    against,
    verifications,
  };
}
