import assert from "node:assert/strict";
import { testOnEachDatabase } from "../testing/databases.ts";
import { listPayoutAddresses, setPayoutAddress } from "./payout_addresses.ts";

const NODE = "ab".repeat(32);
const OTHER = "cd".repeat(32);
const BTC = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq";

testOnEachDatabase("payout addresses - an address is set once per coin and replaced in place", async (db) => {
  await setPayoutAddress(db.sql, { nodePubkey: NODE, coin: "BTC", address: "old" });
  await setPayoutAddress(db.sql, { nodePubkey: NODE, coin: "ETH", address: "0xabc" });
  await setPayoutAddress(db.sql, { nodePubkey: NODE, coin: "BTC", address: BTC });
  const list = await listPayoutAddresses(db.sql, NODE);
  assert.deepEqual(list.map((a) => [a.coin, a.address]), [["BTC", BTC], ["ETH", "0xabc"]]);
  assert.deepEqual(await listPayoutAddresses(db.sql, OTHER), []);
});
