/**
 * Metrics queries. Parameters only: every value reaches Postgres as a bind parameter, never as SQL
 * text. Each query also names the tenant in its WHERE clause, in front of row-level security;
 * `(select app_current_tenant_id())` is evaluated once per query and used as an index condition.
 */
import type { Queryable } from "./client.ts";

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


export async function overviewTotals(db: Queryable, fromIso: string, toIso: string): Promise<OverviewTotals> {
  const { rows } = await db.query<{ events: string | null; bytes: string | null; errors: string | null; active_streams: string; latency_p95_ms: number | null }>(
    `select sum(events) as events, sum(bytes) as bytes, sum(errors) as errors,
            count(distinct stream_id) as active_streams,
            percentile_cont(0.95) within group (order by latency_p95_ms) as latency_p95_ms
       from metric_buckets
      where tenant_id = (select app_current_tenant_id()) and bucket_start >= $1 and bucket_start < $2`,
    [fromIso, toIso],
  );
  const row = rows[0]!;
  return {
    events: Number(row.events ?? 0),
    bytes: Number(row.bytes ?? 0),
    errors: Number(row.errors ?? 0),
    activeStreams: Number(row.active_streams),
    latencyP95Ms: row.latency_p95_ms === null ? null : Number(row.latency_p95_ms),
  };
}

export async function topStreams(db: Queryable, fromIso: string, toIso: string, limit: number): Promise<StreamTotals[]> {
  const { rows } = await db.query<{ stream: string; events: string; errors: string }>(
    `select s.name as stream, t.events, t.errors
       from (select stream_id, sum(events) as events, sum(errors) as errors
               from metric_buckets
              where tenant_id = (select app_current_tenant_id()) and bucket_start >= $1 and bucket_start < $2
              group by stream_id
              order by sum(events) desc
              limit $3) t
       join streams s on s.id = t.stream_id
      order by t.events desc, s.name`,
    [fromIso, toIso, limit],
  );
  return rows.map((row) => ({ stream: row.stream, events: Number(row.events), errors: Number(row.errors) }));
}

export interface StreamSummary {
  name: string;
  createdAt: string;
  lastBucketAt: string | null;
}

export async function listStreams(db: Queryable): Promise<StreamSummary[]> {
  const { rows } = await db.query<{ name: string; created_at: Date; last_bucket_at: Date | null }>(
    `select s.name, s.created_at,
            (select max(b.bucket_start) from metric_buckets b where b.tenant_id = s.tenant_id and b.stream_id = s.id) as last_bucket_at
       from streams s
      where s.tenant_id = (select app_current_tenant_id())
      order by s.name`,
  );
  return rows.map((row) => ({
    name: row.name,
    createdAt: new Date(row.created_at).toISOString(),
    lastBucketAt: row.last_bucket_at === null ? null : new Date(row.last_bucket_at).toISOString(),
  }));
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

/** Undefined when the tenant has no such stream (a 404, not an empty series). */
export async function streamTimeseries(
  db: Queryable,
  streamName: string,
  fromIso: string,
  toIso: string,
  stepSeconds: number,
): Promise<TimeseriesPoint[] | undefined> {
  const stream = await db.query<{ id: string }>(`select id from streams where tenant_id = (select app_current_tenant_id()) and name = $1`, [streamName]);
  const streamId = stream.rows[0]?.id;
  if (streamId === undefined) return undefined;
  // Latency per point: the worst minute's percentile in the step (averaging percentiles would hide spikes).
  const { rows } = await db.query<{ t: Date; events: string; bytes: string; errors: string; p50: number; p95: number; p99: number; lag: string }>(
    `select date_bin(make_interval(secs => $4), bucket_start, $2::timestamptz) as t,
            sum(events) as events, sum(bytes) as bytes, sum(errors) as errors,
            max(latency_p50_ms) as p50, max(latency_p95_ms) as p95, max(latency_p99_ms) as p99,
            max(consumer_lag) as lag
       from metric_buckets
      where tenant_id = (select app_current_tenant_id()) and stream_id = $1 and bucket_start >= $2 and bucket_start < $3
      group by 1
      order by 1`,
    [streamId, fromIso, toIso, stepSeconds],
  );
  return rows.map((row) => ({
    t: new Date(row.t).toISOString(),
    events: Number(row.events),
    bytes: Number(row.bytes),
    errors: Number(row.errors),
    latencyP50Ms: Number(row.p50),
    latencyP95Ms: Number(row.p95),
    latencyP99Ms: Number(row.p99),
    consumerLag: Number(row.lag),
  }));
}
