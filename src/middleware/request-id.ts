/**
 * A request id of ours on every response (`X-Request-Id`) and in every log line of the request. A
 * client-sent `X-Request-Id` is never read, so ids in our logs are always ours and a client cannot
 * forge a correlation. Hono's `requestId` with `limitLength: 0` answered the same, but read the
 * client's header first and tested it, on every request, only to discard it.
 */
import type { Context } from "hono";
import type { AppEnv } from "../env.ts";
import type { LayerParts } from "./layer.ts";

/** Looked up once: every read of the global `crypto` is a call into the runtime. */
const platformCrypto = crypto;

/** A new random (v4) UUID: the id of a response, whichever part of the worker answers. */
export function newRequestId(): string {
  return platformCrypto.randomUUID();
}

/**
 * @example app.use(layer(requestId()))
 */
export function requestId(): LayerParts {
  function requestId(c: Context<AppEnv>): undefined {
    const id = newRequestId();
    c.set("requestId", id);
    c.header("X-Request-Id", id);
    return undefined;
  }
  return { before: requestId };
}
