/**
 * The workerd projects' files share runtimes (`isolate: false`): starting workerd and importing
 * the worker once per file was most of the suite's time. Before each file runs, it gets what a
 * fresh runtime gave it: the worker's modules evaluated anew, so per-isolate state (revocation
 * copies, deny caches, fail-open allowances) starts empty as in a new isolate; no Durable Object,
 * live or stored; and an empty data-center cache.
 */
import { reset } from "cloudflare:test";
import { beforeAll, vi } from "vitest";

vi.resetModules();

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
