import { worker } from "./worker.ts";

export { RateLimiter } from "./rate-limit/durable-object.ts";
export default worker;
