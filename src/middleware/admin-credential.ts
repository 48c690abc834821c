/**
 * The admin routes' own credential: `X-Admin-Key: <ADMIN_SECRET>`, a Worker secret separate from
 * every client credential, so a leaked API key or user token can never administer keys. A request
 * that carries a client credential is refused with 403 whatever else it carries; one without the
 * admin credential, or with a wrong one, gets 401. The secret is compared as SHA-256 digests in
 * constant time. Every decision is an audit event (src/audit.ts) that names the outcome, never the
 * credential. A browser preflight carries no credential, so it gets the 401 too: no admin route
 * ever answers CORS.
 */
import type { Context, MiddlewareHandler } from "hono";
import { audit } from "../audit.ts";
import { sha256, timingSafeEqualBytes } from "../auth/digest.ts";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";

export interface AdminCredentialOptions {
  /** The ADMIN_SECRET; at least 32 bytes. */
  secret: string;
  /** Client address for the audit line. */
  clientIp: (c: Context<AppEnv>) => string;
}

const ADMIN_HEADER = "x-admin-key";

/**
 * @example app.use("/admin/*", adminCredential({ secret: config.ADMIN_SECRET, clientIp: (c) => c.req.header("cf-connecting-ip") ?? "unknown" }))
 */
export function adminCredential(options: AdminCredentialOptions): MiddlewareHandler<AppEnv> {
  if (new TextEncoder().encode(options.secret).length < 32)
    throw new Error("adminCredential: secret must be at least 32 bytes");
  const expectedDigest = sha256(options.secret);

  return async function adminCredential(c, next) {
    const refusal = (status: 401 | 403, reason: string, detail: string): AppError => {
      audit({
        action: "admin.access",
        outcome: "refused",
        reason,
        requestId: c.get("requestId"),
        clientIp: options.clientIp(c),
      });
      return new AppError({
        status,
        code: status === 401 ? "unauthorized" : "forbidden",
        title: status === 401 ? "Authentication required" : "Forbidden",
        detail,
        ...(status === 401 ? { headers: { "WWW-Authenticate": 'AdminKey realm="streamforge-admin"' } } : {}),
      });
    };
    if (c.req.header("authorization") !== undefined || c.req.header("x-api-key") !== undefined) {
      throw refusal(403, "client-credential", "Admin routes take only the admin credential.");
    }
    const presented = c.req.header(ADMIN_HEADER);
    if (presented === undefined) throw refusal(401, "missing", "Send the X-Admin-Key header.");
    // Digests of equal length, so the comparison's time says nothing about the secret's length or content.
    if (!timingSafeEqualBytes(await sha256(presented), await expectedDigest))
      throw refusal(401, "wrong-credential", "The admin credential is not valid.");
    await next();
  };
}
