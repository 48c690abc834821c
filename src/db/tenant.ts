import type { Queryable } from "./client.ts";

/**
 * Runs `work` in a read-only transaction scoped to one tenant: `app.tenant` is what the row-level
 * security policies read, and `set_config(…, true)` makes it vanish at commit, so nothing of one
 * tenant's scope can survive into another request's use of the connection.
 */
export async function inTenantScope<T>(db: Queryable, tenantSlug: string, work: (db: Queryable) => Promise<T>): Promise<T> {
  await db.query("begin read only");
  try {
    await db.query("select set_config('app.tenant', $1, true)", [tenantSlug]);
    const result = await work(db);
    await db.query("commit");
    return result;
  } catch (error) {
    await db.query("rollback").catch(() => undefined);
    throw error;
  }
}
