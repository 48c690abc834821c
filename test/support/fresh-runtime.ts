/**
 * The workerd projects' files share runtimes (`isolate: false`): starting workerd and importing
 * the worker once per file was most of the suite's time. Before each file runs, it gets what a
 * fresh runtime gave it: the project's modules evaluated anew, so per-isolate state (revocation
 * copies, deny caches, fail-open allowances) starts empty as in a new isolate; no Durable Object,
 * live or stored; and an empty data-center cache.
 */
import { reset } from "cloudflare:test";
import { beforeAll, vi } from "vitest";

/** What vitest's module runner keeps of a module it evaluated in this runtime. */
interface EvaluatedModule {
  promise?: unknown;
  exports?: unknown;
  evaluated: boolean;
  importers: Set<string>;
}
type RunnerState = { evaluatedModules?: { idToModuleMap: Map<string, EvaluatedModule> } };

/**
 * The project's modules (src/, test/, scripts/) are evaluated anew, as `vi.resetModules()` does
 * for every module; the packages (zod, hono, fast-check…) keep theirs: they hold no state of the
 * worker's, and compiling them again for every file cost about 15 s of workerd's CPU per run.
 * vitest offers no filter for this, so this marks the runner's entries as `resetModules` does and
 * falls back to it should the runner's state ever look different.
 */
function resetProjectModules(): void {
  const state = (globalThis as { __vitest_worker__?: RunnerState }).__vitest_worker__;
  if (state?.evaluatedModules === undefined) {
    vi.resetModules();
    return;
  }
  for (const [id, module] of state.evaluatedModules.idToModuleMap) {
    if (id.includes("/node_modules/") || id.startsWith("mock:")) continue;
    module.promise = undefined;
    module.exports = undefined;
    module.evaluated = false;
    module.importers.clear();
  }
}

resetProjectModules();

beforeAll(async () => {
  // Deletes every object's storage and ends its instance: instances built from the previous file's
  // modules would refuse calls ("invalidating this Durable Object"), and what the previous file
  // counted for a client, user or key would count against this file's.
  await reset();
  // The Cache API cannot be emptied: the file gets a cache of its own as `caches.default` instead,
  // so a page an earlier file's registry put there is not served to this one.
  const cache = await caches.open(`file-${crypto.randomUUID()}`);
  Object.defineProperty(caches, "default", { value: cache, configurable: true });
});
