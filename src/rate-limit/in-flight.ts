/**
 * Work in flight per key in one isolate's memory, with a cap: how many of one tenant's database
 * reads this isolate runs at once. A slot is held from `take` to its `release`. A request that the
 * runtime cancels mid-read (its client went away) may never reach its `release`, so a slot also
 * lapses `maxHoldMs` after it was taken: a lost release cannot shut a key out for the life of the
 * isolate. A key is kept while it holds slots, and one whose slots were lost until its next take,
 * so the table holds at most the tenants with reads in flight or lost, not every tenant ever seen.
 */
export interface Slot {
  readonly key: string;
  readonly takenAtMs: number;
}

export class InFlightLimit {
  private readonly slots = new Map<string, Slot[]>();

  constructor(
    private readonly maxInFlight: number,
    private readonly maxHoldMs: number,
  ) {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new Error("maxInFlight must be a positive integer");
    if (!Number.isInteger(maxHoldMs) || maxHoldMs < 1) throw new Error("maxHoldMs must be a positive integer");
  }

  /** A slot for `key`, or undefined when `maxInFlight` are already held. */
  take(key: string, nowMs: number): Slot | undefined {
    const held = (this.slots.get(key) ?? []).filter((slot) => nowMs - slot.takenAtMs < this.maxHoldMs);
    if (held.length >= this.maxInFlight) {
      this.slots.set(key, held);
      return undefined;
    }
    const slot = { key, takenAtMs: nowMs };
    held.push(slot);
    this.slots.set(key, held);
    return slot;
  }

  /** Whether `take` would refuse `key` now; takes nothing. */
  full(key: string, nowMs: number): boolean {
    const held = this.slots.get(key);
    if (held === undefined) return false;
    let live = 0;
    for (const slot of held) if (nowMs - slot.takenAtMs < this.maxHoldMs) live++;
    return live >= this.maxInFlight;
  }

  release(slot: Slot): void {
    const held = this.slots.get(slot.key);
    if (held === undefined) return;
    const rest = held.filter((other) => other !== slot);
    if (rest.length === 0) this.slots.delete(slot.key);
    else this.slots.set(slot.key, rest);
  }
}
