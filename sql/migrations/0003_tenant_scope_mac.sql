-- A tenant scope the metrics role cannot forge. Before this, any session of streamforge_metrics
-- could run set_config('app.tenant', <any slug>, true) and row-level security believed it, so an
-- injection or a leaked DATABASE_URL read every tenant. Now the scope is a token only the
-- worker can make: HMAC-SHA256 over "<expires_at>:<tenant>" with TENANT_SCOPE_KEY, a Worker
-- secret whose copy in the database sits in a table only the owner (and so only the
-- security-definer functions below) can read. Row-level security verifies the token on every
-- query; a token expires within minutes, so one seen in a log is not a key for later.
-- The operator installs the key once per database (README: "Tenant scope key"); until then no
-- scope verifies and every tenant read answers nothing.

-- Up Migration
-- Trusted since PostgreSQL 13, so the database owner may create it; Neon and PGlite ship it.
create extension if not exists pgcrypto;

create table tenant_scope_key (
  singleton boolean primary key default true check (singleton),
  key bytea not null check (length(key) >= 32),
  installed_at timestamptz not null default now()
);
revoke all on tenant_scope_key from public;

-- True only for a token made with the installed key that has not expired and does not claim to
-- live longer than five minutes. The MACs are compared through a second HMAC, so the time the
-- comparison takes says nothing about how much of a guess was right.
create function app_tenant_scope_valid(tenant text, expires_at bigint, mac text) returns boolean
  language sql stable security definer
  set search_path = public, pg_temp
  as $$
    -- No installed key, or any NULL argument: false, never NULL, so callers cannot mistake it.
    select coalesce(
             (select expires_at >= extract(epoch from now())
                     and expires_at <= extract(epoch from now()) + 300
                     and hmac(convert_to(mac, 'UTF8'), k.key, 'sha256')
                       = hmac(convert_to(encode(hmac(convert_to(expires_at::text || ':' || tenant, 'UTF8'), k.key, 'sha256'), 'hex'), 'UTF8'), k.key, 'sha256')
                from tenant_scope_key k),
             false)
  $$;
revoke all on function app_tenant_scope_valid(text, bigint, text) from public;

-- The one door into a tenant: refuses a bad token with an error, so a worker whose key does not
-- match the database's fails loudly instead of showing empty dashboards. The accepted token is
-- kept for the transaction only (is_local), and row-level security checks it again on each use.
create function app_set_tenant_scope(tenant text, expires_at bigint, mac text) returns void
  language plpgsql volatile security definer
  set search_path = public, pg_temp
  as $$
  begin
    if not app_tenant_scope_valid(tenant, expires_at, mac) then
      raise exception 'tenant scope refused' using errcode = 'insufficient_privilege';
    end if;
    perform set_config('app.tenant_scope', expires_at::text || ':' || mac || ':' || tenant, true);
  end
  $$;
revoke all on function app_set_tenant_scope(text, bigint, text) from public;
grant execute on function app_set_tenant_scope(text, bigint, text) to streamforge_metrics;

-- Reads the scope back and verifies it again, because the role can still write app.tenant_scope
-- with set_config directly: a value that does not verify yields NULL, and so no rows.
create or replace function app_current_tenant_id() returns bigint
  language sql stable security definer
  set search_path = public, pg_temp
  as $$
    select t.id
      from regexp_match(current_setting('app.tenant_scope', true), '^([0-9]{1,12}):([0-9a-f]{64}):(.+)$') as scope(parts)
      join tenants t on t.slug = scope.parts[3]
     where app_tenant_scope_valid(scope.parts[3], scope.parts[1]::bigint, scope.parts[2])
  $$;

-- The policies read the tenant through an init plan: one verification per query, not one per row.
drop policy streams_tenant_isolation on streams;
drop policy metric_buckets_tenant_isolation on metric_buckets;
create policy streams_tenant_isolation on streams for select to streamforge_metrics
  using (tenant_id = (select app_current_tenant_id()));
create policy metric_buckets_tenant_isolation on metric_buckets for select to streamforge_metrics
  using (tenant_id = (select app_current_tenant_id()));

-- Down Migration
drop policy metric_buckets_tenant_isolation on metric_buckets;
drop policy streams_tenant_isolation on streams;
create or replace function app_current_tenant_id() returns bigint
  language sql stable security definer
  set search_path = public, pg_temp
  as $$ select id from tenants where slug = nullif(current_setting('app.tenant', true), '') $$;
create policy streams_tenant_isolation on streams for select to streamforge_metrics
  using (tenant_id = app_current_tenant_id());
create policy metric_buckets_tenant_isolation on metric_buckets for select to streamforge_metrics
  using (tenant_id = app_current_tenant_id());
drop function app_set_tenant_scope(text, bigint, text);
drop function app_tenant_scope_valid(text, bigint, text);
drop table tenant_scope_key;
