-- Tenants manage their own API keys. A user is an analyst (reads the tenant's metrics) or a
-- tenant admin (also creates, rolls and revokes the tenant's keys); every existing user stays an
-- analyst, so nobody gains a right by this migration. A tenant's plan bounds what its keys may do:
-- the scopes a key may carry and the highest rate limit it may be given. The authentication role
-- reads all three, nothing more, and still writes nothing.

-- Up Migration
alter table users add column role text not null default 'analyst'
  check (role in ('analyst', 'tenant_admin'));
alter table tenants add column api_key_scopes text[] not null default '{metrics:read,streams:read}'
  check (api_key_scopes <@ array['metrics:read', 'streams:read']::text[]);
alter table tenants add column api_key_rate_ceiling text not null default '1000/minute'
  check (api_key_rate_ceiling ~ '^[1-9][0-9]{0,6}/(second|minute|hour|day)$');

grant select (role) on users to streamforge_auth;
grant select (api_key_scopes, api_key_rate_ceiling) on tenants to streamforge_auth;

-- Down Migration
revoke select (api_key_scopes, api_key_rate_ceiling) on tenants from streamforge_auth;
revoke select (role) on users from streamforge_auth;
alter table tenants drop column api_key_rate_ceiling;
alter table tenants drop column api_key_scopes;
alter table users drop column role;
