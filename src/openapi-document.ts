/**
 * The OpenAPI 3.1 document of the routes an app mounted (openapi.ts `documentedRoutes`). Outside
 * the worker bundle, which imports nothing from here: test/openapi.test.ts generates the document
 * with it and keeps docs/openapi.json equal to the result (`npm run openapi` writes the file), and
 * the worker serves that file.
 */
import { OpenAPIRegistry, OpenApiGeneratorV31, type RouteConfig } from "@asteasolutions/zod-to-openapi";

const INFO = {
  openapi: "3.1.0",
  info: {
    title: "StreamForge Edge API",
    version: "0.1.0",
    description: "Security gateway and metrics API of StreamForge. Errors are RFC 9457 problem+json.",
    license: { name: "Proprietary", identifier: "LicenseRef-StreamForge-Proprietary" },
  },
  // Relative: the API answers on whichever host ALLOWED_HOSTS names, so the document names none.
  servers: [{ url: "/", description: "The host this document was fetched from" }],
};

/** The credentials openapi.ts API_SECURITY names. */
function registerSecuritySchemes(registry: OpenAPIRegistry): void {
  registry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer", bearerFormat: "JWT" });
  registry.registerComponent("securitySchemes", "apiKey", { type: "apiKey", in: "header", name: "X-API-Key" });
  registry.registerComponent("securitySchemes", "session", {
    type: "apiKey",
    in: "cookie",
    name: "__Host-sf-session",
    description: "Set by POST /auth/session",
  });
  registry.registerComponent("securitySchemes", "csrfToken", {
    type: "apiKey",
    in: "header",
    name: "X-CSRF-Token",
    description: "The csrfToken of the session, required with the session cookie",
  });
}

export function openApiDocument(routes: readonly RouteConfig[]) {
  const registry = new OpenAPIRegistry();
  for (const route of routes) registry.registerPath(route);
  registerSecuritySchemes(registry);
  return new OpenApiGeneratorV31(registry.definitions).generateDocument(INFO);
}
