import { beforeAll, describe, expect, it } from "vitest";
import { DEMO_PASSWORD } from "../../scripts/lib/demo-data.ts";
import { fromBase64Url } from "../../src/auth/base64url.ts";
import { sessionTokens } from "../../src/auth/session-token.ts";
import { issueToken, verifyToken } from "../../src/auth/tokens.ts";
import { fetchWorker } from "../support/app.ts";
import { TEST_TOKENS as TOKENS } from "../support/constants.ts";
import { createTenant } from "../support/owner-db.ts";

const TENANT = "roles-file";
const ADMIN = "roles_file_admin";
const ANALYST = "roles_file_analyst";

let client = 0;
function signIn(path: "/auth/login" | "/auth/session", username: string): Promise<Response> {
  client++;
  return fetchWorker(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "CF-Connecting-IP": `10.91.${client}.7` },
    body: JSON.stringify({ username, password: DEMO_PASSWORD }),
  });
}

const claimsOf = (token: string) =>
  JSON.parse(new TextDecoder().decode(fromBase64Url(token.split(".")[1]!))) as Record<string, unknown>;

beforeAll(async () => {
  await createTenant({
    slug: TENANT,
    users: [
      { username: ADMIN, role: "tenant_admin" },
      { username: ANALYST, role: "analyst" },
    ],
  });
});

describe("user roles in tokens and sessions", () => {
  it("carries a tenant admin's role in the access token and the session", async () => {
    const login = await signIn("/auth/login", ADMIN);
    expect(login.status).toBe(200);
    const { access_token } = (await login.json()) as { access_token: string };
    expect(claimsOf(access_token)).toMatchObject({ sub: ADMIN, tenant: TENANT, role: "tenant_admin" });

    const session = await signIn("/auth/session", ADMIN);
    expect(session.status).toBe(200);
    expect(await session.json()).toMatchObject({ principal: { subject: ADMIN, tenant: TENANT, role: "tenant_admin" } });
  });

  it("carries an analyst's role as analyst", async () => {
    const login = await signIn("/auth/login", ANALYST);
    const { access_token } = (await login.json()) as { access_token: string };
    expect(claimsOf(access_token)).toMatchObject({ sub: ANALYST, role: "analyst" });
    const session = await signIn("/auth/session", ANALYST);
    expect(await session.json()).toMatchObject({ principal: { subject: ANALYST, role: "analyst" } });
  });

  it("reads a token or session without a role, or with a role it does not know, as an analyst's", async () => {
    const nowMs = Date.now();
    const without = await issueToken({ sub: ADMIN, tenant: TENANT }, TOKENS, nowMs);
    expect((await verifyToken(without, TOKENS, nowMs))?.role).toBe("analyst");
    const unknown = await issueToken(
      { sub: ADMIN, tenant: TENANT, role: "superuser" as "tenant_admin" },
      TOKENS,
      nowMs,
    );
    expect((await verifyToken(unknown, TOKENS, nowMs))?.role).toBe("analyst");
    const sessions = sessionTokens({ ...TOKENS, maxLifetimeSeconds: 3600 });
    const { token } = await sessions.issue({ subject: ADMIN, tenant: TENANT, role: "owner" as "analyst" }, nowMs);
    expect((await sessions.verify(token, nowMs))?.role).toBe("analyst");
  });
});
