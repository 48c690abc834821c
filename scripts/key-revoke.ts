/**
 * `npm run key:revoke -- --id ID` revokes one API key for good; `-- --tenant SLUG` revokes every
 * key of a tenant issued until now (keys issued afterwards work). Refused everywhere within 60 s,
 * without a deploy. `--url URL` as for every key script.
 */
import { parseArgs } from "node:util";
import { ADMIN_URL_OPTION, adminClient } from "./lib/admin-client.ts";
import { revoke } from "./lib/revoke.ts";

const { values } = parseArgs({ options: { id: { type: "string" }, tenant: { type: "string" }, ...ADMIN_URL_OPTION } });
if ((values.id === undefined) === (values.tenant === undefined)) {
  console.error("usage: npm run key:revoke -- --id <key id> | --tenant <slug> [--url URL]");
  process.exit(1);
}
await revoke(
  adminClient(values.url),
  values.id === undefined ? { kind: "tenant-keys", subject: values.tenant! } : { kind: "key", subject: values.id },
);
