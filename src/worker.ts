/**
 * Builds the app once per isolate from the parsed configuration, so middleware factories validate
 * and precompile their options once. When configuration is missing or malformed, every request
 * gets the same fixed 500 problem and the log names the bad keys, never their values.
 */
import { Hono } from "hono";
import { requestId } from "hono/request-id";
import { createApp } from "./app.ts";
import { loadConfig, type AppEnv } from "./env.ts";
import { problemResponse } from "./errors.ts";

type App = { fetch: (request: Request, env: Env, ctx: ExecutionContext) => Response | Promise<Response> };

function createMisconfiguredApp(problems: { key: string; message: string }[]): App {
  const app = new Hono<AppEnv>();
  app.use(requestId({ limitLength: 0 }));
  app.all("*", (c) => {
    console.error(JSON.stringify({ level: "error", event: "misconfigured", request_id: c.get("requestId"), keys: problems }));
    return problemResponse(c, {
      status: 500,
      code: "misconfigured",
      title: "Service misconfigured",
      detail: "The service is not configured correctly.",
    });
  });
  return app;
}

const appsByEnv = new WeakMap<object, App>();

export function appFor(env: Env): App {
  let app = appsByEnv.get(env);
  if (app === undefined) {
    const result = loadConfig(env);
    app = result.ok ? createApp({ config: result.config }) : createMisconfiguredApp(result.problems);
    appsByEnv.set(env, app);
  }
  return app;
}

export const worker = {
  fetch: (request, env, ctx) => appFor(env).fetch(request, env, ctx),
} satisfies ExportedHandler<Env>;
