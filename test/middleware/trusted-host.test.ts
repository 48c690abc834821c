import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { worker } from "../../src/worker.ts";
import { readProblem, requestWith } from "../support/app.ts";

const HOSTS = { ALLOWED_HOSTS: "api.example.com,*.edge.example.com,localhost:8787" };

async function statusFor(url: string, host?: string): Promise<number> {
  const response = await requestWith(HOSTS, url, host === undefined ? undefined : { headers: { Host: host } });
  return response.status;
}

describe("trusted host middleware", () => {
  it.each([
    ["an exact host", "http://api.example.com/health"],
    ["an exact host in another case", "http://API.Example.COM/health"],
    ["the scheme's default port on a port-less entry", "http://api.example.com:80/health"],
    ["one label under a wildcard", "http://eu.edge.example.com/health"],
    ["several labels under a wildcard", "http://a.b.edge.example.com/health"],
    ["an entry's explicit port", "http://localhost:8787/health"],
  ])("admits %s", async (_label, url) => {
    expect(await statusFor(url)).toBe(200);
  });

  it.each([
    ["a foreign host", "http://evil.example.net/health"],
    ["a suffix look-alike", "http://api.example.com.evil.net/health"],
    ["a prefix look-alike", "http://evilapi.example.com/health"],
    ["the bare apex of a wildcard", "http://edge.example.com/health"],
    ["a look-alike of the wildcard's base", "http://eu.badedge.example.com/health"],
    ["a port the entry does not name", "http://api.example.com:8080/health"],
    ["a port-less request to a port-pinned entry", "http://localhost/health"],
    ["another port on a port-pinned entry", "http://localhost:9999/health"],
  ])("refuses %s with a 400 problem", async (_label, url) => {
    const response = await requestWith(HOSTS, url);
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(await readProblem(response)).toMatchObject({ status: 400, code: "untrusted-host" });
  });

  it("judges the Host header, not a forwarded host a client adds", async () => {
    const response = await requestWith(HOSTS, "http://evil.example.net/health", {
      headers: { "X-Forwarded-Host": "api.example.com", Forwarded: "host=api.example.com" },
    });
    expect(response.status).toBe(400);
  });

  it("judges the same Host text by each request's own scheme, however often one isolate sees it", async () => {
    const isolateEnv = { ...env, ...HOSTS } as Env;
    const statusOver = async (scheme: "https" | "http") => {
      const ctx = createExecutionContext();
      const request = new Request(`${scheme}://api.example.com:443/health`, {
        headers: { Host: "api.example.com:443" },
      });
      const response = await worker.fetch(request as Request<unknown, IncomingRequestCfProperties>, isolateEnv, ctx);
      await waitOnExecutionContext(ctx);
      return response.status;
    };
    // 443 is https's own port, so the port-less entry accepts it there and nowhere else.
    for (let round = 0; round < 2; round++) {
      expect(await statusOver("https")).toBe(200);
      expect(await statusOver("http")).toBe(400);
    }
  });

  it("refuses a malformed Host header", async () => {
    expect(await statusFor("http://api.example.com/health", "api.example.com:99999")).toBe(400);
    expect(await statusFor("http://api.example.com/health", "api.example.com:80:80")).toBe(400);
  });
});
