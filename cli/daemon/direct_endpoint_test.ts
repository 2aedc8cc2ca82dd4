import assert from "node:assert/strict";
import { CliError } from "../cli_error.ts";
import type { AdvertisedAddress } from "../network/advertised_address.ts";
import { directEndpoint, isLoopbackUrl } from "./direct_endpoint.ts";

const address = (a: string, patch: Partial<AdvertisedAddress> = {}): AdvertisedAddress => ({
  address: a,
  family: a.includes(":") ? "IPv6" : "IPv4",
  interfaceName: "eth0",
  source: "interface",
  scope: "public",
  dockerBridgeRange: false,
  ...patch,
});

Deno.test("direct endpoint - computed from the advertised address and the port", () => {
  assert.equal(directEndpoint({ port: 8443, address: address("203.0.113.7") }), "http://203.0.113.7:8443");
  assert.equal(directEndpoint({ port: 80, address: address("2001:db8::1") }), "http://[2001:db8::1]:80");
});

Deno.test("direct endpoint - --direct-url overrides the computed one", () => {
  assert.equal(
    directEndpoint({ port: 1, url: "https://node.example:8443/", address: address("172.17.0.2") }),
    "https://node.example:8443",
  );
});

Deno.test("direct endpoint - refuses container-bridge, unspecified and missing addresses", () => {
  const bridge = address("172.17.0.2", { dockerBridgeRange: true, scope: "bridge_range" });
  assert.throws(() => directEndpoint({ port: 1, address: bridge }), CliError);
  assert.throws(() => directEndpoint({ port: 1, address: null }), CliError);
  assert.throws(() => directEndpoint({ port: 1, url: "http://0.0.0.0:9000", address: null }), CliError);
  assert.throws(() => directEndpoint({ port: 1, url: "ftp://node.example", address: null }), CliError);
});

Deno.test("direct endpoint - a loopback --direct-url only when the control plane is on loopback too", () => {
  const url = "http://127.0.0.1:9000";
  assert.throws(() => directEndpoint({ port: 9000, url, address: null }), CliError);
  assert.equal(directEndpoint({ port: 9000, url, address: null, localServer: true }), url);
  assert.throws(() =>
    directEndpoint({ port: 1, url: "http://0.0.0.0:9000", address: null, localServer: true })
  );
  assert.equal(isLoopbackUrl("http://127.0.0.1:8787"), true);
  assert.equal(isLoopbackUrl("http://[::1]:8787"), true);
  assert.equal(isLoopbackUrl("https://infernet.example"), false);
});
