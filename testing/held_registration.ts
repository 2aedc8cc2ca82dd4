// A control plane stand-in whose node registration answers only when the test lets it: for what a
// node does when it is stopped while still registering. Every other path is a 404.

/** The stand-in: its URL, the paths asked for, and the registration's hold. */
export interface HeldRegistration {
  url: string;
  /** Every path asked for, in order. */
  paths: string[];
  /** Resolves when a registration has arrived (and is being held). */
  registering: Promise<void>;
  /** Lets held and later registrations answer 200. */
  release(): void;
  close(): Promise<void>;
}

/** Starts the stand-in on a free loopback port. */
export function startHeldRegistration(): HeldRegistration {
  const paths: string[] = [];
  let arrived!: () => void;
  const registering = new Promise<void>((r) => (arrived = r));
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    paths.push(path);
    if (path !== "/api/nodes/register") return new Response("no", { status: 404 });
    arrived();
    await released;
    return Response.json({ ok: true });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    paths,
    registering,
    release,
    async close() {
      release();
      await server.shutdown();
    },
  };
}
