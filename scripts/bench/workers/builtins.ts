/**
 * The reference the real worker is measured against: what the same edge controls cost when built
 * from Hono's own middleware (secureHeaders, cors), a plain API-key header comparison, and the
 * simplest Durable Object counter — one storage get and one put per request, one object per client
 * address, called over RPC as the real worker calls its limiter.
 */

import { DurableObject } from "cloudflare:workers";
import type { DurableObjectNamespace } from "@cloudflare/workers-types";
import { Hono } from "hono";
import { cors } from "hono/cors";
import { secureHeaders } from "hono/secure-headers";

interface Env {
  COUNTER: DurableObjectNamespace<Counter>;
  ALLOWED_ORIGIN: string;
  API_KEY: string;
}

export class Counter extends DurableObject<Env> {
  async increment(): Promise<number> {
    const count = ((await this.ctx.storage.get<number>("count")) ?? 0) + 1;
    await this.ctx.storage.put("count", count);
    return count;
  }
}

const app = new Hono<{ Bindings: Env }>();
app.use(secureHeaders());
app.use(cors({ origin: (origin, c) => (origin === c.env.ALLOWED_ORIGIN ? origin : null), credentials: true }));
app.use("/builtins", async (c, next) => {
  if (c.req.header("x-api-key") !== c.env.API_KEY) return c.json({ error: "unauthorized" }, 401);
  await next();
});
app.get("/builtins", async (c) => {
  const counter = c.env.COUNTER.get(c.env.COUNTER.idFromName(c.req.header("cf-connecting-ip") ?? "unknown"));
  return c.json({ count: await counter.increment() });
});

export default app;
