import { describe, expect, it } from "vitest";
import type { Grant } from "../../src/rate-limit/durable-object.ts";
import { LEASE_TTL_MS, LeaseTable, maxLeaseSize } from "../../src/rate-limit/lease.ts";

function grant(granted: number, remaining: number, resetAfterMs = 60_000, windowStartMs = 1): Grant {
  return { granted, limit: 100, remaining, windowStartMs, resetAfterMs, exhausted: false, retryAfterMs: 0 };
}

describe("permit leases", () => {
  it("caps a lease at a twentieth of the limit, and a single permit for small limits", () => {
    expect(maxLeaseSize(5)).toBe(1);
    expect(maxLeaseSize(100)).toBe(5);
    expect(maxLeaseSize(1_000_000)).toBe(50_000);
  });

  it("asks for one permit first", () => {
    expect(new LeaseTable().ask("k", 0, 100)).toEqual({ wanted: 1 });
  });

  it("doubles the lease while the isolate spends each one within its lifetime, up to the cap", () => {
    const leases = new LeaseTable();
    let nowMs = 0;
    const sizes: number[] = [];
    for (let i = 0; i < 6; i++) {
      const { wanted } = leases.ask("k", nowMs, 100);
      sizes.push(wanted);
      leases.store("k", grant(wanted, 50), nowMs);
      while (leases.take("k", nowMs) !== undefined);
      nowMs += 10;
    }
    expect(sizes).toEqual([1, 2, 4, 5, 5, 5]);
  });

  it("falls back to one permit for an isolate the client comes back to only after a lease's lifetime", () => {
    const leases = new LeaseTable();
    leases.store("k", grant(4, 50), 0);
    while (leases.take("k", 0) !== undefined);
    expect(leases.ask("k", LEASE_TTL_MS - 1, 100).wanted).toBe(5);
    leases.store("k", grant(4, 50), 0);
    while (leases.take("k", 0) !== undefined);
    expect(leases.ask("k", LEASE_TTL_MS, 100).wanted).toBe(1);
  });

  it("halves the lease of an isolate that had to hand permits back", () => {
    const leases = new LeaseTable();
    leases.store("k", grant(4, 50), 0);
    leases.take("k", 0);
    expect(leases.ask("k", LEASE_TTL_MS, 100)).toEqual({ wanted: 2, returned: { windowStartMs: 1, permits: 3 } });
  });

  it("spends held permits one at a time and reports what remains for the client", () => {
    const leases = new LeaseTable();
    leases.store("k", grant(3, 90), 0);
    expect(leases.take("k", 0)).toEqual({ remaining: 92, resetAtMs: 60_000, windowStartMs: 1 });
    expect(leases.take("k", 1)?.remaining).toBe(91);
    expect(leases.take("k", 2)?.remaining).toBe(90);
    expect(leases.take("k", 3)).toBeUndefined();
  });

  it("stops spending a lease at its expiry and hands back the unspent permits with the next ask", () => {
    const leases = new LeaseTable();
    leases.store("k", grant(5, 90, 60_000, 42), 1_000);
    leases.take("k", 1_000);
    expect(leases.take("k", 1_000 + LEASE_TTL_MS)).toBeUndefined();
    expect(leases.ask("k", 1_000 + LEASE_TTL_MS, 100).returned).toEqual({ windowStartMs: 42, permits: 4 });
    expect(leases.ask("k", 1_000 + LEASE_TTL_MS, 100).returned).toBeUndefined();
  });

  it("hands back an expired lease once, and never one that a newer lease replaced", () => {
    const leases = new LeaseTable();
    leases.store("k", grant(5, 90, 60_000, 42), 0);
    leases.take("k", 0);
    expect(leases.expire("k", 42, 0)).toEqual({ windowStartMs: 42, permits: 4 });
    expect(leases.take("k", 1)).toBeUndefined();
    expect(leases.expire("k", 42, 0)).toBeUndefined();
    leases.store("k", grant(5, 80, 60_000, 42), 500);
    expect(leases.expire("k", 42, 0)).toBeUndefined();
    expect(leases.take("k", 501)).toBeDefined();
  });

  it("drops a lease when its window has ended", () => {
    const leases = new LeaseTable();
    leases.store("k", grant(3, 0, 60_000), 0);
    expect(leases.take("k", 60_000)).toBeUndefined();
  });

  it("stays bounded, dropping the oldest lease first", () => {
    const leases = new LeaseTable(2);
    leases.store("a", grant(1, 0), 0);
    leases.store("b", grant(1, 0), 0);
    leases.store("c", grant(1, 0), 0);
    expect(leases.take("a", 0)).toBeUndefined();
    expect(leases.take("c", 0)).toBeDefined();
  });

  it("names each table differently, so the object can tell isolates apart", () => {
    expect(new LeaseTable().holder).not.toBe(new LeaseTable().holder);
  });

  it("pools the permits of leases that concurrent requests brought back in the same window", () => {
    const leases = new LeaseTable();
    leases.store("k", grant(3, 90, 60_000, 7), 0);
    leases.store("k", grant(2, 88, 60_000, 7), 10);
    const spent = [];
    for (let permit = leases.take("k", 10); permit !== undefined; permit = leases.take("k", 10))
      spent.push(permit.remaining);
    expect(spent).toEqual([92, 91, 90, 89, 88]);
    expect(leases.expire("k", 7, 0)).toBeUndefined();
  });

  it("sweeps leases whose lifetime is over, whichever client they were for, and hands back what they held", () => {
    const leases = new LeaseTable();
    leases.store("a", grant(5, 90, 60_000, 7), 0);
    leases.take("a", 0);
    leases.store("b", grant(4, 80, 60_000, 7), 500);
    leases.store("c", grant(1, 70, 60_000, 7), 600);
    expect(leases.sweep(LEASE_TTL_MS - 1)).toEqual([]);
    expect(leases.sweep(LEASE_TTL_MS)).toEqual([{ key: "a", release: { windowStartMs: 7, permits: 4 } }]);
    expect(leases.sweep(LEASE_TTL_MS + 10_000)).toEqual([{ key: "b", release: { windowStartMs: 7, permits: 4 } }]);
    expect(leases.sweep(LEASE_TTL_MS + 20_000)).toEqual([]);
  });
});
