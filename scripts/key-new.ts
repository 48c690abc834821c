/**
 * `npm run key:new -- --id <id> --tenant <slug> [--scopes metrics:read,streams:read] [--rate-limit 1000/hour] [--url URL]`:
 * asks the running worker (POST /admin/keys, with ADMIN_SECRET) for a new signed key and prints it
 * once. The worker signs it with its own signing secret and registers its id, tenant, scopes and
 * creation time, never the key; nothing has to be stored anywhere, and no tool can show the key
 * again. See README, "API keys".
 */
import { parseArgs } from "node:util";
import { ADMIN_URL_OPTION, adminClient } from "./lib/admin-client.ts";

const { values } = parseArgs({
  options: {
    id: { type: "string" },
    tenant: { type: "string" },
    scopes: { type: "string", default: "metrics:read" },
    "rate-limit": { type: "string" },
    ...ADMIN_URL_OPTION,
  },
});
if (values.id === undefined || values.tenant === undefined) {
  console.error(
    "usage: npm run key:new -- --id <3-32 of a-z0-9-> --tenant <slug> [--scopes metrics:read,streams:read] [--rate-limit 1000/hour] [--url URL]",
  );
  process.exit(1);
}

const issued = await adminClient(values.url).call<{
  key: string;
  id: string;
  tenant: string;
  scopes: string[];
  rate_limit: string | null;
  kid: string;
  created_at: string;
}>("POST", "/admin/keys", {
  id: values.id,
  tenant: values.tenant,
  scopes: values.scopes.split(",").map((scope) => scope.trim()),
  ...(values["rate-limit"] === undefined ? {} : { rate_limit: values["rate-limit"] }),
});

console.log(`New API key ${issued.id} for ${issued.tenant} (${issued.scopes.join(", ")}${issued.rate_limit === null ? "" : `, ${issued.rate_limit}`}), signed under ${issued.kid}:

  ${issued.key}

Hand it to the client over a secure channel. This is the only time it is shown: the worker keeps
its id, tenant, scopes and creation time, never the key. There is nothing to store or deploy; it
works now. \`npm run key:list\` shows its last use; \`npm run key:revoke -- --id ${issued.id}\` revokes it.`);
