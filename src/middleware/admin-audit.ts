/**
 * Every admin decision leaves an audit line (OWASP ASVS V16: log security-relevant decisions),
 * refusals included: a 400 on a malformed revocation, a 404 on an unknown key or user, a 409, a
 * 429 from the admin limit. The routes audit their own successes with the subject they acted on,
 * and adminCredential audits the credential check (401, 403); this middleware, outermost on
 * /admin/*, audits every other refusal with the problem's code as the reason, so no refusal is
 * silent whichever layer answered it.
 */
import type { Context, MiddlewareHandler } from "hono";
import { audit } from "../audit.ts";
import type { AppEnv } from "../env.ts";
import { AppError } from "../errors.ts";

export interface AdminAuditOptions {
  /** Client address for the audit line. */
  clientIp: (c: Context<AppEnv>) => string;
}

/** The credential check's own statuses: adminCredential has audited them already. */
const AUDITED_BY_CREDENTIAL = new Set([401, 403]);

/** What was attempted, from the method and path: `admin.keys.issue`, `admin.revoke`, `admin.sessions.end` ... */
function actionOf(method: string, path: string): string {
  const resource = path.split("/")[2] ?? "";
  if (resource === "keys") return method === "POST" ? "admin.keys.issue" : "admin.keys.list";
  if (resource === "revocations") return "admin.revoke";
  if (resource === "users" && path.endsWith("/sessions"))
    return method === "DELETE" ? "admin.sessions.end" : "admin.sessions.list";
  return "admin.request";
}

/** @example app.use("/admin/*", adminAudit({ clientIp: (c) => c.req.header("cf-connecting-ip") ?? "unknown" })) */
export function adminAudit(options: AdminAuditOptions): MiddlewareHandler<AppEnv> {
  return async function adminAudit(c, next) {
    await next();
    const status = c.res.status;
    if (status < 400 || AUDITED_BY_CREDENTIAL.has(status)) return;
    audit({
      action: actionOf(c.req.method, c.req.path),
      outcome: "refused",
      reason: c.error instanceof AppError ? c.error.problem.code : `status-${status}`,
      requestId: c.get("requestId"),
      clientIp: options.clientIp(c),
    });
  };
}
