/**
 * Metrics queries. Parameters only: every value reaches Postgres as a bind parameter, never as SQL
 * text. Each query also names the tenant in its WHERE clause, in front of row-level security;
 * `(select app_current_tenant_id())` is evaluated once per query and used as an index condition.
 * They run in the tenant-scoped read-only transaction of `Database.read`.
 */
import type { Query } from "./client.ts";

export interface OverviewTotals {
  events: number;
  bytes: number;
  errors: number;
  activeStreams: number;
  latencyP95Ms: number | null;
}

export interface StreamTotals {
  stream: string;
  events: number;
  errors: number;
}

type Numeric = string | number | null;

export function overviewTotals(fromIso: string, toIso: string): Query<OverviewTotals> {
  return {
    text: `select sum(events) as events, sum(bytes) as bytes, sum(errors) as errors,
                  count(distinct stream_id) as active_streams,
                  percentile_cont(0.95) within group (order by latency_p95_ms) as latency_p95_ms
             from metric_buckets
            where tenant_id = (select app_current_tenant_id()) and bucket_start >= $1 and bucket_start < $2`,
    params: [fromIso, toIso],
    decode: (rows) => {
      const row = rows[0] as {
        events: Numeric;
        bytes: Numeric;
        errors: Numeric;
        active_streams: Numeric;
        latency_p95_ms: Numeric;
      };
      return {
        events: Number(row.events ?? 0),
        bytes: Number(row.bytes ?? 0),
        errors: Number(row.errors ?? 0),
        activeStreams: Number(row.active_streams),
        latencyP95Ms: row.latency_p95_ms === null ? null : Number(row.latency_p95_ms),
      };
    },
  };
}

export function topStreams(fromIso: string, toIso: string, limit: number): Query<StreamTotals[]> {
  return {
    text: `select s.name as stream, t.events, t.errors
             from (select stream_id, sum(events) as events, sum(errors) as errors
                     from metric_buckets
                    where tenant_id = (select app_current_tenant_id()) and bucket_start >= $1 and bucket_start < $2
                    group by stream_id
                    order by sum(events) desc
                    limit $3) t
             join streams s on s.id = t.stream_id
            order by t.events desc, s.name`,
    params: [fromIso, toIso, limit],
    decode: (rows) =>
      (rows as { stream: string; events: Numeric; errors: Numeric }[]).map((row) => ({
        stream: row.stream,
        events: Number(row.events),
        errors: Number(row.errors),
      })),
  };
}

export interface StreamSummary {
  name: string;
  createdAt: string;
  lastBucketAt: string | null;
}

export function listStreams(): Query<StreamSummary[]> {
  return {
    text: `select s.name, s.created_at,
                  (select max(b.bucket_start) from metric_buckets b where b.tenant_id = s.tenant_id and b.stream_id = s.id) as last_bucket_at
             from streams s
            where s.tenant_id = (select app_current_tenant_id())
            order by s.name`,
    params: [],
    decode: (rows) =>
      (rows as { name: string; created_at: Date; last_bucket_at: Date | null }[]).map((row) => ({
        name: row.name,
        createdAt: new Date(row.created_at).toISOString(),
        lastBucketAt: row.last_bucket_at === null ? null : new Date(row.last_bucket_at).toISOString(),
      })),
  };
}

export interface TimeseriesPoint {
  t: string;
  events: number;
  bytes: number;
  errors: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
  latencyP99Ms: number;
  consumerLag: number;
}

/** Whether the tenant has the stream: an unknown one is a 404, not an empty series. */
export function streamExists(streamName: string): Query<boolean> {
  return {
    text: "select 1 from streams where tenant_id = (select app_current_tenant_id()) and name = $1",
    params: [streamName],
    decode: (rows) => rows.length > 0,
  };
}

/** The caller bounds `toIso - fromIso`: the query reads one row per minute of that span. */
export function streamTimeseries(
  streamName: string,
  fromIso: string,
  toIso: string,
  stepSeconds: number,
): Query<TimeseriesPoint[]> {
  // Latency per point: the worst minute's percentile in the step (averaging percentiles would hide spikes).
  return {
    text: `select date_bin(make_interval(secs => $4), bucket_start, $2::timestamptz) as t,
                  sum(events) as events, sum(bytes) as bytes, sum(errors) as errors,
                  max(latency_p50_ms) as p50, max(latency_p95_ms) as p95, max(latency_p99_ms) as p99,
                  max(consumer_lag) as lag
             from metric_buckets
            where tenant_id = (select app_current_tenant_id())
              and stream_id = (select id from streams where tenant_id = (select app_current_tenant_id()) and name = $1)
              and bucket_start >= $2 and bucket_start < $3
            group by 1
            order by 1`,
    params: [streamName, fromIso, toIso, stepSeconds],
    decode: (rows) =>
      (
        rows as {
          t: Date;
          events: Numeric;
          bytes: Numeric;
          errors: Numeric;
          p50: Numeric;
          p95: Numeric;
          p99: Numeric;
          lag: Numeric;
        }[]
      ).map((row) => ({
        t: new Date(row.t).toISOString(),
        events: Number(row.events),
        bytes: Number(row.bytes),
        errors: Number(row.errors),
        latencyP50Ms: Number(row.p50),
        latencyP95Ms: Number(row.p95),
        latencyP99Ms: Number(row.p99),
        consumerLag: Number(row.lag),
      })),
  };
}
