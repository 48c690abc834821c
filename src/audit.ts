/**
 * Security audit events: one JSON line each on stdout (Workers Logs / `wrangler tail`), so they
 * can be searched and alerted on. Schema: `{"level":"info","event":"audit","action","outcome",
 * "reason"?,"subject"?,"request_id","client_ip"?}`. `subject` names what was acted on (a key id, a
 * tenant, a user name), never a credential: callers pass only identifiers.
 */
import type { Context } from "hono";

/** The client's address for an audit line: `CF-Connecting-IP` only, the one address the edge vouches for. */
export function auditClient(c: Context): { clientIp?: string } {
  const clientIp = c.req.header("cf-connecting-ip");
  return clientIp === undefined ? {} : { clientIp };
}

export interface AuditEvent {
  /**
   * What was attempted: `admin.keys.issue`, `admin.revoke.*`, `admin.access`, `auth.login`,
   * `auth.token`, `auth.api_key`, `auth.session`, `auth.session.refresh`, `auth.logout`,
   * `rate_limit.exhausted`.
   */
  action: string;
  outcome: "success" | "refused";
  /** Why a refusal happened, as a stable slug. */
  reason?: string;
  subject?: string;
  requestId: string;
  clientIp?: string;
}

export function audit(event: AuditEvent): void {
  // info, not log: `wrangler dev` at its default log level shows info lines and hides log lines.
  console.info(
    JSON.stringify({
      level: "info",
      event: "audit",
      action: event.action,
      outcome: event.outcome,
      ...(event.reason === undefined ? {} : { reason: event.reason }),
      ...(event.subject === undefined ? {} : { subject: event.subject }),
      request_id: event.requestId,
      ...(event.clientIp === undefined ? {} : { client_ip: event.clientIp }),
    }),
  );
}
