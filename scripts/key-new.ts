/**
 * `npm run key:new -- --id <id> --tenant <slug> [--rate-limit 1000/hour]`: makes a new API key.
 * Prints the key (shown once, stored nowhere), its API_KEYS entry (digest only), and the step that
 * puts the list into the worker's secret. See README, "Rotating and revoking API keys".
 */
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { apiKeyEntrySchema, generateApiKey } from "../src/auth/api-keys.ts";

const { values } = parseArgs({
  options: {
    id: { type: "string" },
    tenant: { type: "string" },
    "rate-limit": { type: "string" },
  },
});
if (values.id === undefined || values.tenant === undefined) {
  console.error("usage: npm run key:new -- --id <3-32 of a-z0-9-> --tenant <tenant slug> [--rate-limit 1000/hour]");
  process.exit(1);
}

const key = generateApiKey(values.id);
const entry = apiKeyEntrySchema.parse({
  id: values.id,
  digest: createHash("sha256").update(key).digest("hex"),
  tenant: values.tenant,
  scopes: ["metrics:read"],
  ...(values["rate-limit"] === undefined ? {} : { rate_limit: values["rate-limit"] }),
});

console.log(`New API key for ${entry.tenant} (hand it to the client once; it is stored nowhere):

  ${key}

Its API_KEYS entry (a SHA-256 digest, never the key):

  ${JSON.stringify(entry)}

Add the entry to the list of active entries and store the whole list as the worker's secret:

  npx wrangler secret put API_KEYS
  # paste: [<every entry still active>, ${JSON.stringify(entry)}]

Locally, the same list goes into .dev.vars as API_KEYS='[...]'.`);
