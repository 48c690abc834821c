/**
 * Local WebSocket→TCP bridge for the Neon driver: the worker speaks the Postgres protocol over a
 * WebSocket (`ws://bridge/v2?address=host:port`), the bridge carries the bytes to a TCP socket.
 * Loopback targets only, so it cannot be used to reach anything off this machine. It ends the TCP
 * connection after the client's Terminate message because neither PGlite nor the driver hangs up.
 */
import { createRequire } from "node:module";
import net from "node:net";
import type { AddressInfo } from "node:net";
import type { WebSocketServer as WebSocketServerType } from "ws";

const require = createRequire(import.meta.url);
const { WebSocketServer } = require("ws") as typeof import("ws");

const LOOPBACK_TARGETS = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);
const TERMINATE = 0x58;

export interface Bridge {
  port: number;
  /** `host:port` to hand the worker as LOCAL_DB_BRIDGE. */
  address: string;
  close(): Promise<void>;
}

/**
 * Follows Postgres frontend framing (an untyped startup packet, then type byte + int32 length) so
 * it can spot Terminate even when messages share or straddle WebSocket frames.
 */
function createTerminateDetector(): (chunk: Buffer) => boolean {
  let pending: Buffer = Buffer.alloc(0);
  let sawStartup = false;
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    for (;;) {
      if (!sawStartup) {
        if (pending.length < 4) return false;
        const length = pending.readInt32BE(0);
        if (pending.length < length) return false;
        const code = length >= 8 ? pending.readInt32BE(4) : 0;
        pending = pending.subarray(length);
        // SSLRequest (80877103) and GSSENCRequest (80877104) precede the real startup packet.
        if (code !== 80877103 && code !== 80877104) sawStartup = true;
        continue;
      }
      if (pending.length < 5) return false;
      if (pending[0] === TERMINATE) return true;
      const length = pending.readInt32BE(1);
      if (pending.length < 1 + length) return false;
      pending = pending.subarray(1 + length);
    }
  };
}

export async function startBridge(options: { port?: number } = {}): Promise<Bridge> {
  const server: WebSocketServerType = new WebSocketServer({ host: "127.0.0.1", port: options.port ?? 0 });
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });

  server.on("connection", (socket, request) => {
    const target = new URL(request.url ?? "/", "http://bridge").searchParams.get("address") ?? "";
    const separator = target.lastIndexOf(":");
    const host = target.slice(0, separator);
    const port = Number(target.slice(separator + 1));
    if (!LOOPBACK_TARGETS.has(host) || !Number.isInteger(port) || port <= 0 || port > 65535) {
      socket.close(1008, "target not allowed");
      return;
    }
    const tcp = net.connect({ host: host.replace(/^\[|\]$/g, ""), port });
    const sawTerminate = createTerminateDetector();
    const queued: Buffer[] = [];
    let connected = false;

    tcp.on("connect", () => {
      connected = true;
      for (const chunk of queued) tcp.write(chunk);
      queued.length = 0;
    });
    tcp.on("data", (data) => socket.send(data));
    tcp.on("close", () => socket.close());
    // A refused or broken TCP side closes the WebSocket at once, so the driver fails fast.
    tcp.on("error", () => socket.close(1011, "upstream unavailable"));

    socket.on("message", (data: Buffer) => {
      if (connected) tcp.write(data);
      else queued.push(data);
      if (sawTerminate(data)) tcp.end();
    });
    socket.on("close", () => tcp.end());
    socket.on("error", () => tcp.destroy());
  });

  const { port } = server.address() as AddressInfo;
  return {
    port,
    address: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}
