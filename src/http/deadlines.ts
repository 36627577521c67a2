/**
 * Timeouts without a timer per request: one unref'd interval per client
 * checks the deadlines of the exchanges in flight. Arming, extending and
 * clearing a deadline is a `Set` operation without even a clock read (the
 * interval starts each deadline's clock at its first check), which keeps
 * timers and clock ops off the per-request path: most deadlines are cleared
 * before any check sees them. A deadline never fires early, and fires at
 * most two ticks (an eighth of its timeout each, between 5 ms and 1 s) late.
 *
 * @module
 */

/** One armed deadline. */
export interface Deadline {
  /**
   * When it expires (`performance.now()` clock); negative until the first
   * check after arming or extending starts its clock.
   */
  at: number;
  /** The timeout in ms, for re-arming. */
  readonly ms: number;
  /** Called once when it expires. */
  readonly onExpire: () => void;
}

const MIN_TICK = 5;
const MAX_TICK = 1000;
/** Idle ticks before the interval stops by itself. */
const IDLE_TICKS = 8;

/** The deadlines of one client. */
export class Deadlines {
  readonly #entries = new Set<Deadline>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #tick = MAX_TICK;
  #idleTicks = 0;

  /**
   * Arms a deadline.
   *
   * @param ms Timeout in milliseconds (> 0).
   * @param onExpire Called once when it passes.
   * @returns The deadline, for {@linkcode Deadlines.extend} and {@linkcode Deadlines.clear}.
   */
  arm(ms: number, onExpire: () => void): Deadline {
    const deadline: Deadline = { at: -1, ms, onExpire };
    this.#entries.add(deadline);
    const tick = Math.min(MAX_TICK, Math.max(MIN_TICK, ms / 8));
    if (this.#timer === undefined || tick < this.#tick) this.#start(tick);
    return deadline;
  }

  /**
   * Pushes a deadline back by its timeout from now (an idle timer: call it
   * whenever bytes arrive).
   *
   * @param deadline An armed deadline.
   */
  extend(deadline: Deadline): void {
    deadline.at = -1;
  }

  /**
   * Disarms a deadline.
   *
   * @param deadline The deadline, or `undefined`.
   */
  clear(deadline: Deadline | undefined): void {
    if (deadline) this.#entries.delete(deadline);
  }

  /** Stops the interval and forgets every deadline. */
  close(): void {
    this.#entries.clear();
    this.#stop();
  }

  #start(tick: number): void {
    this.#stop();
    this.#tick = tick;
    this.#idleTicks = 0;
    this.#timer = setInterval(() => this.#check(), tick);
    Deno.unrefTimer(this.#timer);
  }

  #stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #check(): void {
    if (this.#entries.size === 0) {
      // Kept running for a few ticks so back-to-back requests do not start
      // and stop an interval each.
      if (++this.#idleTicks >= IDLE_TICKS) this.#stop();
      return;
    }
    this.#idleTicks = 0;
    const now = performance.now();
    let smallest = MAX_TICK;
    for (const deadline of this.#entries) {
      // Armed since the last check: its timeout counts from now, so it can
      // be up to a tick late but never early.
      if (deadline.at < 0) deadline.at = now + deadline.ms;
      else if (deadline.at <= now) {
        this.#entries.delete(deadline);
        deadline.onExpire();
        continue;
      }
      smallest = Math.min(smallest, Math.max(MIN_TICK, deadline.ms / 8));
    }
    // A short timeout that has gone: slow the interval back down.
    if (smallest > this.#tick * 2 && this.#entries.size > 0) this.#start(smallest);
  }
}
