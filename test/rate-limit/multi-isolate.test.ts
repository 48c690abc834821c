import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { seededRandom } from "../../scripts/lib/seeded-random.ts";
import { LEASE_TTL_MS, maxLeaseSize } from "../../src/rate-limit/lease.ts";
import { createWorld, type Pattern, router, runSequential } from "../support/isolates.ts";

const SEED = 20261202;
let clientCounter = 0;
/** A new client address per test, so tests never share a counter. */
const freshIp = () => `198.18.${Math.floor(++clientCounter / 250)}.${(clientCounter % 250) + 1}`;

/**
 * Runs `traffic` and counts the limiter failures the isolates logged meanwhile. Beside other files
 * on two cores, an object call can outlast the limiter's 500 ms timeout; the read policy fails
 * open, so such a call may admit one request the object did not count (fail-open.ts bounds them)
 * and the isolate logs it. Only those may go over a limit.
 */
async function withLoggedLimiterFailures<T>(traffic: () => Promise<T>): Promise<{ result: T; failures: number }> {
  const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
  try {
    const result = await traffic();
    const failures = errors.mock.calls.filter(([line]) =>
      String(line).includes('"event":"rate_limiter_unavailable"'),
    ).length;
    return { result, failures };
  } finally {
    errors.mockRestore();
  }
}

describe("rate limiter across isolates (100/minute, real app per isolate, skewed clocks, delayed and reordered object calls)", () => {
  it.each([
    ["sticky", 1, 100],
    ["round-robin", 25, 95],
    ["random", 10, 98],
    ["random", 25, 95],
    ["random", 50, 90],
    ["touch-then-stick", 25, 95],
  ] as [Pattern, number, number][])(
    "%s over %i isolates admits at least %i of 150 requests, never more than 100",
    async (pattern, isolates, atLeast) => {
      const world = createWorld({ isolates, seed: SEED });
      const { result: admitted, failures } = await withLoggedLimiterFailures(() =>
        runSequential(world, freshIp(), 150, router(pattern, isolates, seededRandom(SEED))),
      );
      expect(admitted).toBeGreaterThanOrEqual(atLeast);
      expect(admitted).toBeLessThanOrEqual(100 + failures);
    },
  );

  it("admits at most 100 of 1,000 concurrent requests spread over 25 isolates", async () => {
    const world = createWorld({ isolates: 25, seed: SEED });
    const ip = freshIp();
    const random = seededRandom(SEED);
    const { result: statuses, failures } = await withLoggedLimiterFailures(() =>
      Promise.all(Array.from({ length: 1000 }, () => world.request(Math.floor(random() * 25), ip))),
    );
    const admitted = statuses.filter((status) => status === 200).length;
    expect(statuses.filter((status) => status !== 200 && status !== 429)).toEqual([]);
    expect(admitted).toBeLessThanOrEqual(100 + failures);
    // Permits still leased when the flood ended go back once their lease time is over, with the next
    // requests those isolates serve; the rest of the allowance stays usable. At least the 95 of 100
    // docs/rate-limiting.md promises a client spread over 25 isolates: about one run in three loses
    // one permit here (99), whose way out is not yet found.
    await new Promise((resolve) => setTimeout(resolve, LEASE_TTL_MS + 200));
    const later = await runSequential(world, ip, 150, (i) => i % 25);
    expect(admitted + later).toBeLessThanOrEqual(100 + failures);
    // An object call that timed out (beside other files on two cores, it happens) may strand the
    // lease it was granted, if handing it back times out too: at most one lease per logged failure.
    expect(admitted + later).toBeGreaterThanOrEqual(95 - failures * maxLeaseSize(100));
    // A thousand requests at once through 25 apps: seconds of work beside other files on two cores.
  }, 60_000);

  it("never over-admits when an isolate is evicted mid-window with a lease in hand, and loses at most that lease", async () => {
    const world = createWorld({ isolates: 10, seed: SEED });
    const random = seededRandom(SEED);
    // The client hammers isolate 3 long enough for its lease to grow, then isolate 3 disappears.
    const admitted = await runSequential(
      world,
      freshIp(),
      160,
      (i) => (i < 40 ? 3 : Math.floor(random() * 10)),
      (i) => {
        if (i === 40) world.evict(3);
      },
    );
    expect(admitted).toBeLessThanOrEqual(100);
    expect(admitted).toBeGreaterThanOrEqual(95);
  });

  it("admits nothing early when every isolate's clock and the order of calls disagree near the window's end", async () => {
    const world = createWorld({ isolates: 25, seed: SEED, maxSkewMs: 500 });
    const ip = freshIp();
    const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(`api:ip:${ip}`));
    let objectNowMs = Date.now();
    await runInDurableObject(stub, (instance) => {
      instance.clock = () => objectNowMs;
    });
    const random = seededRandom(SEED);
    const spread = () => Math.floor(random() * 25);
    expect(await runSequential(world, ip, 150, spread)).toBe(100);
    // 10 ms before the object's window ends: isolates up to 500 ms ahead think it is over.
    objectNowMs += 60_000 - 10;
    const statuses = await Promise.all(Array.from({ length: 200 }, () => world.request(spread(), ip)));
    expect(statuses.filter((status) => status === 200)).toEqual([]);
  });

  it("gives a 1000/hour client spread over 25 isolates at least 950 of its 1000", async () => {
    const world = createWorld({ isolates: 25, seed: SEED, vars: { RATE_LIMIT_API: "1000/hour" } });
    // 1,100 requests one after another: seconds of work, more beside other files on two cores.
    const { result: admitted, failures } = await withLoggedLimiterFailures(() =>
      runSequential(world, freshIp(), 1100, router("random", 25, seededRandom(SEED))),
    );
    expect(admitted).toBeGreaterThanOrEqual(950);
    expect(admitted).toBeLessThanOrEqual(1000 + failures);
  }, 60_000);
});
