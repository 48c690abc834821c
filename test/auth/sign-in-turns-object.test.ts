import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { type TurnState, turnSettings } from "../../src/auth/sign-in-turns.ts";

const SETTINGS = turnSettings({ limit: 10, windowMs: 3_600_000 });

describe("SignInTurns object", () => {
  it("writes each turn through to storage, and deletes it all once the window has passed", async () => {
    const stub = env.SIGN_IN_TURNS.get(env.SIGN_IN_TURNS.idFromName("turns-object-test:forget_me"));
    let nowMs = Date.now();
    const stored = await runInDurableObject(stub, (instance, state) => {
      instance.clock = () => nowMs;
      expect(instance.take("ip:192.0.2.0/24", SETTINGS).turn).toBeDefined();
      return state.storage.kv.get<TurnState>("turns");
    });
    expect(stored?.lastCheckMs).toBe(nowMs);

    nowMs += SETTINGS.memoryMs + 1;
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await runInDurableObject(stub, (_instance, state) => [...state.storage.kv.list()])).toEqual([]);
  });
});
