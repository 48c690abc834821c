/**
 * `npm run bench -- --registry`: the registry objects at 1,000, 10,000 and 100,000 simulated
 * isolates spread over 300 data centers. Revocations are kept per tenant, one list object each
 * (src/keys/registry.ts): 200 tenants whose traffic follows a Zipf law (tenant k reaches 1/k of
 * the isolates, the largest every one of them) share 2,000 revoked keys and 500 revoked users in
 * the same proportions. Each isolate syncs the copy of every tenant it serves at the real
 * intervals (src/keys/revocations.ts: a refresh age of 20 s plus up to 10 s of jitter drawn at
 * each sync, under steady traffic), through its data center's cache (colo-cache.ts: the object is
 * called only when the data center's page is 10 s old) or, where the Cache API has no effect
 * (workers.dev), straight to the object. Usage batches go every 5 min to one of 8 usage objects; a
 * copy of each user an isolate serves is refreshed every 20 s; simulated users sign in, refresh
 * every 30 s and some sign out. Calls per object and second come from that schedule over a
 * two-minute window; every revocation, every tenant's first sync, every call of the users, of a
 * sample of isolates' user copies, and the page fetches of the busiest list object's busiest
 * second are made for real against the project's own objects (scripts/bench/workers/
 * registry-driver.ts), for the bytes each answer holds, the entries an isolate keeps and the time
 * calls take here. The revocation delay is the time from a sign-out (or a key revocation) to the
 * first sync of each isolate concerned that sees it (for keys: through a data center's page
 * produced after it, or the object itself without the cache), plus the measured p99 of a call.
 */
import { Miniflare } from "miniflare";
import { seededRandom } from "../lib/seeded-random.ts";
import { type Compatibility, projectVariant, type WorkerBundle } from "./build.ts";
import { workerConfig } from "./miniflare.ts";
import type { RegistryOp } from "./registry-ops.ts";

/** The project's registry classes behind the driver's fetch handler. */
export const REGISTRY_BUNDLE = projectVariant(
  (from) =>
    `export { KeyRegistry, RateLimiter, SessionFamilies, SignInTurns, TenantKeys } from ${from("src/index.ts")};\nexport { default } from ${from("scripts/bench/workers/registry-driver.ts")};\n`,
);

export const REGISTRY_ISOLATE_COUNTS = [1_000, 10_000, 100_000];
const WINDOW_SECONDS = 120;
/** src/keys/revocations.ts: a copy's refresh age is 20 s plus up to 10 s, drawn at each sync. */
const REFRESH_MIN_SECONDS = 20;
const REFRESH_JITTER_SECONDS = 10;
/** How long a data center's cached page serves its isolates (src/keys/colo-cache.ts). */
const COLO_CACHE_SECONDS = 10;
const DATA_CENTERS = 300;
/** src/app.ts USAGE_FLUSH_INTERVAL_MS, over USAGE_SHARDS objects (src/keys/registry.ts). */
const USAGE_FLUSH_SECONDS = 300;
const USAGE_SHARDS = 8;
const SESSION_COPY_SECONDS = 20;
const SESSION_REFRESH_SECONDS = 30;
const USERS = 2_000;
/** Isolates one user's requests land on. */
const ISOLATES_PER_USER = 20;
/** Users whose isolates' copy refreshes are made for real (all are counted). */
const SAMPLED_USERS = 50;
const SIGN_OUT_SHARE = 0.2;
const TENANTS = 200;
const REVOKED_KEYS = 2_000;
const REVOKED_USERS = 500;
/** Isolates whose tenants are drawn to count the revocation entries one isolate holds. */
const SAMPLED_ISOLATES = 1_000;
/** Isolate-tenant pairs whose delay after a revocation is measured. */
const DELAY_SAMPLES = 10_000;
const BATCH = 250;
const TARGET_CALLS_PER_SECOND = 500;
/**
 * The isolates start together, as after a deploy, so their first refreshes still come in step;
 * by the last 30 s of the window (three refreshes on) the jitter has spread them.
 */
const STEADY_FROM_SECONDS = WINDOW_SECONDS - 30;
const TARGET_SYNC_BYTES = 64 * 1024;

/** Tenant k (from 0) reaches this share of the isolates and holds this share of the revocations. */
const tenantShare = (tenant: number) => 1 / (tenant + 1);
const tenantName = (tenant: number) => `bench-tenant-${tenant}`;

export interface RegistryRow {
  isolates: number;
  /** Busiest simulated second of the busiest tenant's list object, through the data centers' caches and without them. */
  listObjectCallsPerSecond: { fanOut: number; direct: number; directSteady: number };
  /** Busiest simulated second of the busiest usage object. */
  usageObjectCallsPerSecond: number;
  /** Busiest simulated second of any user's SessionFamilies object. */
  userObjectCallsPerSecond: number;
  /** The largest answer of one call: a list page, a user copy. */
  maxSyncBytes: { revocationPage: number; userCopy: number };
  /** The largest tenant's first sync, every page together. */
  largestFirstSyncBytes: number;
  entriesPerIsolate: { mean: number; max: number };
  sessionRevocationDelayP99Seconds: number;
  keyRevocationDelayP99Seconds: { fanOut: number; direct: number };
  /** Calls a second the busiest list object answered here when its busiest simulated second was replayed. */
  listObjectServedPerSecond: number;
}
interface Options {
  bundle: WorkerBundle;
  compatibility: Compatibility;
  persistDir: string;
  port: number;
  seed: number;
  log: (message: string) => void;
}

interface Answer {
  answer: unknown;
  bytes: number;
}

const percentile = (values: number[], share: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))] ?? 0;
};

/** Next time at or after `t` of a schedule `phase + k × period`. */
const nextTick = (t: number, phase: number, period: number) => phase + period * Math.ceil((t - phase) / period);

export async function runRegistryBench(options: Options): Promise<RegistryRow[]> {
  const config = workerConfig({
    name: "registry",
    bundle: options.bundle,
    compatibility: options.compatibility,
    bindings: {},
    durableObjects: { KEY_REGISTRY: "KeyRegistry", SESSION_FAMILIES: "SessionFamilies" },
  });
  const miniflare = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    logRequests: false,
    resourcePersistencePath: options.persistDir,
    telemetry: { enabled: false },
    workers: [{ config, dev: { unsafeDirectSockets: [{ host: "127.0.0.1", port: options.port }] } }],
  });
  const callLatenciesMs: number[] = [];
  const call = async (ops: RegistryOp[]): Promise<Answer[]> => {
    const answers: Answer[] = [];
    for (let start = 0; start < ops.length; start += BATCH) {
      const batch = ops.slice(start, start + BATCH);
      const startedMs = performance.now();
      const response = await fetch(`http://127.0.0.1:${options.port}/`, {
        method: "POST",
        body: JSON.stringify(batch),
        signal: AbortSignal.timeout(60_000),
      });
      if (!response.ok) throw new Error(`registry driver: ${response.status} ${await response.text()}`);
      answers.push(...((await response.json()) as Answer[]));
      // A batch runs its calls concurrently: its time is what one call waited, at that concurrency.
      callLatenciesMs.push(performance.now() - startedMs);
    }
    return answers;
  };
  try {
    await miniflare.ready;
    const random = seededRandom(options.seed);
    const t0 = Math.floor(Date.now() / 1000);

    // Revocations spread over the tenants as their traffic is: the largest holds the most.
    const shareSum = Array.from({ length: TENANTS }, (_, tenant) => tenantShare(tenant)).reduce((a, b) => a + b, 0);
    const tenantOfEntry = (index: number, count: number) => {
      let threshold = ((index + 0.5) / count) * shareSum;
      for (let tenant = 0; tenant < TENANTS; tenant++) {
        threshold -= tenantShare(tenant);
        if (threshold <= 0) return tenant;
      }
      return TENANTS - 1;
    };
    options.log(`revoking ${REVOKED_KEYS} keys and ${REVOKED_USERS} users' tokens over ${TENANTS} tenants…`);
    await call([
      ...Array.from(
        { length: REVOKED_KEYS },
        (_, i): RegistryOp => ({
          op: "revoke",
          tenant: tenantName(tenantOfEntry(i, REVOKED_KEYS)),
          kind: "key",
          subject: `bench-key-${i}`,
          atMs: t0 * 1000,
        }),
      ),
      ...Array.from(
        { length: REVOKED_USERS },
        (_, i): RegistryOp => ({
          op: "revoke",
          tenant: tenantName(tenantOfEntry(i, REVOKED_USERS)),
          kind: "user",
          subject: `bench_user_${i}`,
          atMs: t0 * 1000,
        }),
      ),
    ]);
    // A new isolate's first sync of each tenant: every page from 0, all tenants at once.
    const tenantEntries = new Array<number>(TENANTS).fill(0);
    const tenantSeq = new Array<number>(TENANTS).fill(0);
    const firstSyncBytes = new Array<number>(TENANTS).fill(0);
    let maxPageBytes = 0;
    let pages = 0;
    for (let behind = [...tenantEntries.keys()]; behind.length > 0; ) {
      const answers = await call(
        behind.map((tenant) => ({ op: "since", tenant: tenantName(tenant), seq: tenantSeq[tenant]! })),
      );
      const next: number[] = [];
      answers.forEach((answer, index) => {
        const tenant = behind[index]!;
        const batch = answer.answer as { seq: number; entries: unknown[]; more: boolean };
        maxPageBytes = Math.max(maxPageBytes, answer.bytes);
        firstSyncBytes[tenant]! += answer.bytes;
        tenantEntries[tenant]! += batch.entries.length;
        tenantSeq[tenant] = batch.seq;
        pages++;
        if (batch.more) next.push(tenant);
      });
      behind = next;
    }
    const largestFirstSyncBytes = Math.max(...firstSyncBytes);
    options.log(
      `first sync of every tenant: ${pages} pages, ${tenantEntries.reduce((a, b) => a + b, 0)} entries, the largest tenant ${tenantEntries[0]} entries in ${largestFirstSyncBytes} B, largest page ${maxPageBytes} B`,
    );

    // Users: sign in within the first 10 s, refresh every 30 s, some sign out. All made for real, in time order.
    options.log(
      `${USERS} users signing in, refreshing every ${SESSION_REFRESH_SECONDS} s, ${SIGN_OUT_SHARE * 100}% signing out…`,
    );
    const users = Array.from({ length: USERS }, (_, i) => {
      const signInAt = random() * 10;
      const signOutAt = random() < SIGN_OUT_SHARE ? 30 + random() * 80 : Number.POSITIVE_INFINITY;
      return { name: `bench_user_${i}`, family: crypto.randomUUID(), signInAt, signOutAt, generation: 1 };
    });
    type Action = { at: number; user: (typeof users)[number]; kind: "start" | "rotate" | "end" };
    const actions: Action[] = [];
    for (const user of users) {
      actions.push({ at: user.signInAt, user, kind: "start" });
      for (
        let at = user.signInAt + SESSION_REFRESH_SECONDS;
        at < Math.min(WINDOW_SECONDS, user.signOutAt);
        at += SESSION_REFRESH_SECONDS
      )
        actions.push({ at, user, kind: "rotate" });
      if (user.signOutAt < WINDOW_SECONDS) actions.push({ at: user.signOutAt, user, kind: "end" });
    }
    actions.sort((a, b) => a.at - b.at);
    const userCalls = new Map<string, number[]>();
    const count = (key: string, at: number) => {
      const buckets = userCalls.get(key) ?? new Array<number>(WINDOW_SECONDS).fill(0);
      buckets[Math.floor(at)]! += 1;
      userCalls.set(key, buckets);
    };
    let refused = 0;
    // Calls of one second run concurrently, seconds one after another: a user's actions never overtake each other.
    for (let second = 0; second < WINDOW_SECONDS; second++) {
      const now = actions.filter((action) => Math.floor(action.at) === second);
      const answers = await call(
        now.map((action): RegistryOp => {
          const nowSeconds = t0 + Math.floor(action.at);
          count(action.user.name, action.at);
          if (action.kind === "start")
            return {
              op: "start",
              user: action.user.name,
              family: action.user.family,
              tenant: "acme",
              authSeconds: nowSeconds,
              endsSeconds: nowSeconds + 43_200,
              nowSeconds,
            };
          if (action.kind === "rotate")
            return {
              op: "rotate",
              user: action.user.name,
              family: action.user.family,
              generation: action.user.generation,
              nowSeconds,
            };
          return { op: "end", user: action.user.name, family: action.user.family };
        }),
      );
      answers.forEach((answer, index) => {
        const action = now[index]!;
        if (action.kind !== "rotate") return;
        const rotation = answer.answer as { outcome: string; generation?: number };
        if (rotation.outcome === "rotated") action.user.generation = rotation.generation!;
        else refused++;
      });
    }
    if (refused > 0) throw new Error(`${refused} rotations of live sessions were refused`);

    // Each user's isolates refresh their copy every 20 s at a random phase: counted for all, made for real for a sample.
    const copyPhases = users.map(() =>
      Array.from({ length: ISOLATES_PER_USER }, () => random() * SESSION_COPY_SECONDS),
    );
    users.forEach((user, index) => {
      for (const phase of copyPhases[index]!)
        for (let at = phase; at < WINDOW_SECONDS; at += SESSION_COPY_SECONDS) count(user.name, at);
    });
    const copyOps: RegistryOp[] = [];
    for (const user of users.slice(0, SAMPLED_USERS)) {
      for (let at = 0; at < WINDOW_SECONDS; at += SESSION_COPY_SECONDS)
        for (let j = 0; j < ISOLATES_PER_USER; j++) copyOps.push({ op: "live", user: user.name, nowSeconds: t0 + at });
    }
    const copies = await call(copyOps);
    const maxCopyBytes = Math.max(...copies.map((copy) => copy.bytes));
    const maxFamilies = Math.max(...copies.map((copy) => (copy.answer as unknown[]).length));
    const userObjectCallsPerSecond = Math.max(...[...userCalls.values()].map((buckets) => Math.max(...buckets)));

    // Sign-out to the next copy refresh of each isolate serving the user.
    const callP99Seconds = percentile(callLatenciesMs, 0.99) / 1000;
    const sessionDelays: number[] = [];
    users.forEach((user, index) => {
      if (user.signOutAt >= WINDOW_SECONDS) return;
      for (const phase of copyPhases[index]!)
        sessionDelays.push(nextTick(user.signOutAt, phase, SESSION_COPY_SECONDS) - user.signOutAt + callP99Seconds);
    });

    const rows: RegistryRow[] = [];
    for (const isolates of REGISTRY_ISOLATE_COUNTS) {
      const perDataCenter = Math.ceil(isolates / DATA_CENTERS);
      const fanOutBuckets = Array.from({ length: TENANTS }, () => new Array<number>(WINDOW_SECONDS).fill(0));
      const directBuckets = Array.from({ length: TENANTS }, () => new Array<number>(WINDOW_SECONDS).fill(0));
      const fanOutDelays: number[] = [];
      const directDelays: number[] = [];
      const pairs = Array.from({ length: TENANTS }, (_, tenant) => isolates * Math.min(1, tenantShare(tenant))).reduce(
        (a, b) => a + b,
        0,
      );
      const delayShare = DELAY_SAMPLES / pairs;
      // One tenant and one data center at a time: the isolates there serving the tenant, each
      // syncing from a random phase at a refresh age drawn anew at each sync.
      for (let tenant = 0; tenant < TENANTS; tenant++) {
        for (let colo = 0; colo < DATA_CENTERS; colo++) {
          const schedules: number[][] = [];
          for (let i = 0; i < perDataCenter && colo + i * DATA_CENTERS < isolates; i++) {
            if (random() >= tenantShare(tenant)) continue;
            const syncs: number[] = [];
            for (let at = random() * REFRESH_MIN_SECONDS; at < WINDOW_SECONDS; ) {
              syncs.push(at);
              at += REFRESH_MIN_SECONDS + random() * REFRESH_JITTER_SECONDS;
            }
            schedules.push(syncs);
          }
          const all = schedules.flat().sort((a, b) => a - b);
          const calls: number[] = [];
          for (const at of all) {
            directBuckets[tenant]![Math.floor(at)]! += 1;
            if (calls.length === 0 || at - calls.at(-1)! >= COLO_CACHE_SECONDS) calls.push(at);
          }
          for (const at of calls) fanOutBuckets[tenant]![Math.floor(at)]! += 1;
          // From a revocation at a random time to this isolate's first sync that sees it.
          for (const syncs of schedules) {
            if (random() >= delayShare) continue;
            // Early enough in the window that the slowest sync after it still falls inside.
            const revokedAt = random() * (WINDOW_SECONDS - 2 * (REFRESH_MIN_SECONDS + REFRESH_JITTER_SECONDS));
            const direct = syncs.find((at) => at >= revokedAt);
            if (direct !== undefined) directDelays.push(direct - revokedAt + callP99Seconds);
            const seen = syncs.find(
              (at) => at >= revokedAt && (calls.filter((callAt) => callAt <= at).at(-1) ?? -1) >= revokedAt,
            );
            fanOutDelays.push(seen === undefined ? Number.POSITIVE_INFINITY : seen - revokedAt + callP99Seconds);
          }
        }
      }
      const busiestSecond = (buckets: number[][], from = 0) =>
        Math.max(...buckets.map((perSecond) => Math.max(...perSecond.slice(from))));
      const busiestTenant = fanOutBuckets.reduce(
        (best, perSecond, tenant) => (Math.max(...perSecond) > Math.max(...fanOutBuckets[best]!) ? tenant : best),
        0,
      );
      const busiestTenantSecond = fanOutBuckets[busiestTenant]!.reduce(
        (best, calls, second, perSecond) => (calls > perSecond[best]! ? second : best),
        0,
      );
      const usage = Array.from({ length: USAGE_SHARDS }, () => new Array<number>(WINDOW_SECONDS).fill(0));
      for (let i = 0; i < isolates; i++) {
        const shard = usage[Math.floor(random() * USAGE_SHARDS)]!;
        const phase = random() * USAGE_FLUSH_SECONDS;
        for (let at = phase; at < WINDOW_SECONDS; at += USAGE_FLUSH_SECONDS) shard[Math.floor(at)]! += 1;
      }
      const usageObjectCallsPerSecond = busiestSecond(usage);
      // The busiest list object's busiest second for real: each page fetch asks from its newest sequence number (a caught-up data center).
      const replay: RegistryOp[] = Array.from(
        { length: Math.max(fanOutBuckets[busiestTenant]![busiestTenantSecond]!, 1) },
        () => ({ op: "since", tenant: tenantName(busiestTenant), seq: tenantSeq[busiestTenant]! }),
      );
      const startedMs = performance.now();
      const replayed = await call(replay);
      const listObjectServedPerSecond = replay.length / ((performance.now() - startedMs) / 1000);
      // Entries one isolate holds: the copies of the tenants whose traffic reaches it.
      const held = Array.from({ length: SAMPLED_ISOLATES }, () =>
        tenantEntries.reduce((sum, entries, tenant) => sum + (random() < tenantShare(tenant) ? entries : 0), 0),
      );
      const usersPerIsolate = Math.ceil((USERS * ISOLATES_PER_USER) / isolates);
      rows.push({
        isolates,
        listObjectCallsPerSecond: {
          fanOut: busiestSecond(fanOutBuckets),
          direct: busiestSecond(directBuckets),
          // The rate the refresh jitter keeps once isolates that started together have drifted apart.
          directSteady: busiestSecond(directBuckets, STEADY_FROM_SECONDS),
        },
        usageObjectCallsPerSecond,
        userObjectCallsPerSecond,
        maxSyncBytes: {
          revocationPage: Math.max(maxPageBytes, ...replayed.map((answer) => answer.bytes)),
          userCopy: maxCopyBytes,
        },
        largestFirstSyncBytes,
        entriesPerIsolate: {
          mean: Math.round(held.reduce((a, b) => a + b, 0) / held.length) + usersPerIsolate * maxFamilies,
          max: Math.max(...held) + usersPerIsolate * maxFamilies,
        },
        sessionRevocationDelayP99Seconds: percentile(sessionDelays, 0.99),
        keyRevocationDelayP99Seconds: {
          fanOut: percentile(fanOutDelays, 0.99),
          direct: percentile(directDelays, 0.99),
        },
        listObjectServedPerSecond,
      });
      options.log(
        `${isolates} isolates: busiest list object ${busiestSecond(fanOutBuckets)} calls/s through the caches, ${busiestSecond(directBuckets)} without (served ${Math.round(listObjectServedPerSecond)}/s here), usage object ${usageObjectCallsPerSecond}/s`,
      );
    }
    return rows;
  } finally {
    await miniflare.dispose();
  }
}

const over = (value: number, target: number, what: string) => (value > target ? ` (over ${what})` : "");

export function formatRegistryTable(rows: RegistryRow[]): string {
  const header = [
    "isolates",
    "busiest list object calls/s (fan-out / no Cache API / no Cache API, last 30 s)",
    "busiest usage object calls/s",
    "busiest user object calls/s",
    "largest sync call (list page / user copy)",
    "largest tenant's first sync",
    "entries per isolate (mean / most)",
    "revocation delay p99 (session / key / key, no Cache API)",
    "list object served here",
  ];
  const lines = rows.map((row) => [
    row.isolates.toLocaleString("en-US"),
    `${row.listObjectCallsPerSecond.fanOut.toLocaleString("en-US")}${over(row.listObjectCallsPerSecond.fanOut, TARGET_CALLS_PER_SECOND, "500")} / ${row.listObjectCallsPerSecond.direct.toLocaleString("en-US")}${over(row.listObjectCallsPerSecond.direct, TARGET_CALLS_PER_SECOND, "500")} / ${row.listObjectCallsPerSecond.directSteady.toLocaleString("en-US")}${over(row.listObjectCallsPerSecond.directSteady, TARGET_CALLS_PER_SECOND, "500")}`,
    `${row.usageObjectCallsPerSecond}${over(row.usageObjectCallsPerSecond, TARGET_CALLS_PER_SECOND, "500")}`,
    String(row.userObjectCallsPerSecond),
    `${(row.maxSyncBytes.revocationPage / 1024).toFixed(1)} KB${over(row.maxSyncBytes.revocationPage, TARGET_SYNC_BYTES, "64 KB")} / ${row.maxSyncBytes.userCopy} B`,
    `${(row.largestFirstSyncBytes / 1024).toFixed(1)} KB`,
    `${row.entriesPerIsolate.mean.toLocaleString("en-US")} / ${row.entriesPerIsolate.max.toLocaleString("en-US")}`,
    `${row.sessionRevocationDelayP99Seconds.toFixed(1)} s / ${row.keyRevocationDelayP99Seconds.fanOut.toFixed(1)} s / ${row.keyRevocationDelayP99Seconds.direct.toFixed(1)} s`,
    `${Math.round(row.listObjectServedPerSecond).toLocaleString("en-US")}/s`,
  ]);
  return [header, header.map(() => "---"), ...lines].map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}
