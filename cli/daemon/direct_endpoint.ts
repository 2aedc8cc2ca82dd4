// The direct URL a node puts in its record's `endpoint` (docs/protocol.md §14) when it serves
// `POST /direct`: `--direct-url` as given, else `http://<advertised address>:<port>`. An address no
// consumer could reach (unspecified, loopback, a container bridge's 172.16.0.0/12) is refused, as
// the advertised-address rules skip them; the operator then says the URL with `--direct-url`.
import { CliError } from "../cli_error.ts";
import type { AdvertisedAddress } from "../network/advertised_address.ts";

/**
 * The endpoint to advertise, or a CliError saying why none can be computed. With `localServer`
 * (the control plane is on loopback too: a dev or test machine) a loopback `--direct-url` is fine.
 */
export function directEndpoint(opts: {
  port: number;
  url?: string;
  address: AdvertisedAddress | null;
  localServer?: boolean;
}): string {
  if (opts.url !== undefined) {
    let u: URL;
    try {
      u = new URL(opts.url);
    } catch {
      throw new CliError("usage", `--direct-url ${opts.url} is not a URL`);
    }
    if ((u.protocol !== "http:" && u.protocol !== "https:") || u.search || u.hash) {
      throw new CliError("usage", `--direct-url must be an http(s) origin, not ${opts.url}`);
    }
    const host = u.hostname.replace(/^\[|\]$/g, "");
    if (unreachable(host) && !(opts.localServer && loopback(host))) {
      throw new CliError("usage", `--direct-url ${opts.url} names an address consumers cannot reach`);
    }
    return u.href.replace(/\/$/, "");
  }
  const a = opts.address;
  if (a === null || unreachable(a.address) || a.dockerBridgeRange) {
    throw new CliError(
      "usage",
      `--direct-port: no reachable address to advertise${
        a ? ` (${a.address} is a container-bridge or local address)` : ""
      }; pass --direct-url https://host:port or set INFERNET_PUBLIC_ADDRESS`,
    );
  }
  const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
  return `http://${host}:${opts.port}`;
}

function loopback(host: string): boolean {
  return host === "localhost" || /^127\./.test(host) || host === "::1";
}

function unreachable(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || loopback(host);
}

/** Whether a URL names this machine (the control plane, say) by a loopback address. */
export function isLoopbackUrl(url: string): boolean {
  try {
    return loopback(new URL(url).hostname.replace(/^\[|\]$/g, ""));
  } catch {
    return false;
  }
}
