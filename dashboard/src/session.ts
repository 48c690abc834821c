/**
 * The browser session: an HttpOnly, SameSite=Strict cookie on the API's origin that this page
 * never sees, plus the CSRF token bound to it, held in memory only. A reload asks the API
 * (`GET /auth/session`) for the token again. The session is renewed shortly before `expiresAt`;
 * once a renewal no longer moves `expiresAt` (the absolute lifetime caps it), the page lets it
 * run out and reports the expiry instead of asking again.
 */
import { ApiError, apiRequest, setCsrfToken, setSessionRecovery, withExclusiveAccess } from "./api.ts";

export interface Principal {
  subject: string;
  tenant: string;
  /** A tenant_admin also manages the tenant's API keys. */
  role: "analyst" | "tenant_admin";
}

export interface SessionBody {
  csrfToken: string;
  expiresAt: string;
  principal: Principal;
}

export interface Session {
  principal: Principal;
  expiresAtMs: number;
}

/** Renew this long before expiry, or at a quarter of the remaining time when that is shorter. */
const RENEW_AHEAD_MS = 60_000;

let current: Session | undefined;
let renewTimer: ReturnType<typeof setTimeout> | undefined;
let onExpired: (() => void) | undefined;

export const currentSession = (): Session | undefined => current;

/** Called once when the session is found to be over (renewal refused, or its end reached). */
export function whenSessionExpires(listener: () => void): void {
  onExpired = listener;
}

function clearTimer(): void {
  if (renewTimer !== undefined) clearTimeout(renewTimer);
  renewTimer = undefined;
}

function expire(): void {
  forget();
  onExpired?.();
}

function adopt(body: SessionBody, previousExpiresAtMs?: number): Session {
  setCsrfToken(body.csrfToken);
  const expiresAtMs = Date.parse(body.expiresAt);
  current = { principal: body.principal, expiresAtMs };
  clearTimer();
  const remainingMs = expiresAtMs - Date.now();
  const capped = previousExpiresAtMs !== undefined && expiresAtMs <= previousExpiresAtMs;
  if (capped || remainingMs <= 1000) {
    renewTimer = setTimeout(() => void confirmExpiry(), Math.max(0, remainingMs));
  } else {
    renewTimer = setTimeout(() => void renew(), Math.max(0, remainingMs - Math.min(RENEW_AHEAD_MS, remainingMs / 4)));
  }
  return current;
}

let recovering: Promise<boolean> | undefined;

/** The browser's current session, if it still has one (another tab may have renewed it). Concurrent callers share one request. */
function recover(): Promise<boolean> {
  recovering ??= apiRequest<SessionBody>("/auth/session", { noRecovery: true })
    .then(
      ({ body }) => {
        adopt(body);
        return true;
      },
      () => false,
    )
    .finally(() => {
      recovering = undefined;
    });
  return recovering;
}
setSessionRecovery(recover);

async function renew(): Promise<void> {
  const previous = current?.expiresAtMs;
  try {
    // Adopted inside the exclusive section: no read may go out with the revoked session's token.
    await withExclusiveAccess(async () => {
      const { body } = await apiRequest<SessionBody>("/auth/session/refresh", { method: "POST", exclusive: true });
      adopt(body, previous);
    });
  } catch (error) {
    // Refused: another tab may have renewed the session first; the browser then holds its cookie.
    if (error instanceof ApiError && (error.status === 401 || error.status === 403))
      return (await recover()) ? undefined : expire();
    // Busy or unreachable: try again in a while, as long as the session still has time.
    const retryMs = Math.max(5_000, (error instanceof ApiError ? (error.retryAfterSeconds ?? 0) : 0) * 1000);
    if (current !== undefined && current.expiresAtMs - Date.now() > retryMs)
      renewTimer = setTimeout(() => void renew(), retryMs);
    else renewTimer = setTimeout(() => void confirmExpiry(), Math.max(0, (current?.expiresAtMs ?? 0) - Date.now()));
  }
}

/** At the end of the session's life: the API has the last word. */
async function confirmExpiry(): Promise<void> {
  try {
    const { body } = await apiRequest<SessionBody>("/auth/session", { noRecovery: true });
    if (Date.parse(body.expiresAt) > Date.now()) adopt(body);
    else expire();
  } catch {
    expire();
  }
}

export async function signIn(username: string, password: string): Promise<Session> {
  const { body } = await apiRequest<SessionBody>("/auth/session", { method: "POST", json: { username, password } });
  return adopt(body);
}

/** The session that survived a reload, or undefined (401) when there is none. Other failures throw. */
export async function restoreSession(): Promise<Session | undefined> {
  try {
    const { body } = await apiRequest<SessionBody>("/auth/session", { noRecovery: true });
    return adopt(body);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return undefined;
    throw error;
  }
}

/**
 * Ends the session on the server; a session the server already dropped (401) counts as ended. The
 * page forgets it before any waiting read goes out, so none is sent with the revoked token.
 */
export async function signOut(): Promise<void> {
  await withExclusiveAccess(async () => {
    try {
      await apiRequest<void>("/auth/logout", { method: "POST", exclusive: true });
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) throw error;
    }
    forget();
  });
}

/** Drops what the page knows of the session, without asking the server. */
export function forget(): void {
  clearTimer();
  current = undefined;
  setCsrfToken(undefined);
}
