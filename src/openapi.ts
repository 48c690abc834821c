/**
 * Routes are declared once with @hono/zod-openapi: the same zod schema validates the request and
 * documents it. Every router comes from `createRouter`, so a validation failure anywhere becomes
 * the same 400 problem with one `errors[]` entry per field.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { z as zod } from "zod";
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
const TARGET_NAMES: Record<string, string> = { json: "body", form: "body" };

/** A query with thousands of unknown keys still gets a short answer. */
const MAX_FIELD_PROBLEMS = 10;

/**
 * One entry per field, naming client-chosen keys only through `echoName`. zod 4 keeps input values
 * out of its messages except the unknown keys it lists, so those get a fixed message instead.
 */
function fieldProblems(target: string, issues: readonly zod.core.$ZodIssue[]): FieldProblem[] {
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

export function createRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (result.success) return;
      const target = TARGET_NAMES[result.target] ?? result.target;
      throw new AppError({
        status: 400,
        code: "validation-failed",
        title: "Invalid request",
        detail: `The request ${target} did not pass validation.`,
        errors: fieldProblems(target, result.error.issues),
      });
    },
  });
}

export const OPENAPI_INFO = {
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
