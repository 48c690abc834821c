/**
 * Exactness under concurrency: a burst of requests from one new client, all in flight at once,
 * against a limit of N must admit exactly N — not N + the requests that raced the first refusal.
 * Sent with Node's fetch (undici), which opens a connection per concurrent request.
 */
import { freshClientIp } from "./clients.ts";

export interface ExactnessResult {
  requests: number;
  limit: number;
  admitted: number;
  /** Status (or `error`) → count. */
  statuses: Record<string, number>;
  ok: boolean;
}

export async function burst(
  url: string,
  headers: Record<string, string>,
  requests: number,
  limit: number,
): Promise<ExactnessResult> {
  const clientIp = freshClientIp();
  const outcomes = await Promise.all(
    Array.from({ length: requests }, async () => {
      try {
        const response = await fetch(url, {
          headers: { ...headers, "CF-Connecting-IP": clientIp },
          signal: AbortSignal.timeout(30_000),
        });
        await response.arrayBuffer();
        return String(response.status);
      } catch {
        return "error";
      }
    }),
  );
  const statuses: Record<string, number> = {};
  for (const outcome of outcomes) statuses[outcome] = (statuses[outcome] ?? 0) + 1;
  const admitted = statuses["200"] ?? 0;
  const refused = statuses["429"] ?? 0;
  return { requests, limit, admitted, statuses, ok: admitted === limit && refused === requests - limit };
}
