-- Which migrations a database has, for roles that may not read the migration table: `npm run dev`
-- asks it before it says "ready", so a database that needs `npm run db:migrate` is named as such
-- instead of every read failing with a bare SQLSTATE.

-- Up Migration
create function app_schema_version() returns text
  language sql stable security definer
  set search_path = public, pg_temp
  as $$ select max(name) from schema_migrations $$;
revoke all on function app_schema_version() from public;
grant execute on function app_schema_version() to streamforge_metrics, streamforge_auth;

-- Down Migration
drop function app_schema_version();
