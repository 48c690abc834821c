import { worker } from "./worker.ts";

export { SignInTurns } from "./auth/sign-in-turns-object.ts";
export { KeyRegistry } from "./keys/registry.ts";
export { SessionFamilies } from "./keys/session-families.ts";
export { TenantKeys } from "./keys/tenant-keys.ts";
export { RateLimiter } from "./rate-limit/durable-object.ts";
export default worker;
