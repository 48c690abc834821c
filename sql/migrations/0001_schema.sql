-- StreamForge schema: tenants own users and streams; streams produce one metrics bucket a minute.
-- Database roles and row-level security come in later migrations.

-- Up Migration
create table tenants (
  id bigint generated always as identity primary key,
  slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{1,39}$'),
  name text not null check (length(name) between 1 and 200),
  created_at timestamptz not null default now()
);

create table users (
  id bigint generated always as identity primary key,
  tenant_id bigint not null references tenants (id),
  username text not null unique check (username ~ '^[A-Za-z0-9_]{3,50}$'),
  -- Self-describing: pbkdf2-sha256$<iterations>$<salt>$<hash>, so the cost can be raised later.
  password_hash text not null check (password_hash like 'pbkdf2-sha256$%'),
  created_at timestamptz not null default now()
);
create index users_tenant_id_idx on users (tenant_id);

create table streams (
  id bigint generated always as identity primary key,
  tenant_id bigint not null references tenants (id),
  name text not null check (name ~ '^[a-z0-9][a-z0-9._-]{0,99}$'),
  created_at timestamptz not null default now(),
  unique (tenant_id, name),
  -- Target of the buckets' composite key, so a bucket can never name another tenant's stream.
  unique (tenant_id, id)
);

create table metric_buckets (
  tenant_id bigint not null,
  stream_id bigint not null,
  bucket_start timestamptz not null check (bucket_start = date_trunc('minute', bucket_start)),
  events bigint not null check (events >= 0),
  bytes bigint not null check (bytes >= 0),
  errors bigint not null check (errors >= 0 and errors <= events),
  latency_p50_ms real not null check (latency_p50_ms >= 0),
  latency_p95_ms real not null check (latency_p95_ms >= latency_p50_ms),
  latency_p99_ms real not null check (latency_p99_ms >= latency_p95_ms),
  consumer_lag bigint not null check (consumer_lag >= 0),
  -- Serves a stream's time series (tenant, stream, range).
  primary key (tenant_id, stream_id, bucket_start),
  foreign key (tenant_id, stream_id) references streams (tenant_id, id)
);

-- Serves the overview: one tenant, a recent window, all streams. INCLUDE makes it index-only, so
-- the cost follows the rows in the window rather than the size of the table.
create index metric_buckets_tenant_window_idx on metric_buckets (tenant_id, bucket_start)
  include (stream_id, events, bytes, errors, latency_p95_ms);

-- Down Migration
drop table metric_buckets;
drop table streams;
drop table users;
drop table tenants;
