/**
 * How the key scripts reach a running worker's admin routes: its URL from `--url` or
 * `STREAMFORGE_URL` (default `http://127.0.0.1:8787`, i.e. `npm run dev`), and the admin secret from
 * `ADMIN_SECRET` in the environment or `.dev.vars`, never from the command line (where shell history
 * and `ps` would keep it). Errors print the worker's problem title and detail, which never hold a key.
 */
import { setting } from "./config-files.ts";

const DEFAULT_URL = "http://127.0.0.1:8787";

export interface AdminClient {
  call<T>(method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<T>;
}

export function adminClient(url: string | undefined): AdminClient {
  const base = (url ?? process.env.STREAMFORGE_URL ?? DEFAULT_URL).replace(/\/+$/, "");
  const secret = setting("ADMIN_SECRET");
  if (secret === undefined) {
    console.error("ADMIN_SECRET is not set: export it (or put it in .dev.vars for npm run dev).");
    process.exit(1);
  }
  return {
    async call<T>(method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<T> {
      let response: Response;
      try {
        response = await fetch(base + path, {
          method,
          headers: { "X-Admin-Key": secret, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      } catch (error) {
        console.error(`cannot reach ${base}: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      }
      const answer = (await response.json().catch(() => ({}))) as Record<string, unknown>;
      if (!response.ok) {
        console.error(
          `${method} ${path}: ${response.status} ${String(answer.title ?? "")}${answer.detail === undefined ? "" : `: ${String(answer.detail)}`}`,
        );
        for (const problem of (answer.errors as { path: string; message: string }[] | undefined) ?? [])
          console.error(`  ${problem.path}: ${problem.message}`);
        process.exit(1);
      }
      return answer as T;
    },
  };
}

export const ADMIN_URL_OPTION = { url: { type: "string" } } as const;
