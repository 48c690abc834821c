import { describe, expect, it } from "vitest";
import { clientKeyFromIp, networkKeysFromIp, UNKNOWN_CLIENT } from "../../src/rate-limit/client-ip.ts";

describe("client key from CF-Connecting-IP", () => {
  it("keys IPv4 clients by address", () => {
    expect(clientKeyFromIp("203.0.113.7")).toBe("ip:203.0.113.7");
  });

  it("groups IPv6 addresses of one /64 into one key, whatever their spelling", () => {
    const keys = ["2001:db8:1:2::1", "2001:0db8:0001:0002:ffff:ffff:ffff:ffff", "2001:DB8:1:2:abcd::9"].map(
      clientKeyFromIp,
    );
    expect(new Set(keys)).toEqual(new Set(["ip6:2001:db8:1:2::/64"]));
  });

  it("keeps different /64s apart", () => {
    expect(clientKeyFromIp("2001:db8:1:2::1")).not.toBe(clientKeyFromIp("2001:db8:1:3::1"));
  });

  it("treats an IPv4-mapped IPv6 address as the IPv4 client", () => {
    expect(clientKeyFromIp("::ffff:203.0.113.7")).toBe("ip:203.0.113.7");
  });

  it.each([undefined, "", "not-an-ip", "203.0.113.999", "1.2.3.4, 5.6.7.8", "2001:db8::1::2", "gggg::1"])(
    "puts %j into the shared unknown bucket",
    (header) => {
      expect(clientKeyFromIp(header)).toBe(UNKNOWN_CLIENT);
    },
  );
});

describe("network keys for aggregate limits", () => {
  it("puts IPv4 clients of one /24 together", () => {
    expect(networkKeysFromIp("203.0.113.7")).toEqual({ "ipv4-24": "ip:203.0.113.0/24" });
    expect(networkKeysFromIp("::ffff:203.0.113.200")).toEqual({ "ipv4-24": "ip:203.0.113.0/24" });
  });

  it("puts IPv6 clients of one /56 and one /48 together, and keeps other /48s apart", () => {
    expect(networkKeysFromIp("2001:db8:7:12ab::1")).toEqual({
      "ipv6-56": "ip6:2001:db8:7:1200::/56",
      "ipv6-48": "ip6:2001:db8:7::/48",
    });
    expect(networkKeysFromIp("2001:db8:7:ffff:1::9")["ipv6-48"]).toBe("ip6:2001:db8:7::/48");
    expect(networkKeysFromIp("2001:db8:7:1300::1")["ipv6-56"]).not.toBe(
      networkKeysFromIp("2001:db8:7:12ff::1")["ipv6-56"],
    );
    expect(networkKeysFromIp("2001:db8:8::1")["ipv6-48"]).not.toBe(networkKeysFromIp("2001:db8:7::1")["ipv6-48"]);
  });

  it("has no network for an unusable address", () => {
    expect(networkKeysFromIp("not-an-ip")).toEqual({});
  });
});
