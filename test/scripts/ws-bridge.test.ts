import { createRequire } from "node:module";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBridge, type Bridge } from "../../scripts/lib/ws-bridge.ts";

const require = createRequire(import.meta.url);
const { WebSocket } = require("ws") as typeof import("ws");

function openThroughBridge(bridge: Bridge, address: string): Promise<{ opened: boolean; status?: number; socket?: InstanceType<typeof WebSocket> }> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`ws://${bridge.address}/v2?address=${address}`);
    socket.once("open", () => resolve({ opened: true, socket }));
    socket.once("unexpected-response", (_request, response) => resolve({ opened: false, status: response.statusCode }));
    socket.once("error", () => resolve({ opened: false }));
  });
}

describe("WebSocket→TCP bridge", () => {
  let bridge: Bridge;
  let echo: net.Server;
  let echoPort: number;
  const received: Buffer[] = [];
  let upstreamEnded = false;

  beforeAll(async () => {
    bridge = await startBridge();
    echo = net.createServer((socket) => {
      socket.on("data", (data) => received.push(data));
      socket.on("end", () => {
        upstreamEnded = true;
        socket.end();
      });
    });
    await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
    echoPort = (echo.address() as net.AddressInfo).port;
  });

  afterAll(async () => {
    await bridge.close();
    await new Promise((resolve) => echo.close(resolve));
  });

  it("refuses a target off the loopback interface before opening any connection", async () => {
    expect(await openThroughBridge(bridge, "192.0.2.10:5432")).toEqual({ opened: false, status: 403 });
    expect(await openThroughBridge(bridge, "db.example.com:5432")).toEqual({ opened: false, status: 403 });
  });

  it("answers 502 when nothing listens on the loopback target", async () => {
    expect(await openThroughBridge(bridge, "127.0.0.1:1")).toEqual({ opened: false, status: 502 });
  });

  it("carries bytes to the target and hangs up after the client's Terminate message", async () => {
    const { opened, socket } = await openThroughBridge(bridge, `127.0.0.1:${echoPort}`);
    expect(opened).toBe(true);
    const startup = Buffer.alloc(8);
    startup.writeInt32BE(8, 0);
    startup.writeInt32BE(196608, 4);
    const query = Buffer.concat([Buffer.from("Q"), Buffer.from([0, 0, 0, 13]), Buffer.from("select 1\0")]);
    // Terminate shares a frame with the query, as a driver may batch them.
    socket!.send(startup);
    socket!.send(Buffer.concat([query, Buffer.from([0x58, 0, 0, 0, 4])]));
    await expect.poll(() => upstreamEnded, { timeout: 2000 }).toBe(true);
    expect(Buffer.concat(received).subarray(8, 8 + query.length).toString("latin1")).toBe(query.toString("latin1"));
    socket!.close();
  });
});
