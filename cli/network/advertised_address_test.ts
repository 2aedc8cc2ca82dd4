import assert from "node:assert/strict";
import { CliError } from "../cli_error.ts";
import {
  chooseAdvertisedAddress,
  type InterfaceAddress,
  isBridgeRange,
  parsePublicAddress,
} from "./advertised_address.ts";

// Interface lists in `Deno.networkInterfaces()`'s shape, modelled on each kind of host.
function host(name: string): InterfaceAddress[] {
  return JSON.parse(Deno.readTextFileSync(new URL(`./testdata/${name}.json`, import.meta.url)));
}

Deno.test("advertised address - a Vast.ai container has only its bridge address, flagged as such", () => {
  const a = chooseAdvertisedAddress(host("vastai_container"));
  assert.deepEqual(a, {
    address: "172.17.0.3",
    family: "IPv4",
    interfaceName: "eth0",
    source: "interface",
    scope: "bridge_range",
    dockerBridgeRange: true,
  });
});

Deno.test("advertised address - a RunPod pod prefers its 10.x interface over the 172.19 bridge", () => {
  const a = chooseAdvertisedAddress(host("runpod_pod"));
  assert.equal(a?.address, "10.65.4.18");
  assert.equal(a?.scope, "private");
  assert.equal(a?.dockerBridgeRange, false);
});

Deno.test("advertised address - a laptop uses its wifi IPv4, never docker0, br-*, virbr0, tun0 or veth", () => {
  const a = chooseAdvertisedAddress(host("laptop_docker_wifi"));
  assert.equal(a?.address, "192.168.1.23");
  assert.equal(a?.interfaceName, "wlp2s0");
  // Private IPv4 ranks above global IPv6; without the IPv4 the wifi's IPv6 is next.
  const v6 = chooseAdvertisedAddress(host("laptop_docker_wifi").filter((n) => n.address !== "192.168.1.23"));
  assert.equal(v6?.address, "2a02:8109:b6c0:3e00:1c4f:2a9b:77d0:5e11");
  assert.equal(v6?.scope, "ipv6_global");
});

Deno.test("advertised address - a k8s node uses its public NIC, skipping cali, flannel, cni, kube-, tunl, weave", () => {
  const nics = host("k8s_node_calico_flannel");
  assert.equal(chooseAdvertisedAddress(nics)?.address, "203.0.113.45");
  const privateOnly = nics.filter((n) => n.name !== "eno1");
  assert.equal(chooseAdvertisedAddress(privateOnly)?.address, "10.10.0.45");
});

Deno.test("advertised address - an IPv6-only host advertises its global address, not ULA or link-local", () => {
  const a = chooseAdvertisedAddress(host("ipv6_only"));
  assert.equal(a?.address, "2001:db8:4006:812::200e");
  assert.equal(a?.family, "IPv6");
});

Deno.test("advertised address - 172.16–31.x ranks below everything, and nothing usable is null", () => {
  const nics: InterfaceAddress[] = [
    { family: "IPv4", name: "eth0", address: "172.20.0.5" },
    { family: "IPv6", name: "eth1", address: "2600:1f18::5" },
  ];
  assert.equal(chooseAdvertisedAddress(nics)?.address, "2600:1f18::5");
  assert.equal(chooseAdvertisedAddress([{ family: "IPv4", name: "lo", address: "127.0.0.1" }]), null);
  assert.equal(chooseAdvertisedAddress([]), null);
  assert.equal(isBridgeRange("172.15.0.1"), false);
  assert.equal(isBridgeRange("172.31.255.1"), true);
  assert.equal(isBridgeRange("172.32.0.1"), false);
});

Deno.test("advertised address - INFERNET_PUBLIC_ADDRESS overrides the interfaces, and is validated", () => {
  const a = chooseAdvertisedAddress(host("vastai_container"), { override: "198.51.100.7" });
  assert.equal(a?.address, "198.51.100.7");
  assert.equal(a?.source, "override");
  assert.equal(a?.interfaceName, null);
  assert.equal(chooseAdvertisedAddress([], { override: "[2001:db8::1]" })?.address, "2001:db8::1");
  assert.equal(chooseAdvertisedAddress([], { override: "Node7.Example.net" })?.family, "name");
  // Empty means unset.
  assert.equal(chooseAdvertisedAddress(host("ipv6_only"), { override: " " })?.family, "IPv6");
  for (const bad of ["http://1.2.3.4", "1.2.3.4:8080", "300.1.1.1", "a b", "-x.com", "2001:zz::1", "x..y"]) {
    assert.throws(
      () => parsePublicAddress(bad),
      (e: unknown) =>
        e instanceof CliError && e.code === "config" && /INFERNET_PUBLIC_ADDRESS/.test(e.message),
      bad,
    );
  }
});
