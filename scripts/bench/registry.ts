/**
 * `npm run bench -- --registry`: the registry objects at 1,000, 10,000 and 100,000 simulated
 * isolates spread over 300 data centers. Each isolate calls at the real intervals (src/keys/
 * revocations.ts, colo-cache.ts, session-states.ts, src/app.ts: a revocation sync every 20 s that
 * reaches the object only when its data center's cached page is 10 s old, a usage batch every
 * 5 min to one of 8 usage objects, a copy of each user it serves every 20 s, all under steady traffic) with a seeded random
 * phase; simulated users sign in,
 * refresh every 30 s and some sign out. Calls per object and second come from that schedule over
 * a two-minute window; every call of the users, of a sample of isolates' user copies, and the
 * revocation syncs of the busiest simulated second of the one KeyRegistry object are made for real against the
 * project's own objects (scripts/bench/workers/registry-driver.ts), for the bytes each answer
 * holds, the entries an isolate keeps and the time calls take here. The revocation delay is the
 * time from a sign-out (or a key revocation) to the first sync of each isolate concerned that sees
 * it (for keys: through a data center's page produced after it), plus the measured p99 of a call.
 */
import { Miniflare } from "miniflare";
import { seededRandom } from "../lib/seeded-random.ts";
import { type Compatibility, projectVariant, type WorkerBundle } from "./build.ts";
import { workerConfig } from "./miniflare.ts";
import type { RegistryOp } from "./registry-ops.ts";

/** The project's registry classes behind the driver's fetch handler. */
export const REGISTRY_BUNDLE = projectVariant(
  (from) =>
    `export { KeyRegistry, RateLimiter, SessionFamilies } from ${from("src/index.ts")};\nexport { default } from ${from("scripts/bench/workers/registry-driver.ts")};\n`,
);

export const REGISTRY_ISOLATE_COUNTS = [1_000, 10_000, 100_000];
const WINDOW_SECONDS = 120;
const REVOCATION_SYNC_SECONDS = 20;
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
const REVOKED_KEYS = 2_000;
const REVOKED_USERS = 500;
const BATCH = 250;
const TARGET_CALLS_PER_SECOND = 500;

export interface RegistryRow {
  isolates: number;
  /** Busiest simulated second of the one KeyRegistry object: data centers' page fetches. */
  keyRegistryCallsPerSecond: number;
  /** Busiest simulated second of the busiest usage object. */
  usageObjectCallsPerSecond: number;
  /** Busiest simulated second of any user's SessionFamilies object. */
  userObjectCallsPerSecond: number;
  maxSyncBytes: { revocationPage: number; userCopy: number };
  entriesPerIsolate: number;
  sessionRevocationDelayP99Seconds: number;
  keyRevocationDelayP99Seconds: number;
  /** Calls a second the KeyRegistry object answered here when its busiest simulated second was replayed. */
  keyRegistryServedPerSecond: number;
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

    options.log(`revoking ${REVOKED_KEYS} keys and ${REVOKED_USERS} users' tokens…`);
    await call([
      ...Array.from(
        { length: REVOKED_KEYS },
        (_, i): RegistryOp => ({ op: "revoke", kind: "key", subject: `bench-key-${i}`, atMs: t0 * 1000 }),
      ),
      ...Array.from(
        { length: REVOKED_USERS },
        (_, i): RegistryOp => ({ op: "revoke", kind: "user", subject: `bench_user_${i}`, atMs: t0 * 1000 }),
      ),
    ]);
    // A new isolate's first sync: every page from 0.
    let seq = 0;
    let pages = 0;
    let listEntries = 0;
    let maxPageBytes = 0;
    for (let more = true; more; pages++) {
      const [page] = await call([{ op: "since", seq }]);
      const batch = page!.answer as { seq: number; entries: unknown[]; more: boolean };
      maxPageBytes = Math.max(maxPageBytes, page!.bytes);
      listEntries += batch.entries.length;
      seq = batch.seq;
      more = batch.more;
    }
    options.log(`a new isolate's first sync: ${pages} pages, ${listEntries} entries, largest page ${maxPageBytes} B`);

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
      // Each isolate syncs every 20 s from its phase; its data center calls the object only when its page is 10 s old.
      const syncPhases = Array.from({ length: isolates }, () => random() * REVOCATION_SYNC_SECONDS);
      const coloOf = (isolate: number) => isolate % DATA_CENTERS;
      const coloSyncs: number[][] = Array.from({ length: DATA_CENTERS }, () => []);
      syncPhases.forEach((phase, isolate) => {
        for (let at = phase; at < WINDOW_SECONDS; at += REVOCATION_SYNC_SECONDS) coloSyncs[coloOf(isolate)]!.push(at);
      });
      const coloCalls = coloSyncs.map((syncs) => {
        const calls: number[] = [];
        for (const at of syncs.sort((a, b) => a - b))
          if (calls.length === 0 || at - calls.at(-1)! >= COLO_CACHE_SECONDS) calls.push(at);
        return calls;
      });
      const buckets = new Array<number>(WINDOW_SECONDS).fill(0);
      for (const calls of coloCalls) for (const at of calls) buckets[Math.floor(at)]! += 1;
      const usage = Array.from({ length: USAGE_SHARDS }, () => new Array<number>(WINDOW_SECONDS).fill(0));
      for (let i = 0; i < isolates; i++) {
        const shard = usage[Math.floor(random() * USAGE_SHARDS)]!;
        const phase = random() * USAGE_FLUSH_SECONDS;
        for (let at = phase; at < WINDOW_SECONDS; at += USAGE_FLUSH_SECONDS) shard[Math.floor(at)]! += 1;
      }
      const usageObjectCallsPerSecond = Math.max(...usage.map((shard) => Math.max(...shard)));
      const busiest = buckets.reduce((best, calls, second) => (calls > buckets[best]! ? second : best), 0);
      const keyRegistryCallsPerSecond = buckets[busiest]!;
      // The busiest second for real: each page fetch asks from the newest sequence number (a caught-up data center).
      const replay: RegistryOp[] = Array.from({ length: Math.max(buckets[busiest]!, 1) }, () => ({ op: "since", seq }));
      const startedMs = performance.now();
      const replayed = await call(replay);
      const keyRegistryServedPerSecond = replay.length / ((performance.now() - startedMs) / 1000);
      const revocationPage = Math.max(maxPageBytes, ...replayed.map((answer) => answer.bytes));
      // Key revocations: from a revocation at a random time to an isolate's first sync reading a page made after it.
      const keyDelays = Array.from({ length: 10_000 }, () => {
        const revokedAt = random() * (WINDOW_SECONDS - 3 * REVOCATION_SYNC_SECONDS);
        const isolate = Math.floor(random() * isolates);
        const calls = coloCalls[coloOf(isolate)]!;
        for (
          let at = nextTick(revokedAt, syncPhases[isolate]!, REVOCATION_SYNC_SECONDS);
          at < WINDOW_SECONDS;
          at += REVOCATION_SYNC_SECONDS
        ) {
          const producedAt = calls.filter((callAt) => callAt <= at).at(-1) ?? Number.NEGATIVE_INFINITY;
          if (producedAt >= revokedAt) return at - revokedAt + callP99Seconds;
        }
        return Number.POSITIVE_INFINITY;
      });
      const usersPerIsolate = Math.ceil((USERS * ISOLATES_PER_USER) / isolates);
      rows.push({
        isolates,
        keyRegistryCallsPerSecond,
        usageObjectCallsPerSecond,
        userObjectCallsPerSecond,
        maxSyncBytes: { revocationPage, userCopy: maxCopyBytes },
        entriesPerIsolate: listEntries + usersPerIsolate * maxFamilies,
        sessionRevocationDelayP99Seconds: percentile(sessionDelays, 0.99),
        keyRevocationDelayP99Seconds: percentile(keyDelays, 0.99),
        keyRegistryServedPerSecond,
      });
      options.log(
        `${isolates} isolates: KeyRegistry ${keyRegistryCallsPerSecond} calls/s in its busiest second (served ${Math.round(keyRegistryServedPerSecond)}/s here), usage object ${usageObjectCallsPerSecond}/s`,
      );
    }
    return rows;
  } finally {
    await miniflare.dispose();
  }
}

export function formatRegistryTable(rows: RegistryRow[]): string {
  const header = [
    "isolates",
    "KeyRegistry calls/s",
    "busiest usage object calls/s",
    "busiest user object calls/s",
    "largest sync (list page / user copy)",
    "entries per isolate",
    "revocation delay p99 (session / key)",
    "KeyRegistry served here",
  ];
  const lines = rows.map((row) => [
    row.isolates.toLocaleString("en-US"),
    `${row.keyRegistryCallsPerSecond.toLocaleString("en-US")}${row.keyRegistryCallsPerSecond > TARGET_CALLS_PER_SECOND ? " (over 500)" : ""}`,
    `${row.usageObjectCallsPerSecond}${row.usageObjectCallsPerSecond > TARGET_CALLS_PER_SECOND ? " (over 500)" : ""}`,
    String(row.userObjectCallsPerSecond),
    `${(row.maxSyncBytes.revocationPage / 1024).toFixed(1)} KB / ${row.maxSyncBytes.userCopy} B`,
    row.entriesPerIsolate.toLocaleString("en-US"),
    `${row.sessionRevocationDelayP99Seconds.toFixed(1)} s / ${row.keyRevocationDelayP99Seconds.toFixed(1)} s`,
    `${Math.round(row.keyRegistryServedPerSecond).toLocaleString("en-US")}/s`,
  ]);
  return [header, header.map(() => "---"), ...lines].map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}
