// GET /api/nodes/ws: the node's outbound job socket (works behind NAT). The server sends a
// challenge; the node answers with a signed kind-22242 event; only a registered key gets jobs.
import type { AppContext } from "../../app_env.ts";
import {
  createChallenge,
  parseNodeFrame,
  type ReceiptAnswer,
  type ServerFrame,
  sleep,
  verifyAuthEvent,
} from "../../../shared/mod.ts";
import type { ControlPlane } from "../../control_plane.ts";
import { NodeConnection } from "../../dispatch/node_connection.ts";
import { HttpError } from "../../http_error.ts";

/** How long a node has to answer the challenge. */
const AUTH_TIMEOUT_MS = 10_000;

/** Node receipts of one `receipts` frame checked per event-loop turn (~0.1 ms each). */
const RECEIPTS_PER_TURN = 4;

/** How often the server pings each node socket. */
export const PING_INTERVAL_MS = 20_000;

/** The handler for the node job socket. */
export function nodeSocket(cp: ControlPlane) {
  return (c: AppContext): Response => {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new HttpError(426, "this endpoint is a WebSocket", { code: "invalid_request" });
    }
    const host = cp.config.publicUrl ? new URL(cp.config.publicUrl).host : c.req.header("host") ?? "";
    const { socket, response } = Deno.upgradeWebSocket(c.req.raw);
    const challenge = createChallenge();
    let conn: NodeConnection | null = null;
    const send = (f: ServerFrame) => socket.readyState === WebSocket.OPEN && socket.send(JSON.stringify(f));
    const refuse = (code: number, reason: string) => {
      send({ type: "error", message: reason });
      socket.close(code, reason.slice(0, 120));
    };
    const timer = setTimeout(() => refuse(4001, "no auth answer in time"), AUTH_TIMEOUT_MS);

    const receiptAnswer = async (pubkey: string, event: unknown): Promise<ReceiptAnswer> => {
      const answer = await cp.receipts.nodeReceipt(pubkey, event);
      if (answer.ok) return { type: "receipt_ok", job_id: answer.jobId, receipt_id: answer.receiptId };
      cp.log.info("node receipt refused", { pubkey, code: answer.code, reason: answer.message });
      return {
        type: "receipt_refused",
        job_id: answer.jobId,
        code: answer.code,
        message: answer.message,
        head: answer.head,
      };
    };

    socket.onopen = () => send({ type: "challenge", challenge });
    let authing = false;
    socket.onmessage = async (e) => {
      const frame = typeof e.data === "string" ? parseNodeFrame(e.data) : null;
      if (conn) {
        if (frame?.type === "receipt") send(await receiptAnswer(conn.pubkey, frame.event));
        else if (frame?.type === "receipts") {
          // Checked in their order (the desk keeps a node's receipts in sequence), a few per turn so
          // requests arriving meanwhile never wait behind a whole batch; one answer frame.
          const pubkey = conn.pubkey;
          const answers: ReceiptAnswer[] = [];
          for (let i = 0; i < frame.events.length; i += RECEIPTS_PER_TURN) {
            if (i > 0) await sleep(0);
            const slice = frame.events.slice(i, i + RECEIPTS_PER_TURN);
            answers.push(...await Promise.all(slice.map((event) => receiptAnswer(pubkey, event))));
          }
          send({ type: "receipt_answers", answers });
        } else if (frame) conn.handleFrame(frame);
        else cp.log.warn("bad frame from node", { pubkey: conn.pubkey });
        return;
      }
      if (authing) return;
      if (frame?.type !== "auth") return refuse(4001, "the first frame must be auth");
      const auth = verifyAuthEvent(frame.event, { challenge, host });
      if (!auth.ok) return refuse(4003, `auth failed: ${auth.reason}`);
      if (!cp.registry.get(auth.pubkey)) return refuse(4004, "node not registered; register first");
      clearTimeout(timer);
      // The node's receipts continue its chain where this server holds it.
      authing = true;
      let head;
      try {
        head = await cp.receipts.head(auth.pubkey);
      } catch (err) {
        cp.log.error("receipt chain head not loaded", { pubkey: auth.pubkey, err });
        return refuse(1011, "the server cannot load this node's receipts; try again");
      }
      if (socket.readyState !== WebSocket.OPEN) return;
      conn = new NodeConnection(auth.pubkey, socket, cp.log);
      cp.registry.attach(auth.pubkey, conn);
      send({
        type: "welcome",
        pubkey: auth.pubkey,
        ping_interval_ms: PING_INTERVAL_MS,
        receipt_head: head,
        receipt_batches: true,
      });
      cp.log.info("node connected", { pubkey: auth.pubkey });
    };
    socket.onclose = () => {
      clearTimeout(timer);
      if (!conn) return;
      conn.close("node socket closed");
      cp.registry.detach(conn.pubkey, conn);
      cp.log.info("node disconnected", { pubkey: conn.pubkey });
    };
    socket.onerror = () => {};
    return response;
  };
}
