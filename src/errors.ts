/**
 * The one error envelope: RFC 9457 `application/problem+json`. Every failure — validation, auth,
 * limits, misconfiguration, unknown exceptions — leaves the worker through `problemResponse`, so a
 * client sees one shape and no stack trace, driver message or secret ever reaches it.
 */
import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { matchedRoutes } from "hono/route";
import { METHOD_NAME_ALL } from "hono/router";
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

/** Longest echo of a client-chosen name (a query key, a body field), after escaping. */
const MAX_ECHOED_NAME_CHARS = 64;
/** Echoed verbatim; anything else (the path separator `.` included) becomes `%XX` of its UTF-8, as in a URL. */
const PLAIN_NAME_CHAR = /^[A-Za-z0-9_-]$/;

const utf8 = new TextEncoder();

/** `%XX` per UTF-8 byte; a lone surrogate becomes U+FFFD's bytes, as TextEncoder does. */
const percentEncode = (char: string) =>
  Array.from(utf8.encode(char), (byte) => `%${byte.toString(16).toUpperCase().padStart(2, "0")}`).join("");

/**
 * A client-chosen name made safe to echo: markup, quotes and control bytes percent-encoded, and
 * the result cut at a fixed length (marked with `…`), so an error body never grows with the input.
 */
export function echoName(name: string): string {
  let escaped = "";
  for (const char of name) {
    const piece = PLAIN_NAME_CHAR.test(char) ? char : percentEncode(char);
    if (escaped.length + piece.length > MAX_ECHOED_NAME_CHARS) return `${escaped}…`;
    escaped += piece;
  }
  return escaped;
}

/**
 * The problem's `instance`: the route template that answered (never the raw path, which is the
 * client's text), or, when no route matched, a URN naming this request only.
 */
export function problemInstance(c: Context, requestId: string): string {
  const route = matchedRoutes(c).findLast((candidate) => candidate.method !== METHOD_NAME_ALL);
  return route?.path ?? `urn:uuid:${requestId}`;
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
  const requestId = c.get("requestId");
  return c.body(problemBody(problem, problemInstance(c, requestId), requestId), problem.status);
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
