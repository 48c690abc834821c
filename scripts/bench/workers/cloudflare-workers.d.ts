/**
 * Types for the one runtime module the reference worker imports. Scripts are type-checked as Node
 * code (tsconfig.node.json), without the Workers globals; this takes the class from the importable
 * entry of @cloudflare/workers-types instead, which declares no globals.
 */
declare module "cloudflare:workers" {
  import type { CloudflareWorkersModule } from "@cloudflare/workers-types";

  export const DurableObject: typeof CloudflareWorkersModule.DurableObject;
  export type DurableObject<Env = unknown> = CloudflareWorkersModule.DurableObject<Env>;
}
