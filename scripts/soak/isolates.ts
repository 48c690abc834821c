/**
 * The V8 isolates of one workerd process, through its inspector (Chrome DevTools Protocol, one
 * WebSocket per isolate): a full garbage collection in each before the soak reads memory, and the
 * worker's own JavaScript heap after it.
 *
 * Why collect first: every database query of the worker leaves through Miniflare's outbound
 * interceptor, a JavaScript worker of its own in the same process. That isolate allocates little
 * per request, so V8 lets its garbage pile up (0.75 KB a request: 27 MiB after 36,000 requests),
 * and the dead objects hold native memory that workerd's allocator counts in RSS: when that heap
 * was collected, the allocator's bytes in use fell from 174 to 106 MiB and RSS from 377 to 318 MiB.
 * Without a collection, RSS measures how long V8 has put off collecting a harness isolate, not what
 * the worker retains (BENCHMARKS.md, "Soak").
 */

export interface Isolates {
  /** Collects garbage in every isolate; resolves to the worker's JavaScript heap in use afterwards, MiB. */
  collect(): Promise<number>;
  /**
   * Isolates left out from the first collection they did not answer in time on. workerd serves an
   * isolate's inspector on that isolate's thread, so one with no requests at the moment
   * (Miniflare's cache helpers, its control and email services) answers late or not at all; while
   * idle, its garbage does not grow either.
   */
  readonly skipped: readonly string[];
  close(): void;
}

/** Generous: a collection of a few MiB takes milliseconds, but the machine may be busy. */
const CALL_TIMEOUT_MS = 30_000;
/** For the other isolates, which may be idle (see `skipped`). */
const HELPER_TIMEOUT_MS = 3_000;

interface Session {
  name: string;
  call(method: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  close(): void;
}

async function openSession(name: string, url: string): Promise<Session> {
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener("open", () => resolve(), { once: true });
    socket.addEventListener("error", () => reject(new Error(`inspector of ${name}: cannot connect`)), { once: true });
  });
  let nextId = 1;
  const waiting = new Map<number, { resolve: (result: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as {
      id?: number;
      result?: Record<string, unknown>;
      error?: unknown;
    };
    if (message.id === undefined) return;
    const entry = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.error !== undefined) entry?.reject(new Error(`inspector of ${name}: ${JSON.stringify(message.error)}`));
    else entry?.resolve(message.result ?? {});
  });
  return {
    name,
    call: (method, timeoutMs = CALL_TIMEOUT_MS) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`inspector of ${name}: no answer to ${method} in ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(id, {
          resolve: (result) => {
            clearTimeout(timer);
            resolve(result);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
        socket.send(JSON.stringify({ id, method, params: {} }));
      }),
    close: () => socket.close(),
  };
}

/** Connects to every isolate workerd's inspector on 127.0.0.1:`port` lists; `workerName` is the worker under test. */
export async function connectIsolates(port: number, workerName: string): Promise<Isolates> {
  const listed = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
    id: string;
    webSocketDebuggerUrl: string;
  }[];
  // One at a time: sessions opened all at once left workerd answering none of them.
  const sessions: Session[] = [];
  for (const target of listed) sessions.push(await openSession(target.id, target.webSocketDebuggerUrl));
  const worker = sessions.find((session) => session.name === `core:user:${workerName}`);
  if (worker === undefined) {
    for (const session of sessions) session.close();
    throw new Error(`workerd's inspector lists no isolate for ${workerName}: ${listed.map((t) => t.id).join(", ")}`);
  }
  let others = sessions.filter((session) => session !== worker);
  const skipped: string[] = [];
  return {
    async collect() {
      // One at a time: a collection blocks its isolate's thread, and these share the process.
      for (const session of others) {
        await session.call("HeapProfiler.collectGarbage", HELPER_TIMEOUT_MS).catch(() => {
          skipped.push(session.name);
          others = others.filter((other) => other !== session);
        });
      }
      await worker.call("HeapProfiler.collectGarbage");
      const usage = await worker.call("Runtime.getHeapUsage");
      return Number(usage.usedSize) / 2 ** 20;
    },
    skipped,
    close() {
      for (const session of sessions) session.close();
    },
  };
}
