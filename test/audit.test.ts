import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DEMO_PASSWORD } from "../scripts/lib/demo-data.ts";
import { keyChecksum } from "../src/auth/key-checksum.ts";
import { worker } from "../src/worker.ts";
import { ORIGIN } from "./support/app.ts";
import { TEST_API_KEYS } from "./support/constants.ts";

type AuditLine = Record<string, unknown>;

/** Every console line the worker writes, and the audit events among them. */
function capture() {
  const lines: string[] = [];
  for (const method of ["log", "info", "warn", "error", "debug"] as const) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
  }
  const events = () =>
    lines.filter((line) => line.includes('"event":"audit"')).map((line) => JSON.parse(line) as AuditLine);
  return { lines, events };
}

/** One isolate of the worker with its own configuration. */
function isolate(vars: Record<string, string> = {}) {
  const isolateEnv = { ...env, ...vars } as Env;
  return async (path: string, init: RequestInit = {}) => {
    const ctx = createExecutionContext();
    const response = await worker.fetch(
      new Request(ORIGIN + path, init) as Request<unknown, IncomingRequestCfProperties>,
      isolateEnv,
      ctx,
    );
    await response.arrayBuffer();
    await waitOnExecutionContext(ctx);
    return response;
  };
}

const login = (username: string, password: string, ip: string) => ({
  method: "POST",
  headers: { "Content-Type": "application/json", "CF-Connecting-IP": ip },
  body: JSON.stringify({ username, password }),
});

describe("security audit events", () => {
  afterEach(() => vi.restoreAllMocks());

  it("records a login's success and failure with the account and the client, never the password or the token", async () => {
    const { lines, events } = capture();
    const request = isolate();
    const ok = await request("/auth/login", login("acme_analyst", DEMO_PASSWORD, "192.0.2.201"));
    expect(ok.status).toBe(200);
    expect((await request("/auth/login", login("acme_analyst", "not-the-password", "192.0.2.202"))).status).toBe(401);
    expect(events()).toEqual([
      expect.objectContaining({
        level: "info",
        action: "auth.login",
        outcome: "success",
        subject: "acme_analyst",
        client_ip: "192.0.2.201",
        request_id: ok.headers.get("x-request-id"),
      }),
      expect.objectContaining({
        action: "auth.login",
        outcome: "refused",
        reason: "invalid-credentials",
        subject: "acme_analyst",
        client_ip: "192.0.2.202",
      }),
    ]);
    for (const secret of [DEMO_PASSWORD, "not-the-password"]) expect(lines.join("\n")).not.toContain(secret);
  });

  it("records a login refused by a limit", async () => {
    const { events } = capture();
    const request = isolate({ RATE_LIMIT_LOGIN_IP: "1/minute" });
    await request("/auth/login", login("nobody_here", "wrong-password", "192.0.2.203"));
    expect((await request("/auth/login", login("nobody_here", "wrong-password", "192.0.2.203"))).status).toBe(429);
    expect(events().at(-1)).toMatchObject({
      action: "auth.login",
      outcome: "refused",
      reason: "network-rate-limited",
      client_ip: "192.0.2.203",
    });
  });

  it("records a refused token and a refused key without quoting either", async () => {
    const { lines, events } = capture();
    const request = isolate();
    const forgedKey = `${TEST_API_KEYS.acmeCurrent.key.slice(0, -1)}x`;
    expect(
      (
        await request("/auth/me", {
          headers: { Authorization: "Bearer not.a.token", "CF-Connecting-IP": "192.0.2.204" },
        })
      ).status,
    ).toBe(401);
    expect(
      (await request("/auth/me", { headers: { "X-API-Key": forgedKey, "CF-Connecting-IP": "192.0.2.205" } })).status,
    ).toBe(403);
    expect(events()).toEqual([
      expect.objectContaining({
        action: "auth.token",
        outcome: "refused",
        reason: "invalid",
        client_ip: "192.0.2.204",
      }),
      expect.objectContaining({
        action: "auth.api_key",
        outcome: "refused",
        reason: "invalid",
        client_ip: "192.0.2.205",
      }),
    ]);
    expect(lines.join("\n")).not.toContain("not.a.token");
    expect(lines.join("\n")).not.toContain(forgedKey.slice(-20));
  });

  it("records a scannable key whose checksum holds but whose MAC does not, and nothing for a value no key could be", async () => {
    const { events } = capture();
    const request = isolate();
    const claims = btoa(JSON.stringify({ id: "forged-audit", t: "acme", s: ["metrics:read"], iat: 1_800_000_000 }))
      .replaceAll("+", "-")
      .replaceAll("/", "_")
      .replaceAll("=", "");
    const body = `sfk3_k1_${claims}_${"F".repeat(43)}`;
    const checksum = keyChecksum(body);
    const forged = `${body}_${checksum}`;
    const mistyped = `${body}_${checksum.slice(0, -1)}${checksum.endsWith("0") ? "1" : "0"}`;
    for (const [key, ip] of [
      [mistyped, "192.0.2.207"],
      ["not-a-key-at-all", "192.0.2.208"],
      [forged, "192.0.2.209"],
    ] as const) {
      expect((await request("/auth/me", { headers: { "X-API-Key": key, "CF-Connecting-IP": ip } })).status).toBe(403);
    }
    expect(events()).toEqual([
      expect.objectContaining({
        action: "auth.api_key",
        outcome: "refused",
        reason: "invalid",
        client_ip: "192.0.2.209",
      }),
    ]);
  });

  it("records a client's exhaustion once, not every 429 that follows", async () => {
    const { events } = capture();
    const request = isolate({ RATE_LIMIT_API: "1/minute" });
    const headers = { "X-API-Key": TEST_API_KEYS.acmeCurrent.key, "CF-Connecting-IP": "192.0.2.206" };
    expect((await request("/auth/me", { headers })).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await request("/auth/me", { headers })).status).toBe(429);
    expect(events().filter((event) => event.action === "rate_limit.exhausted")).toEqual([
      expect.objectContaining({
        outcome: "refused",
        reason: "api",
        subject: "ip:192.0.2.206",
        client_ip: "192.0.2.206",
      }),
    ]);
  });
});
