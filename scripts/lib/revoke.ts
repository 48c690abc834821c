/** One revocation through POST /admin/revocations, and what it means, for key:revoke and token:revoke. */
import type { AdminClient } from "./admin-client.ts";

const MEANING: Record<string, string> = {
  key: "this key is refused for good",
  "tenant-keys": "every key of this tenant issued until now is refused; keys issued later work",
  user: "every token of this user issued until now is refused; a new login works",
  "tenant-tokens": "every token of this tenant's users issued until now is refused; new logins work",
};

export async function revoke(client: AdminClient, request: { kind: string; subject: string }): Promise<void> {
  const done = await client.call<{ kind: string; subject: string; tenant: string; revoked_at: string }>(
    "POST",
    "/admin/revocations",
    request,
  );
  console.log(`Revoked (${done.kind}) ${done.subject} of tenant ${done.tenant} at ${done.revoked_at}: ${MEANING[done.kind] ?? done.kind}.
Every isolate refuses it within 60 s; no deploy needed.`);
}
