/**
 * Configuration: every var and secret the worker reads, parsed once per isolate with zod. A
 * missing or malformed value fails closed — the request gets a fixed 500 problem and the log
 * names the offending key, never its value (values may be secrets).
 */
import { z } from "zod";

const TLS_SSLMODES = new Set(["require", "verify-full"]);

const postgresUrl = z
  .string()
  .min(1)
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === "postgres:" || url.protocol === "postgresql:") && url.hostname !== "";
    } catch {
      return false;
    }
  }, "must be a postgres:// URL with a host");

/** `host:port` of the local WebSocket→TCP bridge; loopback only, so it can never leave the machine. */
const loopbackBridge = z
  .string()
  .regex(/^(127\.0\.0\.1|localhost|\[::1\]):\d{1,5}$/, "must be a loopback host:port");

const envSchema = z
  .object({
    APP_ENV: z.enum(["production", "local"]),
    DATABASE_URL: postgresUrl,
    LOCAL_DB_BRIDGE: loopbackBridge.optional(),
  })
  .superRefine((env, ctx) => {
    if (env.APP_ENV === "local") {
      if (env.LOCAL_DB_BRIDGE === undefined) {
        ctx.addIssue({ code: "custom", path: ["LOCAL_DB_BRIDGE"], message: "required when APP_ENV is local" });
      }
      return;
    }
    if (env.LOCAL_DB_BRIDGE !== undefined) {
      ctx.addIssue({ code: "custom", path: ["LOCAL_DB_BRIDGE"], message: "only allowed when APP_ENV is local" });
    }
    const sslmode = new URL(env.DATABASE_URL).searchParams.get("sslmode");
    if (sslmode === null || !TLS_SSLMODES.has(sslmode)) {
      ctx.addIssue({
        code: "custom",
        path: ["DATABASE_URL"],
        message: "production requires sslmode=require or sslmode=verify-full",
      });
    }
  });

export type AppConfig = z.infer<typeof envSchema>;

export type AppEnv = {
  Bindings: Env;
  Variables: {
    requestId: string;
    config: AppConfig;
  };
};

export type ConfigResult =
  | { ok: true; config: AppConfig }
  | { ok: false; problems: { key: string; message: string }[] };

const parsedByEnv = new WeakMap<object, ConfigResult>();

/** Parses (once per env object, i.e. once per isolate) and reports bad keys without their values. */
export function loadConfig(env: object): ConfigResult {
  const cached = parsedByEnv.get(env);
  if (cached) return cached;
  const parsed = envSchema.safeParse(env);
  const result: ConfigResult = parsed.success
    ? { ok: true, config: parsed.data }
    : {
        ok: false,
        problems: parsed.error.issues.map((issue) => ({
          key: issue.path.map(String).join(".") || "(env)",
          // zod 4 leaves the input out of its messages, so they are safe to log.
          message: issue.message,
        })),
      };
  parsedByEnv.set(env, result);
  return result;
}
