-- Least privilege. The worker never connects as the owner that runs these migrations:
--   streamforge_metrics  reads streams and metric buckets, read-only by default, nothing else;
--   streamforge_auth     reads the login columns of users and the tenant slug, nothing else.
-- Both are created able to log in but without a password; the operator sets one
-- (ALTER ROLE … PASSWORD …) and hands the worker one connection secret per role.
-- Row-level security is the second wall behind every query's WHERE clause: a metrics session
-- sees only the tenant named by `app.tenant`, set per transaction; with no tenant set it sees nothing.

-- Up Migration
do $$
begin
  if not exists (select from pg_roles where rolname = 'streamforge_metrics') then
    create role streamforge_metrics login;
  end if;
  if not exists (select from pg_roles where rolname = 'streamforge_auth') then
    create role streamforge_auth login;
  end if;
end
$$;

alter role streamforge_metrics set default_transaction_read_only = on;
alter role streamforge_metrics set statement_timeout = '5s';
alter role streamforge_auth set default_transaction_read_only = on;
alter role streamforge_auth set statement_timeout = '2s';

revoke all on all tables in schema public from public;
revoke create on schema public from public;
grant usage on schema public to streamforge_metrics, streamforge_auth;

grant select on streams, metric_buckets to streamforge_metrics;
grant select (id, tenant_id, username, password_hash) on users to streamforge_auth;
grant select (id, slug) on tenants to streamforge_auth;

-- Resolves the transaction's tenant slug to its id with the owner's rights, so the metrics role
-- needs no access to the tenants table. NULL (and so no rows) when no tenant is set.
create function app_current_tenant_id() returns bigint
  language sql stable security definer
  set search_path = public, pg_temp
  as $$ select id from tenants where slug = nullif(current_setting('app.tenant', true), '') $$;
revoke all on function app_current_tenant_id() from public;
grant execute on function app_current_tenant_id() to streamforge_metrics;

alter table streams enable row level security;
alter table metric_buckets enable row level security;
create policy streams_tenant_isolation on streams for select to streamforge_metrics
  using (tenant_id = app_current_tenant_id());
create policy metric_buckets_tenant_isolation on metric_buckets for select to streamforge_metrics
  using (tenant_id = app_current_tenant_id());

-- Down Migration
drop policy metric_buckets_tenant_isolation on metric_buckets;
drop policy streams_tenant_isolation on streams;
alter table metric_buckets disable row level security;
alter table streams disable row level security;
drop function app_current_tenant_id();
revoke all on streams, metric_buckets, users, tenants from streamforge_metrics, streamforge_auth;
revoke usage on schema public from streamforge_metrics, streamforge_auth;
