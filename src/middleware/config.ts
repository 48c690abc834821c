/**
 * Fails closed on bad configuration: before anything else runs, the parsed config is put on the
 * context, or the request ends with a fixed 500 problem. The log names the bad keys; the response
 * names nothing, so a probe learns only that the service is misconfigured.
 */
import type { MiddlewareHandler } from "hono";
import { loadConfig, type AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";

export interface ConfigOptions {
  /** Where the "which key is wrong" report goes. Default: `console.error`. */
  log?: (line: string) => void;
}

/**
 * @example app.use(requireConfig())
 */
export function requireConfig(options: ConfigOptions = {}): MiddlewareHandler<AppEnv> {
  const log = options.log ?? ((line: string) => console.error(line));
  return async function requireConfig(c, next) {
    const result = loadConfig(c.env);
    if (!result.ok) {
      log(JSON.stringify({ level: "error", event: "misconfigured", request_id: c.get("requestId"), keys: result.problems }));
      throw new AppError({
        status: 500,
        code: "misconfigured",
        title: "Service misconfigured",
        detail: "The service is not configured correctly.",
      });
    }
    c.set("config", result.config);
    await next();
  };
}
