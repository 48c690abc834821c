/**
 * `npm run revocations:migrate` moves the single revocation list kept before lists were per tenant
 * into each tenant's list, once, after deploying the version that reads per-tenant lists: until it
 * has run, nothing refuses what that list held. Safe to run again (a subject keeps one entry, the
 * latest). Entries whose tenant cannot be found (a user the database no longer holds, a key id no
 * longer in API_KEYS) are printed, not moved. `--url URL` as for the key scripts.
 */
import { parseArgs } from "node:util";
import { ADMIN_URL_OPTION, adminClient } from "./lib/admin-client.ts";

const { values } = parseArgs({ options: { ...ADMIN_URL_OPTION } });
const client = adminClient(values.url);
let moved = 0;
for (let after: number | null = 0; after !== null; ) {
  const page: { moved: number; unresolved: { kind: string; subject: string }[]; next: number | null } =
    await client.call("POST", `/admin/revocations/migrate?after=${after}`);
  moved += page.moved;
  for (const entry of page.unresolved) console.log(`not moved, no tenant found: (${entry.kind}) ${entry.subject}`);
  after = page.next;
}
console.log(`Moved ${moved} revocation(s) into their tenants' lists; every isolate refuses them within 60 s.`);
