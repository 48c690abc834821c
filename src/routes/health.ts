/**
 * Liveness and readiness. `/health` never touches the database, so an orchestrator can tell a dead
 * worker from a dead database; `/health/ready` proves a real round trip through the driver, shared
 * per isolate for a few seconds (src/db/health.ts) so that it cannot be used to flood the database.
 */
import { z } from "zod";
import type { ReadinessCheck } from "../db/health.ts";
import { createRoute, createRouter, GATEWAY_REFUSALS, PUBLIC, problem } from "../openapi.ts";

const HealthSchema = z.object({ status: z.literal("ok") }).meta({ id: "Health" });
const ReadySchema = z.object({ status: z.literal("ready"), database: z.literal("ok") }).meta({ id: "Ready" });

const liveness = createRoute({
  method: "get",
  path: "/health",
  operationId: "getLiveness",
  security: PUBLIC,
  tags: ["health"],
  summary: "Liveness: the worker answers",
  responses: {
    200: { description: "Alive", content: { "application/json": { schema: HealthSchema } } },
    ...GATEWAY_REFUSALS,
  },
});

const readiness = createRoute({
  method: "get",
  path: "/health/ready",
  operationId: "getReadiness",
  security: PUBLIC,
  tags: ["health"],
  summary: "Readiness: the database answers a query",
  responses: {
    200: { description: "Ready", content: { "application/json": { schema: ReadySchema } } },
    429: problem("Too many requests"),
    ...GATEWAY_REFUSALS,
    503: problem("Database unavailable"),
  },
});

export function createHealthRoutes({ checkReadiness }: { checkReadiness: ReadinessCheck }) {
  return createRouter()
    .openapi(liveness, (c) => c.json({ status: "ok" as const }, 200))
    .openapi(readiness, async (c) => {
      await checkReadiness((promise) => c.executionCtx.waitUntil(promise));
      return c.json({ status: "ready" as const, database: "ok" as const }, 200);
    });
}
