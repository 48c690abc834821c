/**
 * The one error envelope: RFC 9457 `application/problem+json`. Every failure — validation, auth,
 * limits, misconfiguration, unknown exceptions — leaves the worker through `problemResponse`, so a
 * client sees one shape and no stack trace, driver message or secret ever reaches it.
 */
import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv } from "./env.ts";

const PROBLEM_CONTENT_TYPE = "application/problem+json";
const PROBLEM_TYPE_BASE = "https://streamforge.dev/problems/";

export interface FieldProblem {
  /** JSON pointer-ish dotted path into the input (`body.username`, `query.window`). */
  path: string;
  message: string;
}

export interface ProblemInit {
  status: ContentfulStatusCode;
  /** Stable machine-readable slug; becomes the `type` URI and the `code` member. */
  code: string;
  title: string;
  detail?: string;
  errors?: FieldProblem[];
  headers?: Record<string, string>;
}

/** Thrown anywhere in a request to answer with a problem; caught by `onError`. */
export class AppError extends Error {
  readonly problem: ProblemInit;

  constructor(problem: ProblemInit) {
    // An AppError is an answer, not a fault: a stack trace would cost CPU on every refusal and is never read.
    const errorConstructor = Error as { stackTraceLimit?: number };
    const stackTraceLimit = errorConstructor.stackTraceLimit;
    errorConstructor.stackTraceLimit = 0;
    super(problem.detail ?? problem.title);
    errorConstructor.stackTraceLimit = stackTraceLimit;
    this.name = "AppError";
    this.problem = problem;
  }
}

/** The problem document itself, as JSON text. */
export function problemBody(problem: ProblemInit, instance: string, requestId: string): string {
  return JSON.stringify({
    type: PROBLEM_TYPE_BASE + problem.code,
    title: problem.title,
    status: problem.status,
    code: problem.code,
    ...(problem.detail === undefined ? {} : { detail: problem.detail }),
    ...(problem.errors === undefined ? {} : { errors: problem.errors }),
    instance,
    request_id: requestId,
  });
}

export function problemResponse(c: Context<AppEnv>, problem: ProblemInit): Response {
  for (const [name, value] of Object.entries(problem.headers ?? {})) c.header(name, value);
  c.header("Content-Type", PROBLEM_CONTENT_TYPE);
  return c.body(problemBody(problem, c.req.path, c.get("requestId")), problem.status);
}

const HTTP_EXCEPTION_CODES: Partial<Record<number, { code: string; title: string }>> = {
  400: { code: "bad-request", title: "Bad request" },
  401: { code: "unauthorized", title: "Authentication required" },
  403: { code: "forbidden", title: "Forbidden" },
  404: { code: "not-found", title: "Not found" },
  405: { code: "method-not-allowed", title: "Method not allowed" },
  413: { code: "payload-too-large", title: "Payload too large" },
  415: { code: "unsupported-media-type", title: "Unsupported media type" },
  429: { code: "rate-limited", title: "Too many requests" },
};

export const onError: ErrorHandler<AppEnv> = (error, c) => {
  if (error instanceof AppError) return problemResponse(c, error.problem);
  // Hono's own middleware (body limit, JWT, ...) throws HTTPException; keep its status, not its text.
  if (error instanceof HTTPException && HTTP_EXCEPTION_CODES[error.status]) {
    const known = HTTP_EXCEPTION_CODES[error.status]!;
    return problemResponse(c, { status: error.status as ContentfulStatusCode, ...known });
  }
  console.error(
    JSON.stringify({
      level: "error",
      event: "unhandled_exception",
      request_id: c.get("requestId"),
      error_name: error instanceof Error ? error.name : typeof error,
      error_message: error instanceof Error ? error.message : undefined,
    }),
  );
  return problemResponse(c, {
    status: 500,
    code: "internal-error",
    title: "Internal server error",
    detail: "The request could not be completed. Quote the request id when reporting this.",
  });
};

export const notFound: NotFoundHandler<AppEnv> = (c) =>
  problemResponse(c, {
    status: 404,
    code: "not-found",
    title: "Not found",
    detail: "No resource exists at this path.",
  });
