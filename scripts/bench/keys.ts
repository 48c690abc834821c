/**
 * For `npm run bench -- --keys`: 10,000 signed API keys (as `POST /admin/keys` would sign them,
 * under the bench's own signing secret), written one per line for keys.lua, and what an instance
 * costs to start and holds in memory. The worker stores nothing per signed key, so the figures to
 * watch are verification CPU per request against the single legacy key of `full-admitted`, and
 * the isolate's memory once it has seen every key (its last-used table holds one entry per id).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { signApiKey } from "../../src/auth/api-keys.ts";

export const BENCH_SIGNING_SECRET = { kid: "bench", secret: "bench-signing-secret-not-a-secret-0123456789" } as const;

export interface SignedKeys {
  /** One key per line; keys.lua reads it through BENCH_KEYS_FILE. */
  file: string;
  first: string;
  count: number;
}

export async function mintSignedKeys(file: string, count: number, tenant: string): Promise<SignedKeys> {
  const issuedAtSeconds = Math.floor(Date.now() / 1000);
  const keys: string[] = [];
  for (let index = 0; index < count; index++) {
    keys.push(
      await signApiKey(
        { id: `bench-${String(index).padStart(5, "0")}`, tenant, scopes: ["metrics:read"] },
        issuedAtSeconds,
        BENCH_SIGNING_SECRET,
      ),
    );
  }
  writeFileSync(file, `${keys.join("\n")}\n`, { mode: 0o600 });
  return { file, first: keys[0]!, count };
}

export interface ResidentMemory {
  /** VmRSS: everything resident. */
  totalKiB: number;
  /** RssAnon: the process's own heap (isolates, objects' memory). */
  anonymousKiB: number;
  /** RssShmem: shared memory it maps; here the Durable Objects' SQLite files on tmpfs. */
  sharedKiB: number;
}

/** Resident memory of a process (the instance's workerd), in KiB, split as /proc reports it. */
export function residentMemory(pid: number): ResidentMemory {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(status);
    if (!match) throw new Error(`no ${name} for process ${pid}`);
    return Number(match[1]);
  };
  return { totalKiB: field("VmRSS"), anonymousKiB: field("RssAnon"), sharedKiB: field("RssShmem") };
}

export interface StartupFigures {
  instance: string;
  /** From asking Miniflare to start the instance until its socket is up. */
  readyMillis: number;
  /** The first request: a new isolate loads the bundle, parses the config and builds the app. */
  firstResponseMillis: number;
  /** The second request, for comparison: the same work without the isolate's start. */
  secondResponseMillis: number;
  memoryAtStart: ResidentMemory;
  memoryAfterLoad?: ResidentMemory;
}

/** Times the first two requests of a freshly started instance. */
export async function firstResponses(url: string, headers: Record<string, string>): Promise<[number, number]> {
  const timed = async () => {
    const started = performance.now();
    const response = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`${url}: ${response.status} on a start-up probe`);
    return performance.now() - started;
  };
  return [await timed(), await timed()];
}
