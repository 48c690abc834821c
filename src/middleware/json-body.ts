/**
 * JSON request bodies: `Content-Type: application/json` or 415 (blocks form posts and "simple"
 * cross-origin requests that skip the CORS preflight), at most `maxBytes` or 413 (counted while
 * streaming, through Hono's `bodyLimit`), and well-formed JSON or 400. Each answer is a problem.
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";

export interface JsonBodyOptions {
  /** Largest accepted body. Default 16 KiB. */
  maxBytes?: number;
  /** Parse it here. Default true; false leaves the raw bytes to the route (a signed body). */
  parse?: boolean;
}

const JSON_MEDIA_TYPE = /^application\/json\s*(;\s*charset=utf-8\s*)?$/i;

/**
 * @example authRoutes.use("/auth/login", jsonBody({ maxBytes: 4096 }))
 */
export function jsonBody(options: JsonBodyOptions = {}): MiddlewareHandler<AppEnv> {
  const maxBytes = options.maxBytes ?? 16 * 1024;
  if (!Number.isInteger(maxBytes) || maxBytes <= 0) throw new Error("maxBytes must be a positive integer");
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new AppError({
        status: 413,
        code: "payload-too-large",
        title: "Payload too large",
        detail: `The request body exceeds ${maxBytes} bytes.`,
      });
    },
  });

  return async function jsonBody(c, next) {
    if (!JSON_MEDIA_TYPE.test(c.req.header("content-type") ?? "")) {
      throw new AppError({
        status: 415,
        code: "unsupported-media-type",
        title: "Unsupported media type",
        detail: "Send the body as application/json.",
      });
    }
    await limit(c, async () => {
      if (options.parse === false) return next();
      try {
        // Parsed once here; Hono caches it, so the route's validator reads the same value.
        await c.req.json();
      } catch {
        throw new AppError({
          status: 400,
          code: "malformed-json",
          title: "Malformed JSON",
          detail: "The request body is not valid JSON.",
        });
      }
      await next();
    });
  };
}
