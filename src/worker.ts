/**
 * Builds the app once per isolate from the parsed configuration, so middleware factories validate
 * and precompile their options once. When configuration is missing or malformed, every request
 * gets the same fixed 500 problem and the log names the bad keys, never their values.
 */
import { createApp, createMisconfiguredApp } from "./app.ts";
import { loadConfig } from "./env.ts";

type App = { fetch: (request: Request, env: Env, ctx: ExecutionContext) => Response | Promise<Response> };

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
