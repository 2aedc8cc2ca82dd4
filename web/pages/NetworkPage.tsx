// The public network page, readable by anyone; the numbers refresh themselves.
import NetworkStats from "../islands/NetworkStats.tsx";
import { Island } from "./Island.tsx";
import { Layout } from "./Layout.tsx";
import type { NetworkSnapshot } from "./network_data.ts";

/** The network page for a snapshot. */
export function NetworkPage(props: { snapshot: NetworkSnapshot }) {
  return (
    <Layout title="The network">
      <p>
        An open marketplace for GPU inference: operators run nodes, consumers call an OpenAI-compatible API.
        {" "}
        <a href="/keys">Get an API key</a> — no account needed.
      </p>
      <Island name="NetworkStats" props={props.snapshot}>
        <NetworkStats {...props.snapshot} />
      </Island>
    </Layout>
  );
}
