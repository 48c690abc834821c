/**
 * Composition: the middleware order here is the security order. Each line says why it sits where
 * it does; each behaviour lives in the file its import names.
 */
import { swaggerUI } from "@hono/swagger-ui";
import { requestId } from "hono/request-id";
import { notFound, onError } from "./errors.ts";
import { requireConfig } from "./middleware/config.ts";
import { createRouter, OPENAPI_INFO } from "./openapi.ts";
import { healthRoutes } from "./routes/health.ts";

export function createApp() {
  const app = createRouter();

  // First, so every response — errors included — carries an id. limitLength 0 makes Hono discard any
  // client-sent X-Request-Id: ids in our logs are always ours, so a client cannot forge a correlation.
  app.use(requestId({ limitLength: 0 }));
  // Before any route: a misconfigured worker answers a fixed 500 instead of running half-configured.
  app.use(requireConfig());

  app.route("/", healthRoutes);

  app.doc31("/openapi.json", OPENAPI_INFO);
  app.get("/docs", swaggerUI({ url: "/openapi.json" }));

  app.notFound(notFound);
  app.onError(onError);
  return app;
}
