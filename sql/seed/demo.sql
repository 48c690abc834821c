-- Demo data, deterministic: every value is a function of the stream id and the minute, so two
-- seeds at the same minute produce the same rows. Parameters: $1 last bucket (timestamptz),
-- $2 number of minutes to generate, ending at $1. Daily cycle from a sine over the minute of day;
-- every stream has a 30-minute error burst roughly every two days.
insert into metric_buckets (
  tenant_id, stream_id, bucket_start, events, bytes, errors,
  latency_p50_ms, latency_p95_ms, latency_p99_ms, consumer_lag
)
select
  s.tenant_id,
  s.id,
  m.bucket_start,
  v.events,
  v.events * (400 + (s.id % 7) * 100),
  case when v.burst then v.events / 5 else floor(v.events * 0.002 * v.noise)::bigint end,
  v.p50,
  v.p50 * 2.5,
  v.p50 * 4.5,
  case when v.burst then 50000 + floor(v.noise * 10000)::bigint else floor(v.daily * 1000 * v.noise)::bigint end
from streams s
cross join generate_series(
  $1::timestamptz - ($2::int - 1) * interval '1 minute', $1::timestamptz, interval '1 minute'
) as m (bucket_start)
cross join lateral (
  select (extract(epoch from m.bucket_start)::bigint / 60) as minute_index
) as t
cross join lateral (
  select
    abs((s.id * 7919 + t.minute_index * 104729) % 1000) / 1000.0 as noise,
    0.5 + 0.5 * sin(2 * pi() * ((t.minute_index % 1440) / 1440.0 - 0.375)) as daily,
    ((t.minute_index / 30) + s.id * 13) % 97 = 0 as burst
) as r
cross join lateral (
  select
    r.noise,
    r.daily,
    r.burst,
    floor((200 + (s.id % 5) * 300) * (0.3 + 0.7 * r.daily) * (0.9 + 0.2 * r.noise))::bigint as events,
    ((8 + 4 * r.daily + 2 * r.noise) * (case when r.burst then 5 else 1 end))::real as p50
) as v;
