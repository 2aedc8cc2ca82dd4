// Builds the o200k tables in a worker of their own, so the vocabulary as JS strings (gpt-tokenizer's
// module) lives and dies in the worker's heap; the tables' buffers are handed over, not copied.
import ranks from "gpt-tokenizer/esm/bpeRanks/o200k_base";
import { buildBpeTables } from "./bpe_counter.ts";

const tables = buildBpeTables(ranks);
const transfer = [tables.bytes.buffer, tables.start.buffer, tables.rank.buffer, tables.slots.buffer];
(self as unknown as { postMessage(m: unknown, t: Transferable[]): void }).postMessage(tables, transfer);
