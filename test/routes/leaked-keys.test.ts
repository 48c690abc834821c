import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { sha256, toHex } from "../../src/auth/digest.ts";
import { derToRaw } from "../../src/auth/partner-signature.ts";
import {
  dashboardSession,
  type IsolateFetch,
  isolateApp,
  issueKey,
  type TestClock,
  testClock,
  uniqueName,
} from "../support/isolate.ts";
import { createTenant } from "../support/owner-db.ts";

const TENANT = "leaks-file";
const ADMIN = "leaks_file_admin";
const DASHBOARD = "http://localhost:5173";
const IDENTIFIER = "leaks-file-key-1";
const LEAK_URL = "https://github.com/leaks-file/app/blob/main/.env";

let ipCounter = 0;
function freshIp(): string {
  ipCounter++;
  return `10.${230 + Math.floor(ipCounter / 250)}.${ipCounter % 250}.44`;
}

/** DER's SEQUENCE { INTEGER r, INTEGER s } from WebCrypto's r‖s, as GitHub sends its signatures. */
function rawToDer(raw: Uint8Array): Uint8Array {
  const integer = (half: Uint8Array) => {
    let start = 0;
    while (start < half.length - 1 && half[start] === 0) start++;
    const value = half.subarray(start);
    const padded = value[0]! & 0x80 ? [0, ...value] : [...value];
    return [0x02, padded.length, ...padded];
  };
  const body = [...integer(raw.subarray(0, 32)), ...integer(raw.subarray(32))];
  return Uint8Array.from([0x30, body.length, ...body]);
}

const base64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

let partner: CryptoKeyPair;
let stranger: CryptoKeyPair;
let publicKeys: string;

async function pemOf(key: CryptoKey): Promise<string> {
  const spki = new Uint8Array((await crypto.subtle.exportKey("spki", key)) as ArrayBuffer);
  return `-----BEGIN PUBLIC KEY-----\n${base64(spki)}\n-----END PUBLIC KEY-----`;
}

async function signatureOf(body: string, signer = partner): Promise<string> {
  const raw = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, signer.privateKey, new TextEncoder().encode(body)),
  );
  return base64(rawToDer(raw));
}

function report(fetch: IsolateFetch, body: string, headers: Record<string, string>): Promise<Response> {
  return fetch("/security/leaked-keys", {
    method: "POST",
    headers: { "Content-Type": "application/json", "CF-Connecting-IP": freshIp(), ...headers },
    body,
  });
}

const withKey = (fetch: IsolateFetch, key: string) =>
  fetch("/auth/me", { headers: { "X-API-Key": key, "CF-Connecting-IP": freshIp() } });

const KEYS_URL = "https://keys.partner.test/meta/public_keys/secret_scanning";

/** The partner's key endpoint, in-test: it serves `keys` (or fails when "down") and counts its calls. */
function keyEndpoint(keys: Record<string, string> | "down") {
  const endpoint = {
    calls: 0,
    fetch: (async (input: RequestInfo | URL) => {
      endpoint.calls++;
      expect(new Request(input).url).toBe(KEYS_URL);
      if (keys === "down") return new Response("unavailable", { status: 503 });
      return Response.json({
        public_keys: Object.entries(keys).map(([key_identifier, key]) => ({ key_identifier, key, is_current: true })),
      });
    }) as typeof fetch,
  };
  return endpoint;
}

/** Configured keys only; the key endpoint, when asked, is down. */
const app = (clock: TestClock) =>
  isolateApp(
    clock,
    { SECRET_SCANNING_PUBLIC_KEYS: publicKeys, SECRET_SCANNING_KEYS_URL: KEYS_URL },
    { fetch: keyEndpoint("down").fetch },
  );

/** A key the tenant's admin created in the dashboard, and the admin's page to list keys with. */
async function tenantKey(fetch: IsolateFetch): Promise<{ id: string; key: string; list: () => Promise<Response> }> {
  const { cookie, csrf: csrfToken } = await dashboardSession(fetch, ADMIN, {
    Origin: DASHBOARD,
    "CF-Connecting-IP": freshIp(),
  });
  const headers = { Origin: DASHBOARD, Cookie: cookie, "X-CSRF-Token": csrfToken, "CF-Connecting-IP": freshIp() };
  const made = await fetch("/tenant/keys", {
    method: "POST",
    headers: { ...headers, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "leaky", scopes: ["streams:read"] }),
  });
  expect(made.status).toBe(201);
  return { ...((await made.json()) as { id: string; key: string }), list: () => fetch("/tenant/keys", { headers }) };
}

beforeAll(async () => {
  const ecdsa = { name: "ECDSA", namedCurve: "P-256" } as const;
  partner = (await crypto.subtle.generateKey(ecdsa, true, ["sign", "verify"])) as CryptoKeyPair;
  stranger = (await crypto.subtle.generateKey(ecdsa, true, ["sign", "verify"])) as CryptoKeyPair;
  publicKeys = JSON.stringify([{ key_identifier: IDENTIFIER, key: await pemOf(partner.publicKey) }]);
  await createTenant({ slug: TENANT, users: [{ username: ADMIN, role: "tenant_admin" }] });
});

describe("POST /security/leaked-keys", () => {
  afterEach(() => vi.restoreAllMocks());

  it("revokes every listed key that verifies, labels each token, and tells the tenant where it leaked", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "info").mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    const clock = testClock();
    const fetch = app(clock);
    const elsewhere = app(clock);
    const tenants = await tenantKey(fetch);
    const operatorId = uniqueName("leaks-op");
    const operators = await issueKey(fetch, { id: operatorId, tenant: TENANT });
    expect((await withKey(elsewhere, tenants.key)).status).toBe(200);
    const lookAlike = `${tenants.key.slice(0, -1)}${tenants.key.at(-1) === "A" ? "B" : "A"}`;
    const tokens = [
      { token: tenants.key, type: "streamforge_api_key", url: LEAK_URL, source: "content" },
      { token: operators, type: "streamforge_api_key", url: LEAK_URL, source: "commit" },
      { token: lookAlike, type: "streamforge_api_key", url: LEAK_URL, source: "content" },
      {
        token: "sfk_nobody_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        type: "streamforge_legacy",
        url: LEAK_URL,
        source: "issue",
      },
    ];
    const body = JSON.stringify(tokens);
    const answer = await report(fetch, body, {
      "Github-Public-Key-Identifier": IDENTIFIER,
      "Github-Public-Key-Signature": await signatureOf(body),
    });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual(
      await Promise.all(
        tokens.map(async (entry, index) => ({
          token_hash: toHex(await sha256(entry.token)),
          token_type: entry.type,
          label: index < 2 ? "true_positive" : "false_positive",
        })),
      ),
    );
    expect((await withKey(fetch, tenants.key)).status).toBe(403);
    expect((await withKey(fetch, operators)).status).toBe(403);
    clock.advance(60_000);
    expect((await withKey(elsewhere, tenants.key)).status).toBe(403);
    expect((await withKey(elsewhere, operators)).status).toBe(403);

    const listed = (await (await tenants.list()).json()) as { keys: Record<string, unknown>[] };
    expect(listed.keys.find((key) => key.id === tenants.id)).toMatchObject({
      state: "revoked",
      revoked_reason: `reported leaked at ${LEAK_URL}`,
    });
    expect(listed.keys.find((key) => key.id === operatorId)).toMatchObject({
      state: "revoked",
      revoked_reason: `reported leaked at ${LEAK_URL}`,
      issued_by: "operator",
    });
    const audits = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(audits).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: "security.leaked_key.revoke", subject: `${TENANT}/${tenants.id}` }),
        expect.objectContaining({ action: "security.leaked_key.revoke", subject: `${TENANT}/${operatorId}` }),
        expect.objectContaining({ action: "security.leak_report", outcome: "success", subject: "2/4" }),
      ]),
    );
    expect(lines.join("\n")).not.toContain(tenants.key.slice(-50, -7));
  });

  it("refuses the same signed report with one byte changed (401) and revokes nothing", async () => {
    const clock = testClock();
    const fetch = app(clock);
    const { key } = await tenantKey(fetch);
    const body = JSON.stringify([{ token: key, type: "streamforge_api_key", url: LEAK_URL, source: "content" }]);
    const signature = await signatureOf(body);
    const altered = body.replace("leaks-file/app", "leaks-file/apq");
    const refused = await report(fetch, altered, {
      "Github-Public-Key-Identifier": IDENTIFIER,
      "Github-Public-Key-Signature": signature,
    });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ code: "invalid-signature" });
    expect((await withKey(fetch, key)).status).toBe(200);
    clock.advance(60_000);
    expect((await withKey(app(clock), key)).status).toBe(200);
  });

  it.each([
    ["no signature", async () => ({ "Github-Public-Key-Identifier": IDENTIFIER })],
    [
      "an unknown key identifier",
      async (body: string) => ({
        "Github-Public-Key-Identifier": "other",
        "Github-Public-Key-Signature": await signatureOf(body),
      }),
    ],
    [
      "a signature by another key pair",
      async (body: string) => ({
        "Github-Public-Key-Identifier": IDENTIFIER,
        "Github-Public-Key-Signature": await signatureOf(body, stranger),
      }),
    ],
    [
      "a signature that is not DER",
      async () => ({
        "Github-Public-Key-Identifier": IDENTIFIER,
        "Github-Public-Key-Signature": base64(new Uint8Array(64)),
      }),
    ],
    [
      "a signature that is not base64",
      async () => ({ "Github-Public-Key-Identifier": IDENTIFIER, "Github-Public-Key-Signature": "%%%" }),
    ],
  ])("refuses a report with %s (401) and revokes nothing", async (_label, headersFor) => {
    const fetch = app(testClock());
    const { key } = await tenantKey(fetch);
    const body = JSON.stringify([{ token: key, type: "streamforge_api_key", url: LEAK_URL, source: "content" }]);
    const refused = await report(fetch, body, await headersFor(body));
    expect(refused.status).toBe(401);
    expect((await withKey(fetch, key)).status).toBe(200);
  });

  it("refuses every report when no partner key is configured nor published", async () => {
    const fetch = isolateApp(testClock(), { SECRET_SCANNING_KEYS_URL: "" });
    const body = "[]";
    const refused = await report(fetch, body, {
      "Github-Public-Key-Identifier": IDENTIFIER,
      "Github-Public-Key-Signature": await signatureOf(body),
    });
    expect(refused.status).toBe(401);
  });

  it("reads DER signatures whose integers carry a leading zero or are short", async () => {
    for (let index = 0; index < 64; index++) {
      const raw = crypto.getRandomValues(new Uint8Array(64));
      if (index % 4 === 0) raw.fill(0, 0, 2);
      if (index % 4 === 1) raw[32] = 0x80;
      expect(derToRaw(rawToDer(raw))).toEqual(raw);
    }
    expect(derToRaw(new Uint8Array([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x02, 0x01]))).toBeUndefined();
  });
});

describe("POST /security/leaked-keys: the partner's published keys", () => {
  afterEach(() => vi.restoreAllMocks());

  const signedReport = async (key: string, identifier: string) => {
    const body = JSON.stringify([{ token: key, type: "streamforge_api_key", url: LEAK_URL, source: "content" }]);
    return {
      body,
      headers: { "Github-Public-Key-Identifier": identifier, "Github-Public-Key-Signature": await signatureOf(body) },
    };
  };

  it("revokes under a key only the partner's endpoint publishes, none configured", async () => {
    const endpoint = keyEndpoint({ "published-key-1": await pemOf(partner.publicKey) });
    const fetch = isolateApp(
      testClock(),
      { SECRET_SCANNING_PUBLIC_KEYS: "", SECRET_SCANNING_KEYS_URL: KEYS_URL },
      { fetch: endpoint.fetch },
    );
    const { key } = await tenantKey(fetch);
    const { body, headers } = await signedReport(key, "published-key-1");
    const answer = await report(fetch, body, headers);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual([expect.objectContaining({ label: "true_positive" })]);
    expect((await withKey(fetch, key)).status).toBe(403);
    expect(endpoint.calls).toBe(1);
  });

  it("makes at most one fetch for a flood of reports naming made-up identifiers, and the partner's report still revokes", async () => {
    vi.spyOn(console, "info").mockImplementation(() => undefined);
    const endpoint = keyEndpoint({ "published-key-1": await pemOf(partner.publicKey) });
    const clock = testClock();
    const fetch = isolateApp(
      clock,
      { SECRET_SCANNING_PUBLIC_KEYS: "", SECRET_SCANNING_KEYS_URL: KEYS_URL },
      { fetch: endpoint.fetch },
    );
    const { key } = await tenantKey(fetch);
    for (let index = 0; index < 40; index++) {
      const forged = await signedReport(key, `made-up-${crypto.randomUUID()}`);
      const refused = await report(fetch, forged.body, forged.headers);
      expect(refused.status).toBe(401);
      clock.advance(5_000);
    }
    expect(endpoint.calls).toBe(1);
    expect((await withKey(fetch, key)).status).toBe(200);
    const genuine = await signedReport(key, "published-key-1");
    expect((await report(fetch, genuine.body, genuine.headers)).status).toBe(200);
    expect((await withKey(fetch, key)).status).toBe(403);
    expect(endpoint.calls).toBe(1);
  });

  it("with the key endpoint down, verifies under a configured key and refuses an unknown one (401), revoking nothing", async () => {
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    const endpoint = keyEndpoint("down");
    const fetch = isolateApp(
      testClock(),
      { SECRET_SCANNING_PUBLIC_KEYS: publicKeys, SECRET_SCANNING_KEYS_URL: KEYS_URL },
      { fetch: endpoint.fetch },
    );
    const unknown = await tenantKey(fetch);
    const refusedReport = await signedReport(unknown.key, "published-key-1");
    expect((await report(fetch, refusedReport.body, refusedReport.headers)).status).toBe(401);
    expect(endpoint.calls).toBe(1);
    expect((await withKey(fetch, unknown.key)).status).toBe(200);

    const configured = await tenantKey(fetch);
    const accepted = await signedReport(configured.key, IDENTIFIER);
    expect((await report(fetch, accepted.body, accepted.headers)).status).toBe(200);
    expect((await withKey(fetch, configured.key)).status).toBe(403);
  });
});
