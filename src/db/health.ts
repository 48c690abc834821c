import type { Queryable } from "./client.ts";

export async function pingDatabase(db: Queryable): Promise<void> {
  await db.query("select 1");
}
