// `infernet operator` end to end: the real CLI on two boxes and on the operator's machine against a
// served control plane. One box sends its claim, the other prints it for the operator to paste;
// the operator countersigns both with its key file; a second operator is refused in one line;
// the node and the operator each revoke.
import assert from "node:assert/strict";
import { generateSecretKey, getPublicKey } from "nostr-tools/pure";
import { npubEncode, nsecEncode } from "nostr-tools/nip19";
import { operatorOfNode } from "../db/mod.ts";
import { runCli } from "../testing/run_cli.ts";
import { openTestControlPlane } from "../testing/control_plane.ts";

function oneLine(stderr: string): string {
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line on stderr, got: ${stderr}`);
  return lines[0];
}

Deno.test("cli operator - claim from two boxes, countersign with the key file, refuse a second operator, revoke", async () => {
  const t = await openTestControlPlane({ serve: true });
  const dir = await Deno.makeTempDir({ prefix: "infernet-operator-" });
  try {
    const server = t.server!.url;
    const sql = t.cp.db.sql;
    const boxes: { env: Record<string, string>; pubkey: string }[] = [];
    for (const name of ["box1", "box2"]) {
      const env = { INFERNET_HOME: `${dir}/${name}`, INFERNET_SERVER: server };
      const init = await runCli(["init", "--json"], env);
      assert.equal(init.code, 0, init.stderr);
      boxes.push({ env, pubkey: JSON.parse(init.stdout).pubkey });
    }
    const op = generateSecretKey();
    const OP = getPublicKey(op);
    const keyFile = `${dir}/operator.key`;
    await Deno.writeTextFile(keyFile, nsecEncode(op) + "\n", { mode: 0o600 });
    const opEnv = { INFERNET_HOME: `${dir}/operator-home`, INFERNET_SERVER: server };

    const bad = await runCli(["operator", "claim", "--operator", "npub1nope"], boxes[0].env);
    assert.equal(bad.code, 2);
    assert.match(oneLine(bad.stderr), /--operator with the operator's npub or hex key/);

    // Box 1 sends its claim; box 2 only prints it, and the operator pastes it.
    const sent = await runCli(["operator", "claim", "--operator", npubEncode(OP)], boxes[0].env);
    assert.equal(sent.code, 0, sent.stderr);
    assert.match(sent.stdout, new RegExp(`sent for operator ${OP}`));
    const printed = await runCli(["operator", "claim", "--operator", OP, "--print"], boxes[1].env);
    assert.equal(printed.code, 0, printed.stderr);
    const pasted = await runCli([
      "operator",
      "countersign",
      "--key",
      keyFile,
      "--claim",
      printed.stdout.trim(),
    ], opEnv);
    assert.equal(pasted.code, 0, pasted.stderr);
    assert.equal(await operatorOfNode(sql, boxes[1].pubkey), OP);
    assert.equal(await operatorOfNode(sql, boxes[0].pubkey), null, "box 1 waits for the countersignature");

    const signed = await runCli(["operator", "countersign", "--key", keyFile, "--json"], opEnv);
    assert.equal(signed.code, 0, signed.stderr);
    assert.deepEqual(JSON.parse(signed.stdout).countersigned, [boxes[0].pubkey]);
    assert.equal(await operatorOfNode(sql, boxes[0].pubkey), OP);
    const status = await runCli(["operator", "status"], boxes[0].env);
    assert.equal(status.stdout.trim(), `operator ${OP} (active)`);

    // Another operator: refused, one line, nothing changed.
    const other = getPublicKey(generateSecretKey());
    const refused = await runCli(["operator", "claim", "--operator", other], boxes[0].env);
    assert.equal(refused.code, 1);
    assert.match(oneLine(refused.stderr), /claim refused: this node is claimed by another operator/);
    assert.equal(await operatorOfNode(sql, boxes[0].pubkey), OP);

    // The node revokes its claim; the operator revokes the other.
    const byNode = await runCli(["operator", "revoke"], boxes[0].env);
    assert.equal(byNode.code, 0, byNode.stderr);
    assert.match(byNode.stdout, /revoked/);
    assert.equal(await operatorOfNode(sql, boxes[0].pubkey), null);
    const byOperator = await runCli(
      ["operator", "revoke", "--key", keyFile, "--node", boxes[1].pubkey],
      opEnv,
    );
    assert.equal(byOperator.code, 0, byOperator.stderr);
    assert.equal(await operatorOfNode(sql, boxes[1].pubkey), null);
    const none = await runCli(["operator", "status"], boxes[1].env);
    assert.match(none.stdout, /no operator/);
  } finally {
    await t.close();
    await Deno.remove(dir, { recursive: true });
  }
});
