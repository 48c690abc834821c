/**
 * `POST /security/leaked-keys`: where a secret-scanning partner (GitHub's programme) reports keys
 * it found in public: a JSON list of `{"token","type","url","source"}`, signed (see
 * src/auth/partner-signature.ts). The signature is checked on the raw body before anything is
 * parsed; a report that does not verify is refused with 401 and changes nothing. Every listed
 * token that is a genuine key of ours (shape, checksum, MAC) is revoked at once, here and within
 * 60 s everywhere, and marked for its tenant as "reported leaked at <url>". The answer is the list
 * the programme expects, one label per token (`true_positive` for our live keys, `false_positive`
 * otherwise), naming each token by its SHA-256 so the answer never carries a key. One audit line
 * per revoked key, one per report.
 */
import { z } from "zod";
import { audit, auditClient } from "../audit.ts";
import type { ApiKeyVerifier } from "../auth/api-keys.ts";
import { sha256, toHex } from "../auth/digest.ts";
import type { PartnerSignatureVerifier } from "../auth/partner-signature.ts";
import { AppError } from "../errors.ts";
import type { Revocation } from "../keys/revocations.ts";
import type { TenantKeys } from "../keys/tenant-keys.ts";
import { jsonBody } from "../middleware/json-body.ts";
import { createRoute, createRouter, PUBLIC, problem } from "../openapi.ts";

const REPORT_MAX_BYTES = 256 * 1024;
const REPORT_MAX_TOKENS = 1000;

const reportSchema = z
  .array(
    z.object({
      token: z.string().max(1024),
      type: z.string().max(100),
      url: z.string().max(2048),
      source: z.string().max(100),
    }),
  )
  .max(REPORT_MAX_TOKENS);

const LeakLabels = z
  .array(
    z.object({
      token_hash: z.string().meta({ description: "SHA-256 of the token, hex" }),
      token_type: z.string(),
      label: z.enum(["true_positive", "false_positive"]),
    }),
  )
  .meta({ id: "LeakLabels" });

const report = createRoute({
  method: "post",
  path: "/security/leaked-keys",
  operationId: "reportLeakedKeys",
  tags: ["security"],
  summary: "Secret-scanning partner report: revokes every listed key of ours",
  description:
    "Body: a JSON list of {token, type, url, source}, signed with ECDSA P-256 (SHA-256) by the partner; the DER signature in Github-Public-Key-Signature (base64), the key in Github-Public-Key-Identifier.",
  security: PUBLIC,
  responses: {
    200: { description: "One label per token", content: { "application/json": { schema: LeakLabels } } },
    400: problem("Not a list of reports"),
    401: problem("Signature missing or wrong: nothing was revoked"),
    413: problem("Body too large"),
    415: problem("Not JSON"),
    429: problem("Too many requests"),
    503: problem("Registry unavailable"),
  },
});

export interface LeakedKeyRoutesDeps {
  signatures: PartnerSignatureVerifier;
  apiKeys: ApiKeyVerifier;
  /** Puts a key id on its tenant's revocation list and this isolate's copy (src/keys/revoke.ts). */
  revoke: (tenant: string, keyId: string) => Promise<Revocation>;
  /** The tenant's own TenantKeys object, where the reason is shown to the tenant. */
  catalog: (tenant: string) => DurableObjectStub<TenantKeys>;
  /** Epoch ms. */
  clock: () => number;
}

export function createLeakedKeyRoutes({ signatures, apiKeys, revoke, catalog, clock }: LeakedKeyRoutesDeps) {
  const router = createRouter();
  router.post("/security/leaked-keys", jsonBody({ maxBytes: REPORT_MAX_BYTES, parse: false }));

  return router.openapi(report, async (c) => {
    const refuse = (reason: string) => {
      audit({
        action: "security.leak_report",
        outcome: "refused",
        reason,
        requestId: c.get("requestId"),
        ...auditClient(c),
      });
    };
    // The raw bytes, as signed: a parsed and re-serialised body would not verify.
    const body = new Uint8Array(await c.req.arrayBuffer());
    const signed = await signatures.verify(
      c.req.header("github-public-key-identifier"),
      c.req.header("github-public-key-signature"),
      body,
    );
    if (!signed) {
      refuse("invalid-signature");
      throw new AppError({
        status: 401,
        code: "invalid-signature",
        title: "Signature invalid",
        detail: "The report is not signed by a configured secret-scanning key.",
      });
    }
    let parsed: z.infer<typeof reportSchema>;
    try {
      parsed = reportSchema.parse(JSON.parse(new TextDecoder().decode(body)));
    } catch {
      refuse("malformed-report");
      throw new AppError({
        status: 400,
        code: "malformed-report",
        title: "Malformed report",
        detail: `The body must be a JSON list of at most ${REPORT_MAX_TOKENS} {token, type, url, source}.`,
      });
    }
    const nowMs = clock();
    const labels = [];
    for (const reported of parsed) {
      const key = await apiKeys.verify(reported.token);
      if (key !== undefined) {
        await revoke(key.tenant, key.id);
        await catalog(key.tenant).noteRevoked(key.id, nowMs, `reported leaked at ${reported.url}`);
        audit({
          action: "security.leaked_key.revoke",
          outcome: "success",
          subject: `${key.tenant}/${key.id}`,
          requestId: c.get("requestId"),
          ...auditClient(c),
        });
      }
      labels.push({
        token_hash: toHex(await sha256(reported.token)),
        token_type: reported.type,
        label: key === undefined ? ("false_positive" as const) : ("true_positive" as const),
      });
    }
    audit({
      action: "security.leak_report",
      outcome: "success",
      subject: `${labels.filter((entry) => entry.label === "true_positive").length}/${labels.length}`,
      requestId: c.get("requestId"),
      ...auditClient(c),
    });
    return c.json(labels, 200);
  });
}
