/**
 * Routes are declared once, with `createRoute`: the same zod schemas validate the request (through
 * @hono/zod-validator, here) and document it. The worker ships no OpenAPI generator, which kept the
 * bundle over its 150 KiB gzip budget (BENCHMARKS.md): src/openapi-document.ts turns the
 * definitions the app mounted into docs/openapi.json, test/openapi.test.ts keeps the file equal to
 * them, and the worker serves it as a static asset (routes/docs.ts). So schemas carry their
 * documentation in zod's own `.meta()`, which needs no extension of zod at start-up. Every router
 * comes from `createRouter`, so a validation failure anywhere becomes the same 400 problem with one
 * `errors[]` entry per field.
 */
import type { RouteConfig, RouteHandler } from "@hono/zod-openapi";
import { zValidator } from "@hono/zod-validator";
import { type Handler, Hono, type MiddlewareHandler } from "hono";
import { z } from "zod";
import type { AppEnv } from "./env.ts";
import { AppError, echoName, type FieldProblem } from "./errors.ts";

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.string(),
    detail: z.string().optional(),
    instance: z.string(),
    request_id: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: "Problem" });

/** A route definition, its method and path kept as literal types so the handler is typed from them. */
export const createRoute = <P extends string, R extends Omit<RouteConfig, "path"> & { path: P }>(route: R): R => route;

/** A documented problem+json response. */
export const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: problemSchema } },
});

/** Any one credential (the session cookie with its CSRF token); typed explicitly, as the inferred `never[]` breaks the routes' input types. */
export const API_SECURITY: { [scheme: string]: string[] }[] = [
  { bearer: [] },
  { apiKey: [] },
  { session: [], csrfToken: [] },
];

/** Routes anyone may call; stated, so a reader (and Redocly) knows the omission is deliberate. */
export const PUBLIC: { [scheme: string]: string[] }[] = [];

/** Refusals the gateway itself gives on any route, before a handler runs. */
export const GATEWAY_REFUSALS = {
  400: problem("Untrusted Host header"),
  403: problem("Origin not allowed, or a credential sent over plain HTTP"),
};

/** Names clients know: they send a body, not a "json" validation target. */
const TARGET_NAMES: Record<string, string> = { json: "body" };

/** A query with thousands of unknown keys still gets a short answer. */
const MAX_FIELD_PROBLEMS = 10;

/**
 * One entry per field, naming client-chosen keys only through `echoName`. zod 4 keeps input values
 * out of its messages except the unknown keys it lists, so those get a fixed message instead.
 */
function fieldProblems(target: string, issues: readonly z.core.$ZodIssue[]): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const issue of issues) {
    const path = [target, ...issue.path.map((segment) => echoName(String(segment)))];
    const entries =
      issue.code === "unrecognized_keys"
        ? issue.keys
            .slice(0, MAX_FIELD_PROBLEMS)
            .map((key) => ({ path: [...path, echoName(key)].join("."), message: "Unrecognized key" }))
        : [{ path: path.join("."), message: issue.message }];
    problems.push(...entries);
    if (problems.length >= MAX_FIELD_PROBLEMS) break;
  }
  return problems.slice(0, MAX_FIELD_PROBLEMS);
}

/**
 * The request parts a route may declare: query, path parameters and a required JSON body. A body's
 * media type and size are checked before it, by the jsonBody middleware (json-body.ts) that each
 * body route mounts.
 */
function validatorsFor(route: RouteConfig): MiddlewareHandler<AppEnv>[] {
  const { query, params, body, headers, cookies } = route.request ?? {};
  const bodyTypes = Object.keys(body?.content ?? {});
  // At start-up, not on a request: a part this router would not validate must not pass unchecked.
  if (headers !== undefined || cookies !== undefined || (body !== undefined && body.required !== true)) {
    throw new Error(`${route.method} ${route.path}: only query, params and a required JSON body are validated`);
  }
  const media = body?.content["application/json"];
  const json = media !== undefined && "schema" in media ? media.schema : undefined;
  if (bodyTypes.some((type) => type !== "application/json") || (body !== undefined && !(json instanceof z.ZodType))) {
    throw new Error(`${route.method} ${route.path}: a body is validated as application/json with a zod schema only`);
  }
  const validators: MiddlewareHandler<AppEnv>[] = [];
  if (query !== undefined) validators.push(zValidator("query", query, failValidation));
  if (params !== undefined) validators.push(zValidator("param", params, failValidation));
  if (json instanceof z.ZodType) validators.push(zValidator("json", json, failValidation));
  return validators;
}

type ValidationResult = ({ success: true } | { success: false; error: z.core.$ZodError }) & { target: string };

function failValidation(result: ValidationResult): void {
  if (result.success) return;
  const target = TARGET_NAMES[result.target] ?? result.target;
  throw new AppError({
    status: 400,
    code: "validation-failed",
    title: "Invalid request",
    detail: `The request ${target} did not pass validation.`,
    errors: fieldProblems(target, result.error.issues),
  });
}

/** Each documented handler's route definition, read back by `documentedRoutes`. */
const routeOfHandler = new WeakMap<Handler<AppEnv>, RouteConfig>();

/** Hono with one more method: mount a `createRoute` definition, its handler behind its validators. */
export interface Router extends Hono<AppEnv> {
  openapi<R extends RouteConfig>(route: R, handler: RouteHandler<R, AppEnv>): Router;
}

class ValidatingRouter extends Hono<AppEnv> implements Router {
  openapi<R extends RouteConfig>(route: R, handler: RouteHandler<R, AppEnv>): Router {
    if (route.middleware !== undefined) throw new Error(`${route.method} ${route.path}: mount middleware with use()`);
    const mounted = handler as Handler<AppEnv>;
    if (route.hide !== true) routeOfHandler.set(mounted, route);
    this.on([route.method], [route.path.replaceAll(/\{([^}]+)\}/g, ":$1")], ...validatorsFor(route), mounted);
    return this;
  }
}

export function createRouter(): Router {
  return new ValidatingRouter();
}

/**
 * The routes `app` documents, in the order it mounted them, under the path each is mounted at
 * (in OpenAPI's `{name}` form): what src/openapi-document.ts generates docs/openapi.json from.
 */
export function documentedRoutes(app: Hono<AppEnv>): RouteConfig[] {
  const routes: RouteConfig[] = [];
  for (const { handler, path } of app.routes) {
    const route = routeOfHandler.get(handler);
    if (route !== undefined) routes.push({ ...route, path: path.replaceAll(/:([^/]+)/g, "{$1}") });
  }
  return routes;
}
