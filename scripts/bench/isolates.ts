/**
 * `npm run bench -- --isolates`: the limiter across isolates, on the real worker bundle. One
 * workerd runs N copies of the worker (N workers, so N V8 isolates, each with its own lease
 * tables and deny cache), all bound to the one `RateLimiter` namespace that the first exports.
 * One client is routed over them by seeded patterns; the bench reports how many requests were
 * admitted against the limit (over-admits must be 0) and how many calls the client's limiter
 * object served per admitted request (its objects count them: see CountingRateLimiter).
 */
import { Miniflare } from "miniflare";
import { seededRandom } from "../lib/seeded-random.ts";
import type { Compatibility, WorkerBundle } from "./build.ts";
import { freshClientIp } from "./clients.ts";
import { type BindingContext, MAIN_DURABLE_OBJECTS, mainWorkerBindings } from "./instances.ts";
import { workerConfig } from "./miniflare.ts";

export interface IsolatePatternResult {
  pattern: string;
  isolates: number;
  requests: number;
  limit: number;
  admitted: number;
  overAdmitted: number;
  objectCalls: number;
  objectCallsPerAdmitted: number;
}

type Route = (i: number, random: () => number, isolates: number) => number;

interface Pattern {
  name: string;
  isolates: number;
  requests: number;
  route: Route;
  concurrent?: boolean;
  /** The per-key 1000/hour policy instead of the per-IP 100/minute one. */
  apiKeyPolicy?: boolean;
}

const spread: Route = (_i, random, isolates) => Math.floor(random() * isolates);
const PATTERNS: Pattern[] = [
  { name: "sticky", isolates: 1, requests: 150, route: () => 0 },
  ...[10, 25, 50].map((isolates) => ({ name: "random spread", isolates, requests: 150, route: spread })),
  { name: "round-robin", isolates: 25, requests: 150, route: (i, _random, isolates) => i % isolates },
  { name: "touch-then-stick", isolates: 25, requests: 150, route: (i, _random, isolates) => (i < isolates ? i : 0) },
  { name: "concurrent flood", isolates: 25, requests: 1000, route: spread, concurrent: true },
  { name: "random spread, key 1000/hour", isolates: 25, requests: 1100, route: spread, apiKeyPolicy: true },
];

const API_LIMIT = 100;
const KEY_LIMIT = 1000;
const LIMITED_KEY_ID = "bench-spread";

export interface IsolatesBenchOptions {
  bundle: WorkerBundle;
  compatibility: Compatibility;
  basePort: number;
  persistDir: string;
  apiKeys: { plain: BindingContext["apiKey"]; limited: BindingContext["apiKey"] };
  seed: number;
  log: (message: string) => void;
}

export async function runIsolatesBench(options: IsolatesBenchOptions): Promise<IsolatePatternResult[]> {
  const maxIsolates = Math.max(...PATTERNS.map((pattern) => pattern.isolates));
  const ports = Array.from({ length: maxIsolates }, (_, index) => options.basePort + index);
  const owner = "isolate-0";
  const workers = ports.map((port, index) => {
    const context: BindingContext = { port, apiKey: options.apiKeys.plain };
    const bindings = {
      ...mainWorkerBindings(context, `${API_LIMIT}/minute`),
      API_KEYS: JSON.stringify([
        {
          id: options.apiKeys.plain.id,
          digest: options.apiKeys.plain.sha256Hex,
          tenant: "acme",
          scopes: ["metrics:read"],
        },
        {
          id: LIMITED_KEY_ID,
          digest: options.apiKeys.limited.sha256Hex,
          tenant: "acme",
          scopes: ["metrics:read"],
          rate_limit: `${KEY_LIMIT}/hour`,
        },
      ]),
    };
    const name = `isolate-${index}`;
    const config = workerConfig({
      name,
      bundle: options.bundle,
      compatibility: options.compatibility,
      bindings,
      durableObjects: index === 0 ? MAIN_DURABLE_OBJECTS : {},
    });
    // Every other isolate binds the first one's classes: one namespace each, as in production.
    const shared = Object.fromEntries(
      Object.entries(MAIN_DURABLE_OBJECTS).map(([binding, className]) => [
        binding,
        { type: "durable-object" as const, worker: owner, exportName: className },
      ]),
    );
    const env = index === 0 ? config.env : { ...config.env, ...shared };
    return { config: { ...config, env }, dev: { unsafeDirectSockets: [{ host: "127.0.0.1", port }] } };
  });
  const miniflare = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    logRequests: false,
    resourcePersistencePath: options.persistDir,
    telemetry: { enabled: false },
    workers,
  });
  try {
    await miniflare.ready;
    options.log(`${maxIsolates} isolates of the worker in one workerd, one RateLimiter namespace`);
    const results: IsolatePatternResult[] = [];
    for (const pattern of PATTERNS) {
      results.push(await runPattern(pattern, ports, options));
      const last = results.at(-1)!;
      options.log(
        `${pattern.name} over ${pattern.isolates}: ${last.admitted}/${last.limit} admitted, ${last.objectCallsPerAdmitted.toFixed(2)} object calls per admitted request`,
      );
    }
    return results;
  } finally {
    await miniflare.dispose();
  }
}

async function runPattern(
  pattern: Pattern,
  ports: number[],
  options: IsolatesBenchOptions,
): Promise<IsolatePatternResult> {
  const random = seededRandom(options.seed);
  const clientIp = freshClientIp();
  const key = pattern.apiKeyPolicy ? options.apiKeys.limited.key : options.apiKeys.plain.key;
  // The key pattern comes from many addresses, so that only the key's own limit binds.
  const addressOf = (i: number) => (pattern.apiKeyPolicy ? `198.18.1.${(i % 200) + 1}` : clientIp);
  const send = async (i: number) => {
    const port = ports[pattern.route(i, random, pattern.isolates)]!;
    let response: Response;
    try {
      response = await fetch(`http://127.0.0.1:${port}/auth/me`, {
        headers: { "X-API-Key": key, "CF-Connecting-IP": addressOf(i) },
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      throw new Error(
        `${pattern.name}: request ${i} to port ${port} failed: ${String((error as Error).cause ?? error)}`,
      );
    }
    await response.arrayBuffer();
    if (response.status !== 200 && response.status !== 429)
      throw new Error(`${pattern.name}: request ${i} answered ${response.status}`);
    return response.status === 200;
  };
  let admitted = 0;
  if (pattern.concurrent) {
    admitted = (await Promise.all(Array.from({ length: pattern.requests }, (_, i) => send(i)))).filter(Boolean).length;
  } else {
    for (let i = 0; i < pattern.requests; i++) if (await send(i)) admitted++;
  }
  const objectName = pattern.apiKeyPolicy ? `api-key:key:${LIMITED_KEY_ID}` : `api:${clientKey(clientIp)}`;
  const counted = await fetch(
    `http://127.0.0.1:${ports[0]}/__bench/object-calls?name=${encodeURIComponent(objectName)}`,
  );
  const { calls } = (await counted.json()) as { calls: number };
  const limit = pattern.apiKeyPolicy ? KEY_LIMIT : API_LIMIT;
  return {
    pattern: pattern.name,
    isolates: pattern.isolates,
    requests: pattern.requests,
    limit,
    admitted,
    overAdmitted: Math.max(0, admitted - limit),
    objectCalls: calls,
    objectCallsPerAdmitted: admitted === 0 ? 0 : calls / admitted,
  };
}

const clientKey = (ip: string) => `ip:${ip}`;

export function formatIsolatesTable(results: IsolatePatternResult[]): string {
  const lines = [
    "| pattern | isolates | requests | limit | admitted | over-admitted | object calls | calls per admitted |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...results.map(
      (r) =>
        `| ${r.pattern} | ${r.isolates} | ${r.requests} | ${r.limit} | ${r.admitted} | ${r.overAdmitted} | ${r.objectCalls} | ${r.objectCallsPerAdmitted.toFixed(2)} |`,
    ),
  ];
  return lines.join("\n");
}
