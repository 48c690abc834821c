import { describe, expect, it } from "vitest";
import {
  hashPassword,
  MAX_WORKERS_PBKDF2_ITERATIONS,
  PBKDF2_ITERATIONS,
  verifyPassword,
} from "../../src/auth/password.ts";

const PEPPER = "pepper-for-password-tests-0123456789abcdef";

describe("password hashing", () => {
  it("stores PBKDF2-SHA256 at 100,000 iterations in a self-describing format with a per-user salt", async () => {
    const first = await hashPassword("correct horse battery", PEPPER);
    const second = await hashPassword("correct horse battery", PEPPER);
    expect(first).toMatch(/^pbkdf2-sha256\$100000\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(first.split("$")[2]).not.toBe(second.split("$")[2]);
    expect(PBKDF2_ITERATIONS).toBe(MAX_WORKERS_PBKDF2_ITERATIONS);
  });

  it("verifies the right password and refuses a wrong one or a different pepper", async () => {
    const stored = await hashPassword("correct horse battery", PEPPER);
    expect(await verifyPassword("correct horse battery", PEPPER, stored)).toBe(true);
    expect(await verifyPassword("correct horse batterz", PEPPER, stored)).toBe(false);
    expect(await verifyPassword("correct horse battery", `${PEPPER}x`, stored)).toBe(false);
  });

  it("refuses to hash above the Workers production cap of 100,000 iterations", async () => {
    await expect(hashPassword("pw-12345678", PEPPER, 100_001)).rejects.toThrow(RangeError);
  });

  it("refuses to verify a stored hash above the cap instead of failing only in production", async () => {
    const stored = (await hashPassword("pw-12345678", PEPPER)).replace("$100000$", "$600000$");
    await expect(verifyPassword("pw-12345678", PEPPER, stored)).rejects.toThrow(RangeError);
  });

  it("refuses a stored hash in another format", async () => {
    await expect(verifyPassword("pw-12345678", PEPPER, "$2b$12$abcdefghijklmnopqrstuv")).rejects.toThrow();
  });
});
