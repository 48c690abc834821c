/** `GET /streams`: the caller's tenant's streams and when each last reported. */
import { z } from "zod";
import type { Database } from "../db/client.ts";
import { listStreams } from "../db/metrics.ts";
import { API_SECURITY, createRoute, createRouter, problem } from "../openapi.ts";

const StreamList = z
  .object({
    streams: z.array(z.object({ name: z.string(), created_at: z.string(), last_bucket_at: z.string().nullable() })),
  })
  .meta({ id: "StreamList" });

const list = createRoute({
  method: "get",
  path: "/streams",
  operationId: "listStreams",
  tags: ["metrics"],
  summary: "The caller's tenant's streams",
  security: API_SECURITY,
  request: { query: z.object({}).strict() },
  responses: {
    200: { description: "Streams", content: { "application/json": { schema: StreamList } } },
    400: problem("Unknown parameters"),
    401: problem("No or invalid credential"),
    403: problem("Wrong API key"),
    429: problem("Too many requests"),
    503: problem("Database unavailable"),
  },
});

/** `database`: the metrics role. */
export function createStreamRoutes({ database }: { database: Database }) {
  return createRouter().openapi(list, async (c) => {
    const [streams] = await database.read([listStreams()], { tenant: c.get("principal").tenant });
    return c.json(
      {
        streams: streams.map((stream) => ({
          name: stream.name,
          created_at: stream.createdAt,
          last_bucket_at: stream.lastBucketAt,
        })),
      },
      200,
    );
  });
}
