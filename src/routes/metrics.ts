/**
 * `GET /metrics/overview` and `GET /metrics/timeseries` for the caller's tenant. Every parameter
 * is validated by the zod schema that also documents it; a query runs as the read-only metrics
 * role, inside a transaction scoped to the principal's tenant.
 */
import { z } from "zod";
import type { Database } from "../db/client.ts";
import { overviewTotals, streamExists, streamTimeseries, topStreams } from "../db/metrics.ts";
import { AppError } from "../errors.ts";
import { API_SECURITY, createRoute, createRouter, problem } from "../openapi.ts";

const WINDOW_SECONDS = { "15m": 900, "1h": 3_600, "24h": 86_400, "7d": 604_800 } as const;
const STEP_SECONDS = { "1m": 60, "5m": 300, "15m": 900, "1h": 3_600, "6h": 21_600, "1d": 86_400 } as const;
const MAX_POINTS = 1_440;
/**
 * Buckets are one row per stream and minute, so the span bounds the rows a request reads, not the
 * step: at most 31 days (44,640 rows) at any step, so that `step=1d` cannot cover years of minutes.
 */
const MAX_SPAN_SECONDS = 31 * 86_400;
const TOP_STREAMS = 5;

const STREAM_NAME = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,99}$/, "a stream name: lower-case letters, digits, '.', '_' or '-'")
  .meta({ example: "orders.created" });

const OverviewQuery = z
  .object({
    window: z.enum(["15m", "1h", "24h", "7d"]).default("1h").meta({ description: "How far back from now" }),
  })
  .strict();

const TimeseriesQuery = z
  .object({
    stream: STREAM_NAME,
    from: z.iso.datetime({ offset: true }).meta({ example: "2026-11-29T00:00:00Z" }),
    to: z.iso.datetime({ offset: true }).meta({ example: "2026-11-29T12:00:00Z" }),
    step: z.enum(["1m", "5m", "15m", "1h", "6h", "1d"]).default("5m"),
  })
  .strict()
  .superRefine((query, ctx) => {
    const spanMs = Date.parse(query.to) - Date.parse(query.from);
    if (spanMs <= 0) {
      ctx.addIssue({ code: "custom", path: ["to"], message: "must be after from" });
    } else if (spanMs / 1000 > MAX_SPAN_SECONDS) {
      ctx.addIssue({
        code: "custom",
        path: ["to"],
        message: `the range may span at most ${MAX_SPAN_SECONDS / 86_400} days`,
      });
    } else if (spanMs / 1000 / STEP_SECONDS[query.step] > MAX_POINTS) {
      ctx.addIssue({
        code: "custom",
        path: ["step"],
        message: `the range holds more than ${MAX_POINTS} points at this step; use a larger step or a shorter range`,
      });
    }
  });

const StreamTotals = z.object({ stream: z.string(), events: z.number().int(), error_rate: z.number() });

const Overview = z
  .object({
    tenant: z.string(),
    window: z.enum(["15m", "1h", "24h", "7d"]),
    from: z.string(),
    to: z.string(),
    events: z.number().int(),
    events_per_second: z.number(),
    bytes: z.number().int(),
    error_rate: z.number().meta({ description: "errors / events over the window; 0 when there were no events" }),
    latency_p95_ms: z.number().nullable().meta({ description: "95th percentile of the per-minute p95 latencies" }),
    active_streams: z.number().int(),
    top_streams: z.array(StreamTotals),
  })
  .meta({ id: "Overview" });

const Timeseries = z
  .object({
    stream: z.string(),
    from: z.string(),
    to: z.string(),
    step: z.string(),
    points: z.array(
      z.object({
        t: z.string(),
        events: z.number().int(),
        bytes: z.number().int(),
        errors: z.number().int(),
        latency_p50_ms: z.number(),
        latency_p95_ms: z.number(),
        latency_p99_ms: z.number(),
        consumer_lag: z.number().int(),
      }),
    ),
  })
  .meta({ id: "Timeseries" });

const AUTH_PROBLEMS = {
  400: problem("Invalid parameters"),
  401: problem("No or invalid credential"),
  403: problem("Wrong API key"),
  429: problem("Too many requests"),
  503: problem("Database unavailable"),
};

const overview = createRoute({
  method: "get",
  path: "/metrics/overview",
  operationId: "getMetricsOverview",
  tags: ["metrics"],
  summary: "Totals, error rate, latency and top streams of the caller's tenant over a recent window",
  security: API_SECURITY,
  request: { query: OverviewQuery },
  responses: {
    200: { description: "Overview", content: { "application/json": { schema: Overview } } },
    ...AUTH_PROBLEMS,
  },
});

const timeseries = createRoute({
  method: "get",
  path: "/metrics/timeseries",
  operationId: "getMetricsTimeseries",
  tags: ["metrics"],
  summary: `One stream's metrics in steps, at most ${MAX_POINTS} points over at most ${MAX_SPAN_SECONDS / 86_400} days`,
  security: API_SECURITY,
  request: { query: TimeseriesQuery },
  responses: {
    200: { description: "Time series", content: { "application/json": { schema: Timeseries } } },
    404: problem("The tenant has no such stream"),
    ...AUTH_PROBLEMS,
  },
});

const rate = (part: number, whole: number) => (whole === 0 ? 0 : part / whole);

export interface MetricsRoutesDeps {
  /** The read-only metrics role. */
  database: Database;
  clock: () => number;
}

export function createMetricsRoutes({ database, clock }: MetricsRoutesDeps) {
  return createRouter()
    .openapi(overview, async (c) => {
      const { window } = c.req.valid("query");
      // The window ends with the current minute included, so live traffic shows at once.
      const toMs = (Math.floor(clock() / 60_000) + 1) * 60_000;
      const fromMs = toMs - WINDOW_SECONDS[window] * 1000;
      const [from, to] = [new Date(fromMs).toISOString(), new Date(toMs).toISOString()];
      const [totals, top] = await database.read([overviewTotals(from, to), topStreams(from, to, TOP_STREAMS)], {
        tenant: c.get("principal").tenant,
      });
      return c.json(
        {
          tenant: c.get("principal").tenant,
          window,
          from,
          to,
          events: totals.events,
          events_per_second: totals.events / WINDOW_SECONDS[window],
          bytes: totals.bytes,
          error_rate: rate(totals.errors, totals.events),
          latency_p95_ms: totals.latencyP95Ms,
          active_streams: totals.activeStreams,
          top_streams: top.map((stream) => ({
            stream: stream.stream,
            events: stream.events,
            error_rate: rate(stream.errors, stream.events),
          })),
        },
        200,
      );
    })
    .openapi(timeseries, async (c) => {
      const query = c.req.valid("query");
      const [from, to] = [new Date(query.from).toISOString(), new Date(query.to).toISOString()];
      const [exists, points] = await database.read(
        [streamExists(query.stream), streamTimeseries(query.stream, from, to, STEP_SECONDS[query.step])],
        {
          tenant: c.get("principal").tenant,
        },
      );
      if (!exists) {
        throw new AppError({
          status: 404,
          code: "stream-not-found",
          title: "Stream not found",
          detail: "Your tenant has no stream of that name.",
        });
      }
      return c.json(
        {
          stream: query.stream,
          from,
          to,
          step: query.step,
          points: points.map((point) => ({
            t: point.t,
            events: point.events,
            bytes: point.bytes,
            errors: point.errors,
            latency_p50_ms: point.latencyP50Ms,
            latency_p95_ms: point.latencyP95Ms,
            latency_p99_ms: point.latencyP99Ms,
            consumer_lag: point.consumerLag,
          })),
        },
        200,
      );
    });
}
