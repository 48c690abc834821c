import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type LoadContext, sendOne } from "../../scripts/soak/load.ts";

let server: http.Server | undefined;

/** A stand-in for the worker that answers every request with `status`, `contentType` and `body`. */
async function answering(status: number, contentType: string, body: string): Promise<LoadContext> {
  server = http.createServer((_request, response) =>
    response.writeHead(status, { "Content-Type": contentType }).end(body),
  );
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { baseUrl: `http://127.0.0.1:${port}`, apiKey: "sfk_soak_x", bearerToken: () => "x.y.z" };
}

afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

describe("soak load judging answers", () => {
  it("counts the runtime's plain 500 apart, whatever kind of request got it", async () => {
    const context = await answering(500, "text/plain;charset=UTF-8", "Internal Server Error");
    const answers = await Promise.all(Array.from({ length: 40 }, () => sendOne(context, 5_000)));
    for (const answer of answers) {
      expect(answer).toMatchObject({
        status: 500,
        plainRuntime500: true,
        unexpected: expect.stringContaining("plain runtime 500"),
      });
    }
  });

  it("calls a problem+json 500 unexpected, but not the runtime's", async () => {
    const problem = JSON.stringify({ status: 500, code: "internal-error" });
    const context = await answering(500, "application/problem+json", problem);
    const answer = await sendOne(context, 5_000);
    expect(answer.plainRuntime500).toBeUndefined();
    expect(answer.unexpected).toContain("status 500");
  });
});
