/**
 * Several middlewares in one layer of Hono's chain: every layer costs about 1 µs a request
 * (BENCHMARKS.md), and most of the outer middlewares only look at the request before the rest of
 * the chain or only write to the response after it. Each gives its work as parts; `layer` runs the
 * `before` parts in the order given, then the rest of the chain, then the `after` parts innermost
 * first, as their own layers would have.
 *
 * The answers are the same as with a layer each as long as no part that can throw or answer comes
 * from a middleware inside one with an `after` part: with a layer each, Hono would have turned the
 * refusal into a response that outer middleware then wrote to; here the whole layer is left at
 * once. So a layer is built outermost first, and a middleware with an `after` part goes inside
 * every one that may refuse (or on its own layer).
 */
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";

export interface LayerParts {
  /** Before the rest of the chain: may throw the request's refusal, or answer in the chain's place. */
  before?: (c: Context<AppEnv>) => Response | undefined;
  /** After the rest of the chain has answered: writes to that answer. */
  after?: (c: Context<AppEnv>) => void;
}

/**
 * @example app.use(layer(requestId(), securityHeaders({ docsPath: "/docs" })))
 */
export function layer(...parts: readonly LayerParts[]): MiddlewareHandler<AppEnv> {
  const befores = parts.flatMap(({ before }) => (before === undefined ? [] : [before]));
  const afters = parts.flatMap(({ after }) => (after === undefined ? [] : [after])).reverse();
  return async function layer(c, next) {
    for (const before of befores) {
      const answer = before(c);
      if (answer !== undefined) return answer;
    }
    await next();
    for (const after of afters) after(c);
  };
}
