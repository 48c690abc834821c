/**
 * Tenant flood (`npm run bench -- --metrics`, after the rounds; `--tenant-flood` alone): what one
 * tenant's flood of the database routes costs another tenant. Tenant B reads
 * `GET /metrics/overview` once a second on its own, then again while tenant A floods the same route
 * from 10,000 /64s of one IPv6 /48 with wrk: first on another workerd (the other isolates of the
 * edge where a flood from 10,000 addresses lands, reading the same PostgreSQL through the same SQL
 * endpoint), then on B's own isolate. The workers run the limits of wrangler.jsonc (per /64, /56,
 * /48, and the tenant budget), except the per-principal one: A stands for a tenant with many users
 * and keys.
 *
 * Prints B's p50 and p99 alone and under each flood, and A's database queries against its budget:
 * the local SQL endpoint counts every query, B's are its 200s, and the rest are A's. Each flood
 * lasts less than one budget window and is the first A sends to its worker, so it opens A's window
 * there and stays inside it.
 */
import { issueToken } from "../../src/auth/tokens.ts";
import { parseRateNotation } from "../../src/rate-limit/policy.ts";
import { BENCH_ORIGIN, BENCH_TOKENS, type InstanceName, type ShippedBudget, shippedBudget } from "./instances.ts";
import { median } from "./report.ts";
import { LUA_DIR, runWrk } from "./wrk.ts";

/** The worker instances (instances.ts): B's, and the one standing for the rest of the edge. */
export const TENANT_FLOOD_INSTANCES = {
  reader: "main-tenant-budget",
  elsewhere: "main-tenant-budget-elsewhere",
} as const satisfies Record<string, InstanceName>;
const FLOOD_PATH = "/metrics/overview?window=1h";
/** A's /64s: 10,000 of the /48 2001:db8:fa::/48, 256 to a /56. */
const FLOOD_ADDRESSES = Array.from({ length: 10_000 }, (_, n) => `2001:db8:fa:${n.toString(16)}::1`);
const READER_IP = "198.18.200.1";
/** A closed loop of this many connections: enough to keep the worker busy, few enough that B's request waits behind at most this many of A's. */
const FLOOD_CONNECTIONS = 16;
const READ_INTERVAL_MS = 1_000;

export interface ReaderFigures {
  requests: number;
  /** Responses other than 200. */
  failures: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface FloodFigures {
  /** Where A's flood ran: on other isolates than B's, or on B's own. */
  placement: "other isolates" | "B's isolate";
  readerFlooded: ReaderFigures;
  flooder: {
    requests: number;
    admitted: number;
    queries: number;
    queriesPerSecond: number;
    budgetPerWindow: number;
    budgetPerSecond: number;
    /** All database queries (A's and B's) in the busiest second of the flood. */
    busiestSecondQueries: number;
  };
}

export interface TenantFloodResult {
  floodSeconds: number;
  floodAddresses: number;
  floodConnections: number;
  budget: ShippedBudget;
  readerAlone: ReaderFigures;
  floods: FloodFigures[];
}

/** The p-th percentile by nearest rank. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** B's reads, one every second for `seconds`, each timed on its own. */
async function readOncePerSecond(url: string, headers: Record<string, string>, seconds: number) {
  const answers: Promise<{ status: number; ms: number }>[] = [];
  for (let i = 0; i < seconds; i++) {
    answers.push(
      (async () => {
        const started = performance.now();
        const response = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
        await response.arrayBuffer();
        return { status: response.status, ms: performance.now() - started };
      })(),
    );
    await new Promise((resolve) => setTimeout(resolve, READ_INTERVAL_MS));
  }
  const settled = await Promise.all(answers);
  const sorted = settled.map((answer) => answer.ms).sort((a, b) => a - b);
  const figures: ReaderFigures = {
    requests: settled.length,
    failures: settled.filter((answer) => answer.status !== 200).length,
    p50Ms: median(sorted),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.at(-1) ?? Number.NaN,
  };
  return { figures, queries: settled.filter((answer) => answer.status === 200).length };
}

/** A's flood against `floodUrl` while B reads from `readerUrl`. */
async function flood(options: {
  placement: FloodFigures["placement"];
  readerUrl: string;
  floodUrl: string;
  reader: Record<string, string>;
  flooder: Record<string, string>;
  budget: ShippedBudget;
  databaseRequests: () => number;
  floodSeconds: number;
}): Promise<FloodFigures> {
  const { readerUrl, floodUrl, reader, flooder, databaseRequests, floodSeconds } = options;
  const queriesBefore = databaseRequests();
  const perSecond: number[] = [];
  let lastCount = queriesBefore;
  const sampler = setInterval(() => {
    const count = databaseRequests();
    perSecond.push(count - lastCount);
    lastCount = count;
  }, 1_000);
  const [wrk, flooded] = await Promise.all([
    runWrk({
      url: `${floodUrl}${FLOOD_PATH}`,
      headers: flooder,
      lua: `${LUA_DIR}/client-ips.lua`,
      luaArgs: FLOOD_ADDRESSES,
      durationSeconds: floodSeconds,
      connections: FLOOD_CONNECTIONS,
      threads: 1,
      timeoutSeconds: 10,
    }),
    // B starts a second into the flood and ends before it, so every read of B meets it.
    (async () => {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      return readOncePerSecond(`${readerUrl}${FLOOD_PATH}`, reader, floodSeconds - 3);
    })(),
  ]);
  clearInterval(sampler);
  const queries = databaseRequests() - queriesBefore - flooded.queries;
  const { limit, windowMs } = parseRateNotation(options.budget.RATE_LIMIT_TENANT_QUERIES);
  return {
    placement: options.placement,
    readerFlooded: flooded.figures,
    flooder: {
      requests: wrk.requests,
      admitted: wrk.requests - wrk.non2xx3xx,
      queries,
      // Over the budget's window: the flood opens A's window and ends inside it.
      queriesPerSecond: queries / (windowMs / 1000),
      budgetPerWindow: limit,
      budgetPerSecond: limit / (windowMs / 1000),
      busiestSecondQueries: Math.max(0, ...perSecond),
    },
  };
}

export async function runTenantFlood(options: {
  /** B's worker, and another that stands for the rest of the edge. */
  urls: { reader: string; elsewhere: string };
  /** Requests the local SQL endpoint has run so far. */
  databaseRequests: () => number;
  floodSeconds: number;
  log: (message: string) => void;
}): Promise<TenantFloodResult> {
  const { urls, databaseRequests, floodSeconds, log } = options;
  const budget = shippedBudget();
  const bearer = async (sub: string, tenant: string) =>
    `Bearer ${await issueToken({ sub, tenant }, { ...BENCH_TOKENS })}`;
  const reader = {
    Authorization: await bearer("globex_bench_reader", "globex"),
    Origin: BENCH_ORIGIN,
    "CF-Connecting-IP": READER_IP,
  };
  const flooder = { Authorization: await bearer("acme_bench_flooder", "acme"), Origin: BENCH_ORIGIN };

  log(`tenant flood: tenant B alone, one read a second for ${floodSeconds} s…`);
  const alone = await readOncePerSecond(`${urls.reader}${FLOOD_PATH}`, reader, floodSeconds);
  const floods: FloodFigures[] = [];
  for (const [placement, floodUrl] of [
    ["other isolates", urls.elsewhere],
    ["B's isolate", urls.reader],
  ] as const) {
    log(
      `tenant flood: tenant A from ${FLOOD_ADDRESSES.length.toLocaleString("en")} /64s of one /48 (-c${FLOOD_CONNECTIONS}) on ${placement} while tenant B reads, ${floodSeconds} s…`,
    );
    floods.push(
      await flood({
        placement,
        readerUrl: urls.reader,
        floodUrl,
        reader,
        flooder,
        budget,
        databaseRequests,
        floodSeconds,
      }),
    );
  }
  return {
    floodSeconds,
    floodAddresses: FLOOD_ADDRESSES.length,
    floodConnections: FLOOD_CONNECTIONS,
    budget,
    readerAlone: alone.figures,
    floods,
  };
}

const fixed = (value: number, digits: number) => value.toFixed(digits);

/** The scenario's targets: B's p99 under the flood at most 1.5× alone; A's queries per second within its budget. */
export function floodVerdicts(readerAlone: ReaderFigures, flood: FloodFigures) {
  const p99Ratio = flood.readerFlooded.p99Ms / readerAlone.p99Ms;
  return {
    p99Ratio,
    readerWithinTarget: p99Ratio <= 1.5,
    flooderWithinBudget: flood.flooder.queriesPerSecond <= flood.flooder.budgetPerSecond,
  };
}

export function formatTenantFlood(result: TenantFloodResult): string {
  const { readerAlone, floods, budget } = result;
  const row = (label: string, figures: ReaderFigures, indent = "  ") =>
    `${indent}tenant B ${label}: ${figures.requests} reads, ${figures.failures} not 200; p50 ${fixed(figures.p50Ms, 1)} ms, p99 ${fixed(figures.p99Ms, 1)} ms, max ${fixed(figures.maxMs, 1)} ms`;
  const lines = [
    `tenant flood: tenant A floods ${FLOOD_PATH} from ${result.floodAddresses.toLocaleString("en")} /64s of one /48 (wrk -c${result.floodConnections}, ${result.floodSeconds} s) while tenant B reads it once a second`,
    `  limits: /56 ${budget.RATE_LIMIT_API_IPV6_56}, /48 ${budget.RATE_LIMIT_API_IPV6_48}, tenant queries ${budget.RATE_LIMIT_TENANT_QUERIES}, ${budget.TENANT_QUERY_CONCURRENCY} reads in flight per tenant and isolate`,
    row("alone", readerAlone),
  ];
  for (const flood of floods) {
    const { flooder } = flood;
    const { p99Ratio, readerWithinTarget, flooderWithinBudget } = floodVerdicts(readerAlone, flood);
    lines.push(
      `  A's flood on ${flood.placement}:`,
      row("during it", flood.readerFlooded, "    "),
      `    tenant B p99 during / alone: ${fixed(p99Ratio, 2)} (target ≤ 1.5) ${readerWithinTarget ? "met" : "MISSED"}`,
      `    tenant A: ${flooder.requests.toLocaleString("en")} requests, ${flooder.admitted.toLocaleString("en")} admitted, ${flooder.queries.toLocaleString("en")} database queries in its budget window (budget ${flooder.budgetPerWindow.toLocaleString("en")}) = ${fixed(flooder.queriesPerSecond, 1)}/s (budget ${fixed(flooder.budgetPerSecond, 1)}/s) ${flooderWithinBudget ? "within" : "OVER"}; busiest second ${flooder.busiestSecondQueries} queries (A and B)`,
    );
  }
  return lines.join("\n");
}
