// The address this node would tell clients to reach it on (DESIGN.md "Hardware"): chosen from the
// machine's interfaces, skipping container, VPN and virtual bridges, or set by the operator with
// INFERNET_PUBLIC_ADDRESS. The choice is pure; tests feed it recorded interface lists.
import { CliError } from "../cli_error.ts";

/** One interface address, as `Deno.networkInterfaces()` lists it. */
export type InterfaceAddress = Pick<Deno.NetworkInterfaceInfo, "family" | "name" | "address">;

/** An IP family, or a DNS name. */
export type AddressFamily = "IPv4" | "IPv6" | "name";

/** How far an address reaches: the internet, a private network, or a container-bridge range. */
export type AddressScope = "public" | "private" | "ipv6_global" | "bridge_range";

/** The chosen address and why. */
export interface AdvertisedAddress {
  address: string;
  /** "name" for a DNS name given as INFERNET_PUBLIC_ADDRESS. */
  family: AddressFamily;
  /** The interface it was found on; null when INFERNET_PUBLIC_ADDRESS set it. */
  interfaceName: string | null;
  source: "override" | "interface";
  scope: AddressScope;
  /** In 172.16.0.0/12, where Docker and most container runtimes put their bridges. */
  dockerBridgeRange: boolean;
}

// DESIGN.md's list, plus Calico's `vxlan.calico` (an overlay like flannel.1).
const SKIPPED_INTERFACE = /^(docker|br-|veth|cni|flannel|cali|weave|kube-|virbr|vmnet|tun|tap|vxlan)|^lo\d*$/;

// Lower ranks win: public IPv4, then private IPv4, then global IPv6, then 172.16–31.x last.
const RANK: Record<AddressScope, number> = { public: 0, private: 1, ipv6_global: 2, bridge_range: 3 };

function ipv4Octets(address: string): number[] | null {
  const parts = address.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p))) return null;
  const octets = parts.map(Number);
  return octets.every((o) => o <= 255) ? octets : null;
}

/** True for an address in 172.16.0.0/12 (Docker's and most container runtimes' bridge networks). */
export function isBridgeRange(address: string): boolean {
  const o = ipv4Octets(address);
  return o !== null && o[0] === 172 && o[1] >= 16 && o[1] <= 31;
}

// The scope of an interface address, or null for addresses never worth advertising.
function scopeOf(family: string, address: string): AddressScope | null {
  if (family === "IPv4") {
    const o = ipv4Octets(address);
    if (o === null) return null;
    const [a, b] = o;
    // Unspecified, loopback, link-local, multicast and reserved.
    if (a === 0 || a === 127 || (a === 169 && b === 254) || a >= 224) return null;
    if (isBridgeRange(address)) return "bridge_range";
    if (a === 10 || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127)) return "private";
    return "public";
  }
  if (family === "IPv6") {
    // Global unicast is 2000::/3; loopback, link-local (fe80::/10) and ULA (fc00::/7) are not.
    return /^[23][0-9a-f]{0,3}:/i.test(address) ? "ipv6_global" : null;
  }
  return null;
}

/**
 * Validates INFERNET_PUBLIC_ADDRESS: an IPv4 or IPv6 address or a DNS name, without scheme or
 * port; throws a CliError naming the variable otherwise.
 */
export function parsePublicAddress(text: string): { address: string; family: AddressFamily } {
  const value = text.trim();
  const bad = () =>
    new CliError(
      "config",
      `INFERNET_PUBLIC_ADDRESS must be an IP address or host name (no scheme or port), got '${text}'`,
    );
  if (ipv4Octets(value)) return { address: value, family: "IPv4" };
  if (value.includes(":")) {
    const bare = value.replace(/^\[(.*)\]$/, "$1");
    if (!/^[0-9a-f:.]+$/i.test(bare)) throw bad();
    try {
      new URL(`http://[${bare}]/`);
    } catch {
      throw bad();
    }
    return { address: bare.toLowerCase(), family: "IPv6" };
  }
  const label = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;
  const labels = value.split(".");
  if (value.length > 253 || !labels.every((l) => label.test(l)) || /^\d+$/.test(labels.at(-1)!)) {
    throw bad();
  }
  return { address: value.toLowerCase(), family: "name" };
}

/**
 * Chooses the address to advertise: the override when given (validated), else the best interface
 * address by DESIGN.md's rules, first listed winning ties; null when there is none.
 */
export function chooseAdvertisedAddress(
  interfaces: readonly InterfaceAddress[],
  opts: { override?: string } = {},
): AdvertisedAddress | null {
  if (opts.override !== undefined && opts.override.trim() !== "") {
    const { address, family } = parsePublicAddress(opts.override);
    const scope = family === "name" ? "public" : scopeOf(family, address) ?? "public";
    return {
      address,
      family,
      interfaceName: null,
      source: "override",
      scope,
      dockerBridgeRange: isBridgeRange(address),
    };
  }
  let best: AdvertisedAddress | null = null;
  for (const nic of interfaces) {
    if (SKIPPED_INTERFACE.test(nic.name)) continue;
    const scope = scopeOf(nic.family, nic.address);
    if (scope === null || (best && RANK[best.scope] <= RANK[scope])) continue;
    best = {
      address: nic.address,
      family: nic.family === "IPv6" ? "IPv6" : "IPv4",
      interfaceName: nic.name,
      source: "interface",
      scope,
      dockerBridgeRange: isBridgeRange(nic.address),
    };
  }
  return best;
}

/** The machine's interfaces when `--allow-sys=networkInterfaces` is granted, else none. */
export function listInterfaces(): InterfaceAddress[] {
  try {
    const desc = { name: "sys", kind: "networkInterfaces" } as const;
    if (Deno.permissions.querySync(desc).state !== "granted") return [];
    return Deno.networkInterfaces();
  } catch {
    return [];
  }
}

/** The advertised address of this machine, with `INFERNET_PUBLIC_ADDRESS` from `env` as override. */
export function detectAdvertisedAddress(env: Record<string, string | undefined>): AdvertisedAddress | null {
  return chooseAdvertisedAddress(listInterfaces(), { override: env.INFERNET_PUBLIC_ADDRESS });
}
