import assert from "node:assert/strict";
import type { Settlement } from "../../db/mod.ts";
import { testJobRow } from "../../testing/job_row.ts";
import { testSettlement } from "../../testing/settlement.ts";
import { decodeEntry, decodeHeader, encodeEntry, type JournalEntry } from "./journal_codec.ts";

const NODE = "ab".repeat(32);

/** A job charged at 1 nano-USD per prompt token (`cost` tokens), 10 % fee. */
const settlement = (jobId: string, cost: bigint, lease: Settlement["lease"] = null) =>
  testSettlement(jobId, cost, { lease, node: NODE });

Deno.test("journal codec - an entry survives encoding: bigints, times, no settlement, a lease", () => {
  const at = new Date(Date.UTC(2026, 4, 6, 7, 8, 9, 123));
  const big = 9_007_199_254_740_993n; // above 2^53: a number would lose it
  const plain: JournalEntry = {
    row: testJobRow("job_plain", { apiKeyId: null, createdAt: at, finishedAt: new Date(at.getTime() + 5) }),
    settlement: null,
  };
  const leased: JournalEntry = {
    row: testJobRow("job_lease", { apiKeyId: big, nodePubkey: NODE, ttftMs: null, errorCode: null }),
    settlement: {
      ...settlement("job_lease", big + 1n, { id: "lease_x", apiKeyId: big, hold: big + 2n }),
      promptTokens: 2 ** 31 - 1,
      promptPer1k: big + 3n,
    },
  };
  const held: JournalEntry = {
    row: testJobRow("job_held", { apiKeyId: 7n, status: "failed", errorCode: "node_lost", stream: true }),
    settlement: settlement("job_held", 0n),
  };
  for (const e of [plain, leased, held]) {
    const line = encodeEntry(e);
    assert.ok(!line.includes("\n"), "one line");
    assert.deepEqual(decodeEntry(line), e);
  }
  assert.equal(JSON.parse(encodeEntry(leased)).settlement.lease.hold, (big + 2n).toString());
});

Deno.test("journal codec - a malformed line is rejected, not half read", () => {
  const good = encodeEntry({
    row: testJobRow("job_a", { apiKeyId: 3n, nodePubkey: NODE }),
    settlement: settlement("job_a", 700n),
  });
  const edit = (f: (o: { row: Record<string, unknown>; settlement: Record<string, unknown> }) => void) => {
    const o = JSON.parse(good);
    f(o);
    return JSON.stringify(o);
  };
  assert.throws(() => decodeEntry(good.slice(0, -7)), SyntaxError, "a torn line");
  assert.throws(() => decodeEntry(""), SyntaxError);
  assert.throws(() => decodeEntry("[1,2]"), /no entry/);
  assert.throws(() => decodeEntry(edit((o) => delete (o as Record<string, unknown>).row)), /no row/);
  assert.throws(() => decodeEntry(edit((o) => (o.row.promptTokens = "5"))), /promptTokens is not a number/);
  assert.throws(() => decodeEntry(edit((o) => (o.row.apiKeyId = 3))), /apiKeyId is not a string/);
  assert.throws(() => decodeEntry(edit((o) => (o.row.stream = "false"))), /stream is not a boolean/);
  assert.throws(() => decodeEntry(edit((o) => (o.row.createdAt = "2026-01-01"))), /createdAt/);
  assert.throws(() => decodeEntry(edit((o) => (o.settlement.cost = "70.5"))), /cost is not an integer/);
  assert.throws(() => decodeEntry(edit((o) => (o.settlement.cost = 700))), /cost is not a string/);
  assert.throws(() => decodeEntry(edit((o) => (o.settlement = [] as never))), /no settlement/);
  assert.throws(() => decodeEntry(edit((o) => (o.settlement.lease = "lease_x"))), /no lease/);
  assert.throws(() => decodeEntry(edit((o) => (o.settlement.jobId = "job_b"))), /settlement of another job/);
  // Well-formed JSON the database would refuse is refused here, so it cannot block a replay.
  assert.throws(() => decodeEntry(edit((o) => (o.row.latencyMs = 1.5))), /latencyMs is out of range/);
  assert.throws(() => decodeEntry(edit((o) => (o.row.promptTokens = -1))), /promptTokens is out of range/);
  assert.throws(() => decodeEntry(edit((o) => (o.row.ttftMs = 2 ** 31))), /ttftMs is out of range/);
  assert.throws(() => decodeEntry(edit((o) => (o.row.createdAt = 1e17))), /createdAt is out of range/);
  assert.throws(() => decodeEntry(edit((o) => (o.row.status = "done"))), /unknown status/);
  assert.throws(() => decodeEntry(edit((o) => (o.row.kind = "image"))), /unknown kind/);
  assert.throws(() => decodeEntry(edit((o) => (o.settlement.cost = "-5"))), /cost is not an integer/);
  assert.throws(
    () => decodeEntry(edit((o) => (o.settlement.cost = "9".repeat(19)))),
    /cost is not an integer/,
  );
  assert.throws(() => decodeEntry(edit((o) => (o.settlement.feeBps = 10_001))), /feeBps is out of range/);
  assert.deepEqual(decodeEntry(good).settlement?.cost, 700n, "the unedited line still decodes");
});

Deno.test("journal codec - a header line is recognised; anything else is not a header", () => {
  const header = { journal: 1, ledger: "l1", instance: "i1", createdAt: "2026-01-01T00:00:00.000Z" };
  assert.deepEqual(decodeHeader(JSON.stringify(header)), header);
  for (const line of ["", "{", "[]", "null", '{"journal":2,"ledger":"l1"}', '{"journal":1,"ledger":7}']) {
    assert.equal(decodeHeader(line), null, line);
  }
});
