/**
 * `npm run key:list [-- --tenant SLUG] [--url URL]`: every API key the worker knows (signed keys it
 * issued and legacy API_KEYS entries) with tenant, scopes, created, last used (minute precision)
 * and revoked. Never a key: the worker does not have them.
 */
import { parseArgs } from "node:util";
import { ADMIN_URL_OPTION, adminClient } from "./lib/admin-client.ts";

interface ListedKey {
  id: string;
  tenant: string;
  scopes: string[];
  rate_limit: string | null;
  format: string;
  kid: string | null;
  created_at: string | null;
  last_used_at: string | null;
  revoked: boolean;
  retired: boolean;
}

const { values } = parseArgs({ options: { tenant: { type: "string" }, ...ADMIN_URL_OPTION } });
const query = values.tenant === undefined ? "" : `?tenant=${encodeURIComponent(values.tenant)}`;
const { keys } = await adminClient(values.url).call<{ keys: ListedKey[] }>("GET", `/admin/keys${query}`);

const minute = (iso: string | null, none: string) => (iso === null ? none : iso.slice(0, 16).replace("T", " "));
const rows = [
  ["id", "tenant", "scopes", "rate limit", "signed under", "created (UTC)", "last used (UTC)", "refused"],
  ...keys.map((key) => [
    key.id,
    key.tenant,
    key.scopes.join(","),
    key.rate_limit ?? "-",
    key.kid ?? "(legacy API_KEYS)",
    minute(key.created_at, "-"),
    minute(key.last_used_at, "never"),
    key.revoked ? "REVOKED" : key.retired ? `RETIRED (${key.kid} removed)` : "no",
  ]),
];
const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
for (const row of rows)
  console.log(
    row
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join("  ")
      .trimEnd(),
  );
console.log(
  `\n${keys.length} key(s). Last use is sent by each isolate in batches: allow a minute or two before reading "never" as unused.`,
);
