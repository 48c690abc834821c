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
