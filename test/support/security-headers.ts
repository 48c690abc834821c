import { expect } from "vitest";

export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** The header set every API response must carry, whatever its status. */
export const EXPECTED_SECURITY_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "x-xss-protection": "0",
  "content-security-policy": API_CSP,
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-store",
};

export function expectSecurityHeaders(response: Response): void {
  const actual = Object.fromEntries(
    Object.keys(EXPECTED_SECURITY_HEADERS).map((name) => [name, response.headers.get(name)]),
  );
  expect(actual).toEqual(EXPECTED_SECURITY_HEADERS);
  const permissions = response.headers.get("permissions-policy") ?? "";
  for (const feature of ["camera", "microphone", "geolocation", "payment", "usb"])
    expect(permissions).toContain(`${feature}=()`);
  expect(permissions).not.toMatch(/=\*/);
}
