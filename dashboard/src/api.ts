/**
 * The API client: every call is a credentialed cross-origin fetch to the one configured origin,
 * carrying the session's CSRF token (kept in this module's memory only, never in storage or a
 * readable cookie). Failures come back as `ApiError` with the problem+json body, `Retry-After`
 * and the rate-limit state, so each view can show the state that fits the status.
 */
import { API_ORIGIN } from "./config.ts";
import { parseRateLimit, type RateLimitItem } from "./rate-limit.ts";

export interface FieldProblem {
  path: string;
  message: string;
}

export interface Problem {
  status: number;
  code?: string;
  title?: string;
  detail?: string;
  errors?: FieldProblem[];
}

export class ApiError extends Error {
  /** 0 when the API could not be reached at all (network, CORS). */
  readonly status: number;
  readonly problem: Problem;
  readonly retryAfterSeconds: number | undefined;

  constructor(status: number, problem: Problem, retryAfterSeconds?: number) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export interface ApiResponse<T> {
  body: T;
  rateLimit: RateLimitItem[];
}

let csrfToken: string | undefined;

export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/**
 * A renewal revokes the old session the moment it succeeds, so a read still carrying the old
 * cookie would get a 401 and end the page's session. Renewal and sign-out therefore run alone:
 * new requests wait for them, and they wait for the requests already in flight.
 */
let inFlight = 0;
const drainWaiters: (() => void)[] = [];
let exclusive: Promise<void> | undefined;

export async function withExclusiveAccess<T>(task: () => Promise<T>): Promise<T> {
  while (exclusive !== undefined) await exclusive;
  let release!: () => void;
  exclusive = new Promise<void>((resolve) => (release = resolve));
  try {
    while (inFlight > 0) await new Promise<void>((resolve) => drainWaiters.push(resolve));
    return await task();
  } finally {
    exclusive = undefined;
    release();
  }
}

/** `Retry-After` as delay-seconds (what the API sends) or an HTTP date. */
function retryAfterSeconds(header: string | null): number | undefined {
  if (header === null) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const dateMs = Date.parse(header);
  return Number.isNaN(dateMs) ? undefined : Math.max(0, Math.ceil((dateMs - Date.now()) / 1000));
}

async function problemOf(response: Response): Promise<Problem> {
  const fallback: Problem = { status: response.status, title: response.statusText || `HTTP ${response.status}` };
  if (!(response.headers.get("content-type") ?? "").includes("json")) return fallback;
  try {
    const body = (await response.json()) as Partial<Problem>;
    return { ...fallback, ...body, status: response.status };
  } catch {
    return fallback;
  }
}

export interface RequestOptions {
  method?: "GET" | "POST";
  json?: unknown;
  signal?: AbortSignal;
  /** Only for the request of the task that holds `withExclusiveAccess`. */
  exclusive?: boolean;
  /** Set on the session's own reads, which must not try to recover the session. */
  noRecovery?: boolean;
}

let recoverSession: (() => Promise<boolean>) | undefined;

/**
 * How a signed-in page gets the current session back when its read is refused because another
 * tab of the same browser renewed the session (401 for a read that still carried the old cookie,
 * 403 `csrf-token-invalid` for the new cookie with this page's old token): the session module
 * asks `GET /auth/session` and adopts its token; the read is then sent once more.
 */
export function setSessionRecovery(recover: () => Promise<boolean>): void {
  recoverSession = recover;
}

const sessionReplaced = (error: unknown): boolean =>
  error instanceof ApiError &&
  (error.status === 401 || (error.status === 403 && error.problem.code === "csrf-token-invalid"));

export async function apiRequest<T>(path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
  const signedIn = csrfToken !== undefined;
  try {
    return await tracked<T>(path, options);
  } catch (error) {
    const mayRecover =
      signedIn && options.exclusive !== true && options.noRecovery !== true && recoverSession !== undefined;
    if (!mayRecover || !sessionReplaced(error) || !(await recoverSession!())) throw error;
    return tracked<T>(path, options);
  }
}

async function tracked<T>(path: string, options: RequestOptions): Promise<ApiResponse<T>> {
  while (exclusive !== undefined && options.exclusive !== true) await exclusive;
  inFlight++;
  try {
    return await send<T>(path, options);
  } finally {
    inFlight--;
    if (inFlight === 0) for (const wake of drainWaiters.splice(0)) wake();
  }
}

async function send<T>(path: string, options: RequestOptions): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.json !== undefined) headers["Content-Type"] = "application/json";
  if (csrfToken !== undefined) headers["X-CSRF-Token"] = csrfToken;
  let response: Response;
  try {
    response = await fetch(`${API_ORIGIN}${path}`, {
      method: options.method ?? "GET",
      headers,
      body: options.json === undefined ? null : JSON.stringify(options.json),
      credentials: "include",
      cache: "no-store",
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError(0, { status: 0, title: "The API cannot be reached", detail: `No answer from ${API_ORIGIN}.` });
  }
  if (!response.ok)
    throw new ApiError(
      response.status,
      await problemOf(response),
      retryAfterSeconds(response.headers.get("retry-after")),
    );
  const rateLimit = parseRateLimit(response.headers.get("ratelimit"), response.headers.get("ratelimit-policy"));
  const body = response.status === 204 ? (undefined as T) : ((await response.json()) as T);
  return { body, rateLimit };
}
