/**
 * `npm run token:revoke -- --user NAME` refuses every access token that user holds; `-- --tenant SLUG`
 * every token of a tenant's users. Only tokens issued until now: a new login works. Refused
 * everywhere within 60 s, without rotating JWT_SIGNING_KEY. The user is named as the database
 * spells it (the worker resolves the case; an unknown user is an error). `--sessions` with `--user`
 * also ends every dashboard session of the user at once. `--url URL` as for the key scripts.
 */
import { parseArgs } from "node:util";
import { ADMIN_URL_OPTION, adminClient } from "./lib/admin-client.ts";
import { revoke } from "./lib/revoke.ts";

const { values } = parseArgs({
  options: {
    user: { type: "string" },
    tenant: { type: "string" },
    sessions: { type: "boolean", default: false },
    ...ADMIN_URL_OPTION,
  },
});
if ((values.user === undefined) === (values.tenant === undefined) || (values.sessions && values.user === undefined)) {
  console.error("usage: npm run token:revoke -- --user <user name> [--sessions] | --tenant <slug> [--url URL]");
  process.exit(1);
}
const client = adminClient(values.url);
await revoke(
  client,
  values.user === undefined
    ? { kind: "tenant-tokens", subject: values.tenant! }
    : { kind: "user", subject: values.user },
);
if (values.sessions) {
  const ended = await client.call<{ user: string; ended: number }>(
    "DELETE",
    `/admin/users/${encodeURIComponent(values.user!)}/sessions`,
  );
  console.log(
    `Ended ${ended.ended} dashboard session(s) of ${ended.user}: refused at once on refresh, everywhere within 45 s on reads.`,
  );
}
