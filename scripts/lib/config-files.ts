/** Reads `.dev.vars` (dotenv syntax) so scripts see the same settings as `wrangler dev`. */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseEnv } from "node:util";
import { PROJECT_ROOT } from "./migrate.ts";

/** Every non-empty entry of `.dev.vars`; `npm run dev` hands them all to the worker. */
export function readDevVars(): Record<string, string> {
  const file = path.join(PROJECT_ROOT, ".dev.vars");
  if (!existsSync(file)) return {};
  const parsed = parseEnv(readFileSync(file, "utf8"));
  return Object.fromEntries(
    Object.entries(parsed).filter(
      (entry): entry is [string, string] => typeof entry[1] === "string" && entry[1] !== "",
    ),
  );
}

/** Process environment first, then `.dev.vars`; empty values count as unset. */
export function setting(name: string): string | undefined {
  const fromProcess = process.env[name];
  if (fromProcess !== undefined && fromProcess !== "") return fromProcess;
  return readDevVars()[name];
}
