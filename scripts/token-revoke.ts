/**
 * `npm run token:revoke -- --user NAME` refuses every access token that user holds; `-- --tenant SLUG`
 * every token of a tenant's users. Only tokens issued until now: a new login works. Refused
 * everywhere within 60 s, without rotating JWT_SIGNING_KEY. `--url URL` as for the key scripts.
 */
import { parseArgs } from "node:util";
import { ADMIN_URL_OPTION, adminClient } from "./lib/admin-client.ts";
import { revoke } from "./lib/revoke.ts";

const { values } = parseArgs({ options: { user: { type: "string" }, tenant: { type: "string" }, ...ADMIN_URL_OPTION } });
if ((values.user === undefined) === (values.tenant === undefined)) {
  console.error("usage: npm run token:revoke -- --user <user name> | --tenant <slug> [--url URL]");
  process.exit(1);
}
await revoke(adminClient(values.url), values.user === undefined ? { kind: "tenant-tokens", subject: values.tenant! } : { kind: "user", subject: values.user });
