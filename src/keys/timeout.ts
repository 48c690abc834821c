import { AppError } from "../errors.ts";

/**
 * A bound on how long a request waits for a registry object: an object that hangs must cost a
 * request a known delay and a known answer, not the request's whole lifetime.
 */
export class RegistryTimeout extends Error {
  constructor(readonly timeoutMs: number) {
    super(`registry call took longer than ${timeoutMs} ms`);
    this.name = "RegistryTimeout";
  }
}

/** `promise`, or a RegistryTimeout rejection after `timeoutMs`; the timer never outlives the call. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new RegistryTimeout(timeoutMs)), timeoutMs))),
    ]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/**
 * The answer when shared state could not be read in time: a 503 problem that fails closed, and a
 * log line naming the event and the error's class only (never a credential or the object's text).
 */
export function stateUnavailable(options: {
  event: string;
  code: string;
  detail: string;
  error: unknown;
  requestId?: string;
}): AppError {
  console.error(
    JSON.stringify({
      level: "error",
      event: options.event,
      reason: options.error instanceof Error ? options.error.name : "error",
      ...(options.requestId === undefined ? {} : { request_id: options.requestId }),
    }),
  );
  return new AppError({
    status: 503,
    code: options.code,
    title: "Service temporarily unavailable",
    detail: options.detail,
    headers: { "Retry-After": "5" },
  });
}
