/**
 * The benchmark's baseline: one Hono route and nothing else, on the same runtime and compatibility
 * settings as the real worker. Every other scenario's CPU per request is quoted relative to this.
 */
import { Hono } from "hono";

const app = new Hono();
app.get("/bare", (c) => c.text("ok"));

export default app;
