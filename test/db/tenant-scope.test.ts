import { afterEach, describe, expect, it, vi } from "vitest";
import { tenantScope } from "../../src/db/tenant-scope.ts";
import { requestWith } from "../support/app.ts";
import { TEST_API_KEYS, TEST_TENANT_SCOPE_KEY } from "../support/constants.ts";

describe("tenant scope tokens", () => {
  afterEach(() => vi.restoreAllMocks());

  it("binds the tenant to an expiry a minute after the clock, with a 64-digit hex MAC", async () => {
    const statement = await tenantScope({ key: TEST_TENANT_SCOPE_KEY, clock: () => 1_800_000_000_500 })("acme");
    expect(statement.text).toBe("select app_set_tenant_scope($1, $2, $3)");
    expect(statement.params).toEqual(["acme", 1_800_000_060, expect.stringMatching(/^[0-9a-f]{64}$/)]);
  });

  it("makes a different MAC for another tenant, another expiry or another key", async () => {
    const clock = () => 1_800_000_000_000;
    const macOf = async (key: string, tenant: string, lifetimeSeconds = 60) =>
      (await tenantScope({ key, clock, lifetimeSeconds })(tenant)).params[2];
    const macs = new Set([
      await macOf(TEST_TENANT_SCOPE_KEY, "acme"),
      await macOf(TEST_TENANT_SCOPE_KEY, "globex"),
      await macOf(TEST_TENANT_SCOPE_KEY, "acme", 30),
      await macOf(`${TEST_TENANT_SCOPE_KEY}x`, "acme"),
    ]);
    expect(macs.size).toBe(4);
  });

  it.each([
    ["a key under 32 bytes", { key: "short-tenant-scope-key" }],
    ["a lifetime the database would refuse", { key: TEST_TENANT_SCOPE_KEY, lifetimeSeconds: 301 }],
    ["a lifetime of zero", { key: TEST_TENANT_SCOPE_KEY, lifetimeSeconds: 0 }],
  ])("refuses %s when built", (_label, options) => {
    expect(() => tenantScope(options)).toThrow();
  });

  async function misconfiguredAnswer(
    value: string | undefined,
  ): Promise<{ status: number; text: string; log: string }> {
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const response = await requestWith({ TENANT_SCOPE_KEY: value }, "/streams", {
      headers: { "X-API-Key": TEST_API_KEYS.acmeCurrent.key },
    });
    return { status: response.status, text: await response.text(), log: log.mock.calls.join("\n") };
  }

  it("fails closed with the fixed 500 when TENANT_SCOPE_KEY is missing, naming the key only in the log", async () => {
    const { status, text, log } = await misconfiguredAnswer(undefined);
    expect({ status, code: (JSON.parse(text) as { code: string }).code }).toEqual({
      status: 500,
      code: "misconfigured",
    });
    expect(text).not.toContain("TENANT_SCOPE_KEY");
    expect(log).toContain("TENANT_SCOPE_KEY");
  });

  it("fails closed with the fixed 500 when TENANT_SCOPE_KEY is too short, echoing its value nowhere", async () => {
    const { status, text, log } = await misconfiguredAnswer("too-short-scope-key");
    expect(status).toBe(500);
    expect(log).toContain("TENANT_SCOPE_KEY");
    expect(`${text}\n${log}`).not.toContain("too-short-scope-key");
  });
});
