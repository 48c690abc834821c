/**
 * The files of the `worker` project share one runtime (`isolate: false`): starting workerd and
 * importing the worker once per file was most of the suite's time. Before each file runs, it gets
 * what a fresh runtime gave it: the worker's modules evaluated anew, so per-isolate state
 * (revocation copies, deny caches, fail-open allowances) starts empty as in a new isolate; no live
 * Durable Object instance; and an empty data-center cache. Stored object data stays: files whose
 * assertions depend on what objects hold run in the `worker-isolated` project (vitest.config.ts).
 */
import { abortAllDurableObjects } from "cloudflare:test";
import { beforeAll, vi } from "vitest";

vi.resetModules();

beforeAll(async () => {
  // Instances built from the previous file's modules would refuse calls ("invalidating this Durable Object").
  await abortAllDurableObjects();
  // The Cache API cannot be emptied: the file gets a cache of its own as `caches.default` instead,
  // so a page an earlier file's registry put there is not served to this one.
  const cache = await caches.open(`file-${crypto.randomUUID()}`);
  Object.defineProperty(caches, "default", { value: cache, configurable: true });
});
