/**
 * Local WebSocket→TCP bridge for the Neon driver: the worker speaks the Postgres protocol over a
 * WebSocket (`ws://bridge/v2?address=host:port`), the bridge carries the bytes to a TCP socket.
 * Loopback targets only, so it cannot be used to reach anything off this machine. It ends the TCP
 * connection after the client's Terminate message because neither PGlite nor the driver hangs up.
 */
import { createRequire } from "node:module";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { WebSocket, WebSocketServer as WebSocketServerType } from "ws";

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

function parseLoopbackTarget(requestUrl: string | undefined): { host: string; port: number } | undefined {
  const target = new URL(requestUrl ?? "/", "http://bridge").searchParams.get("address") ?? "";
  const separator = target.lastIndexOf(":");
  const host = target.slice(0, separator);
  const port = Number(target.slice(separator + 1));
  if (!LOOPBACK_TARGETS.has(host) || !Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  return { host: host.replace(/^\[|\]$/g, ""), port };
}

function refuseUpgrade(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

export async function startBridge(options: { port?: number } = {}): Promise<Bridge> {
  const websockets: WebSocketServerType = new WebSocketServer({ noServer: true });
  const server = http.createServer((_request, response) => response.writeHead(426).end());

  // The TCP side is connected before the WebSocket is accepted: a dead database then fails the
  // handshake, which the driver reports at once, instead of a socket that closes mid-startup.
  server.on("upgrade", (request, socket, head) => {
    const target = parseLoopbackTarget(request.url);
    if (target === undefined) return refuseUpgrade(socket, "403 Forbidden");
    const tcp = net.connect(target);
    tcp.once("error", () => refuseUpgrade(socket, "502 Bad Gateway"));
    tcp.once("connect", () => {
      tcp.removeAllListeners("error");
      websockets.handleUpgrade(request, socket, head, (websocket) => pipe(websocket, tcp));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    address: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of websockets.clients) client.terminate();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function pipe(websocket: WebSocket, tcp: net.Socket): void {
  const sawTerminate = createTerminateDetector();
  tcp.on("data", (data) => websocket.send(data));
  tcp.on("close", () => websocket.close());
  tcp.on("error", () => websocket.close(1011, "upstream error"));
  websocket.on("message", (data: Buffer) => {
    tcp.write(data);
    if (sawTerminate(data)) tcp.end();
  });
  websocket.on("close", () => tcp.end());
  websocket.on("error", () => tcp.destroy());
}
