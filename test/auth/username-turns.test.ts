import { Hono } from "hono";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { SignInTurns } from "../../src/auth/sign-in-turns-object.ts";
import { usernameTurns } from "../../src/auth/username-turns.ts";
import type { AppEnv } from "../../src/env.ts";
import { onError } from "../../src/errors.ts";
import { ratePolicy } from "../../src/rate-limit/policy.ts";

/** A SignInTurns namespace whose objects answer `take` with `answer`. */
function namespaceAnswering(answer: () => Promise<never>): DurableObjectNamespace<SignInTurns> {
  const stub = { take: answer };
  return { idFromName: () => ({}), get: () => stub } as unknown as DurableObjectNamespace<SignInTurns>;
}

/** A sign-in route that checks the password only after the lane gave a turn. */
function signInApp(namespace: DurableObjectNamespace<SignInTurns>) {
  const passwordChecks = { count: 0 };
  const turns = usernameTurns({
    namespace,
    policy: ratePolicy("login-username", "10/hour", "closed"),
    timeoutMs: 50,
  });
  const app = new Hono<AppEnv>();
  app.post("/auth/login", async (c) => {
    await turns.take(c, "turns_file_user");
    passwordChecks.count++;
    return c.json({ ok: true });
  });
  app.onError(onError);
  return { app, passwordChecks };
}

const signIn = (app: Hono<AppEnv>) =>
  app.request("/auth/login", { method: "POST", headers: { "CF-Connecting-IP": "203.0.113.9" } });

describe("username lane when its object fails", () => {
  afterEach(() => vi.restoreAllMocks());

  it.each([
    [
      "throws (a deploy resets it)",
      () => Promise.reject(new Error("Durable Object reset because its code was updated")),
    ],
    ["does not answer", () => new Promise<never>(() => {})],
  ])("answers 503 rate-limiter-unavailable and checks no password when the object %s", async (_kind, answer) => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const { app, passwordChecks } = signInApp(namespaceAnswering(answer));
    for (let attempt = 0; attempt < 3; attempt++) {
      const response = await signIn(app);
      expect(response.status).toBe(503);
      expect(response.headers.get("retry-after")).toBe("5");
      expect(await response.json()).toMatchObject({ status: 503, code: "rate-limiter-unavailable" });
    }
    expect(passwordChecks.count).toBe(0);
    expect(logged.mock.calls.map(([line]) => JSON.parse(String(line)).event)).toEqual(
      Array(3).fill("rate_limiter_unavailable"),
    );
  });
});
