/**
 * SignInTurns: one Durable Object per username (exactly as users.username is unique, and per
 * policy: username-turns.ts) that keeps the lane of password checks for clients without a device
 * cookie for it (sign-in-turns.ts says why a lane). One object decides every turn, one call at a time, so two
 * isolates cannot both take the same opening. The state is a few numbers and at most one entry per
 * check in the window (ten for 10/hour), written through to the object's storage so that an evicted
 * object resumes where it was; an alarm deletes it once nothing in it matters any more.
 */
import { DurableObject } from "cloudflare:workers";
import {
  emptyTurnState,
  forgettableAtMs,
  giveTurnBack,
  type Turn,
  type TurnDecision,
  type TurnSettings,
  type TurnState,
  takeTurn,
} from "./sign-in-turns.ts";

const STATE_KEY = "turns";
const FORGET_AT_KEY = "forgetAtMs";
const ALARM_SLACK_MS = 1000;

export class SignInTurns extends DurableObject<Env> {
  private state: TurnState;
  /** The object's notion of now. Only the test suite replaces it (through runInDurableObject). */
  clock: () => number = Date.now;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.state = ctx.storage.kv.get<TurnState>(STATE_KEY) ?? emptyTurnState();
  }

  /** Whether a check for `network` may begin now; the turn to hand back if its password is right. */
  take(network: string, settings: TurnSettings): TurnDecision {
    const decision = takeTurn(this.state, network, this.clock(), settings);
    this.save(settings);
    return decision;
  }

  giveBack(turn: Turn, settings: TurnSettings): void {
    giveTurnBack(this.state, turn);
    this.save(settings);
  }

  override async alarm(): Promise<void> {
    const forgetAtMs = this.ctx.storage.kv.get<number>(FORGET_AT_KEY) ?? 0;
    if (this.clock() < forgetAtMs) {
      await this.ctx.storage.setAlarm(Math.max(forgetAtMs, Date.now()) + ALARM_SLACK_MS);
      return;
    }
    this.state = emptyTurnState();
    await this.ctx.storage.deleteAll();
  }

  private save(settings: TurnSettings): void {
    this.ctx.storage.kv.put(STATE_KEY, this.state);
    const forgetAtMs = forgettableAtMs(this.state, settings);
    this.ctx.storage.kv.put(FORGET_AT_KEY, forgetAtMs);
    // Alarms run on the platform's clock: never set one in its past, which would fire at once.
    if (Number.isFinite(forgetAtMs)) void this.ctx.storage.setAlarm(Math.max(forgetAtMs, Date.now()) + ALARM_SLACK_MS);
  }
}
