import { describe, expect, it } from "vitest";
import { leaseSize, LeaseTable } from "../../src/rate-limit/lease.ts";

describe("permit leases", () => {
  it("sizes a lease at a twentieth of the limit, and a single permit for small limits", () => {
    expect(leaseSize(5)).toBe(1);
    expect(leaseSize(100)).toBe(5);
    expect(leaseSize(1_000_000)).toBe(50_000);
  });

  it("spends held permits one at a time and reports what remains for the client", () => {
    const leases = new LeaseTable();
    leases.store("api:ip:1", 3, 90, 60_000);
    expect(leases.take("api:ip:1", 0)).toEqual({ remaining: 92, resetAtMs: 60_000 });
    expect(leases.take("api:ip:1", 1)).toEqual({ remaining: 91, resetAtMs: 60_000 });
    expect(leases.take("api:ip:1", 2)).toEqual({ remaining: 90, resetAtMs: 60_000 });
    expect(leases.take("api:ip:1", 3)).toBeUndefined();
  });

  it("drops a lease when its window has ended", () => {
    const leases = new LeaseTable();
    leases.store("api:ip:2", 3, 0, 60_000);
    expect(leases.take("api:ip:2", 60_000)).toBeUndefined();
  });

  it("stays bounded, dropping the oldest lease first", () => {
    const leases = new LeaseTable(2);
    leases.store("a", 1, 0, 10);
    leases.store("b", 1, 0, 10);
    leases.store("c", 1, 0, 10);
    expect(leases.take("a", 0)).toBeUndefined();
    expect(leases.take("c", 0)).toBeDefined();
  });
});
