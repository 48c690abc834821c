import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { connectIsolates } from "../../scripts/soak/isolates.ts";

const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

interface FakeIsolate {
  /** The heap `Runtime.getHeapUsage` reports, bytes. */
  usedSize: number;
  /** Never answers, as an idle isolate's inspector does not. */
  silent?: boolean;
  /** Methods received, in order. */
  calls: string[];
}

let server: http.Server | undefined;
const sockets = new Set<Duplex>();

/** One unmasked text frame, server to client. */
function frame(text: string): Buffer {
  const payload = Buffer.from(text);
  const header =
    payload.length < 126
      ? Buffer.from([0x81, payload.length])
      : Buffer.from([0x81, 126, payload.length >> 8, payload.length & 255]);
  return Buffer.concat([header, payload]);
}

/** The masked text frames a client sent, as strings; closing and other frames are ignored. */
function* unframe(data: Buffer): Generator<string> {
  let offset = 0;
  while (offset + 2 <= data.length) {
    const opcode = data[offset]! & 0x0f;
    let length = data[offset + 1]! & 0x7f;
    let at = offset + 2;
    if (length === 126) {
      length = data.readUInt16BE(at);
      at += 2;
    }
    const mask = data.subarray(at, at + 4);
    at += 4;
    const payload = Buffer.from(data.subarray(at, at + length).map((byte, index) => byte ^ mask[index % 4]!));
    offset = at + length;
    if (opcode === 1) yield payload.toString();
  }
}

/** workerd's inspector as the soak sees it: a target list and one DevTools session per isolate. */
async function fakeInspector(isolates: Record<string, FakeIsolate>): Promise<number> {
  server = http.createServer((request, response) => {
    const port = (server!.address() as AddressInfo).port;
    if (request.url !== "/json/list") return void response.writeHead(404).end();
    response
      .writeHead(200, { "Content-Type": "application/json" })
      .end(
        JSON.stringify(
          Object.keys(isolates).map((id) => ({ id, webSocketDebuggerUrl: `ws://127.0.0.1:${port}/${id}` })),
        ),
      );
  });
  server.on("upgrade", (request, socket) => {
    sockets.add(socket);
    const isolate = isolates[request.url!.slice(1)]!;
    const accept = createHash("sha1")
      .update(request.headers["sec-websocket-key"] + WEBSOCKET_GUID)
      .digest("base64");
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    socket.on("data", (data: Buffer) => {
      for (const text of unframe(data)) {
        const { id, method } = JSON.parse(text) as { id: number; method: string };
        isolate.calls.push(method);
        if (isolate.silent) continue;
        const result = method === "Runtime.getHeapUsage" ? { usedSize: isolate.usedSize, totalSize: 0 } : {};
        socket.write(frame(JSON.stringify({ id, result })));
      }
    });
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

describe("soak isolates", () => {
  it("collects garbage in every isolate, the worker's last, before reading the worker's heap", async () => {
    const worker: FakeIsolate = { usedSize: 6 * 2 ** 20, calls: [] };
    const interceptor: FakeIsolate = { usedSize: 30 * 2 ** 20, calls: [] };
    const port = await fakeInspector({ "core:user:main-soak": worker, "outbound:0": interceptor });
    const isolates = await connectIsolates(port, "main-soak");

    expect(await isolates.collect()).toBe(6);
    expect(await isolates.collect()).toBe(6);
    isolates.close();

    expect(interceptor.calls).toEqual(["HeapProfiler.collectGarbage", "HeapProfiler.collectGarbage"]);
    expect(worker.calls).toEqual([
      "HeapProfiler.collectGarbage",
      "Runtime.getHeapUsage",
      "HeapProfiler.collectGarbage",
      "Runtime.getHeapUsage",
    ]);
    expect(isolates.skipped).toEqual([]);
  });

  it("leaves out an isolate that does not answer, names it, and does not wait for it again", async () => {
    const worker: FakeIsolate = { usedSize: 5 * 2 ** 20, calls: [] };
    const idle: FakeIsolate = { usedSize: 0, silent: true, calls: [] };
    const port = await fakeInspector({ "cache:cache": idle, "core:user:main-soak": worker });
    const isolates = await connectIsolates(port, "main-soak");

    expect(await isolates.collect()).toBe(5);
    const started = performance.now();
    expect(await isolates.collect()).toBe(5);
    expect(performance.now() - started).toBeLessThan(1_000);
    isolates.close();

    expect(isolates.skipped).toEqual(["cache:cache"]);
    expect(idle.calls).toEqual(["HeapProfiler.collectGarbage"]);
    expect(worker.calls.filter((method) => method === "HeapProfiler.collectGarbage")).toHaveLength(2);
  }, 15_000);

  it("refuses to start when the inspector lists no isolate for the worker", async () => {
    const port = await fakeInspector({ "outbound:0": { usedSize: 0, calls: [] } });
    await expect(connectIsolates(port, "main-soak")).rejects.toThrow(/no isolate for main-soak: outbound:0/);
  });
});
