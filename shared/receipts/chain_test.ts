import assert from "node:assert/strict";
import { type ChainLink, checkChain } from "./chain.ts";

const id = (n: number) => n.toString(16).padStart(64, "0");

/** A well-formed run of links seq from..to, each pointing at the one before. */
function run(from: number, to: number): ChainLink[] {
  const links: ChainLink[] = [];
  for (let seq = from; seq <= to; seq++) {
    links.push({ id: id(seq), seq, prev: seq === 1 ? null : id(seq - 1), createdAt: 1000 + seq });
  }
  return links;
}

const kinds = (links: ChainLink[]) => checkChain(links).map((p) => `${p.kind} ${p.id}`);

Deno.test("chain - a whole chain from seq 1 has no problem, in any order", () => {
  assert.deepEqual(checkChain(run(1, 6)), []);
  assert.deepEqual(checkChain(run(1, 6).reverse()), []);
  assert.deepEqual(checkChain([]), []);
});

Deno.test("chain - a contiguous page that does not start at 1 is fine", () => {
  assert.deepEqual(checkChain(run(41, 50)), []);
  assert.deepEqual(checkChain(run(7, 7)), []);
});

Deno.test("chain - finds a gap in seq", () => {
  const links = run(1, 6).filter((l) => l.seq !== 3 && l.seq !== 4);
  assert.deepEqual(kinds(links), [`gap ${id(5)}`]);
  assert.match(checkChain(links)[0].message, /seq 3–4 missing/);
});

Deno.test("chain - finds a receipt past seq 1 with no prev", () => {
  const links = run(1, 3);
  links[2] = { ...links[2], prev: null };
  assert.ok(kinds(links).includes(`gap ${id(3)}`));
});

Deno.test("chain - finds a fork: two receipts at one seq, or one not following its predecessor", () => {
  const twin: ChainLink = { id: id(99), seq: 2, prev: id(1), createdAt: 1002 };
  assert.deepEqual(kinds([...run(1, 3), twin]), [`fork ${id(99)}`]);
  const links = run(1, 3);
  links[2] = { ...links[2], prev: id(77) };
  assert.deepEqual(kinds(links), [`fork ${id(3)}`]);
  const restart = run(1, 2);
  restart[0] = { ...restart[0], prev: id(55) };
  assert.deepEqual(kinds(restart), [`fork ${id(1)}`]);
});

Deno.test("chain - finds reordering: prev pointing at a later receipt, time running backwards", () => {
  const links = run(1, 4);
  links[2] = { ...links[2], prev: id(4) };
  assert.deepEqual(kinds(links), [`reordered ${id(3)}`]);
  assert.match(checkChain(links)[0].message, /points back at a later receipt/);
  const late = run(1, 3);
  late[2] = { ...late[2], createdAt: 900 };
  assert.deepEqual(kinds(late), [`reordered ${id(3)}`]);
  assert.match(checkChain(late)[0].message, /dated before/);
});

Deno.test("chain - a receipt served twice is a duplicate, reported once", () => {
  const links = run(1, 3);
  assert.deepEqual(kinds([...links, links[1]]), [`duplicate ${id(2)}`]);
});

Deno.test("chain - never mutates the links it is given", () => {
  const links = run(1, 4).reverse();
  const copy = structuredClone(links);
  checkChain(links);
  assert.deepEqual(links, copy);
});
