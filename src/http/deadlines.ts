/**
 * Timeouts without a timer per request: one unref'd interval per client
 * checks the deadlines of the exchanges in flight. Arming and clearing a
 * deadline is an array push or swap-removal without even a clock read (the
 * interval starts each deadline's clock at its first check), which keeps
 * timers and clock ops off the per-request path: most deadlines are cleared
 * before any check sees them. A deadline never fires early, and fires at
 * most two ticks (an eighth of its timeout each, between 5 ms and 1 s) late.
 *
 * @module
 */

/** Whoever armed a deadline; told when it passes. */
export interface DeadlineOwner {
  /**
   * Called once when `deadline` passes.
   *
   * @param deadline The deadline, as `arm` returned it.
   */
  deadlineExpired(deadline: Deadline): void;
}

/** One armed deadline. */
export interface Deadline {
  /**
   * When it expires (`performance.now()` clock); negative until the first
   * check after arming starts its clock.
   */
  at: number;
  /** The timeout in ms, for re-arming. */
  readonly ms: number;
  /** Told once when it expires (an owner rather than a callback: no closure per request). */
  readonly owner: DeadlineOwner;
  /** Where it sits in its `Deadlines` (-1 once cleared or expired). */
  index: number;
}

const MIN_TICK = 5;
const MAX_TICK = 1000;
/** Idle ticks before the interval stops by itself. */
const IDLE_TICKS = 8;

/** The deadlines of one client. */
export class Deadlines {
  /**
   * The armed deadlines, in no order. An array with swap-removal rather than
   * a Set: a Set that goes from one entry to none on every request rebuilt
   * its table each time.
   */
  readonly #entries: Deadline[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #tick = MAX_TICK;
  #idleTicks = 0;
  #closed = false;

  /**
   * Arms a deadline.
   *
   * @param ms Timeout in milliseconds (> 0).
   * @param owner Told once when it passes.
   * @returns The deadline, for {@linkcode Deadlines.clear}.
   */
  arm(ms: number, owner: DeadlineOwner): Deadline {
    const deadline: Deadline = { at: -1, ms, owner, index: this.#entries.length };
    this.#entries.push(deadline);
    const tick = Math.min(MAX_TICK, Math.max(MIN_TICK, ms / 8));
    if (this.#timer === undefined || tick < this.#tick) this.#start(tick);
    return deadline;
  }

  /**
   * Disarms a deadline.
   *
   * @param deadline The deadline, or `undefined`.
   */
  clear(deadline: Deadline | undefined): void {
    if (deadline === undefined || deadline.index === -1) return;
    const entries = this.#entries;
    const last = entries.pop()!;
    if (last !== deadline) {
      entries[deadline.index] = last;
      last.index = deadline.index;
    }
    deadline.index = -1;
  }

  /**
   * Stops the interval and forgets every deadline. A deadline armed later
   * (a body read after the client closed, which fails at once on its
   * closed connection) never fires and starts no interval.
   */
  close(): void {
    this.#closed = true;
    for (const deadline of this.#entries) deadline.index = -1;
    this.#entries.length = 0;
    this.#stop();
  }

  #start(tick: number): void {
    // Only run when the interval is stopped or must tick faster: never on
    // the per-request path.
    if (this.#closed) return;
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
    const entries = this.#entries;
    if (entries.length === 0) {
      // Kept running for a few ticks so back-to-back requests do not start
      // and stop an interval each.
      if (++this.#idleTicks >= IDLE_TICKS) this.#stop();
      return;
    }
    this.#idleTicks = 0;
    const now = performance.now();
    const expired: Deadline[] = [];
    for (const deadline of entries) {
      // Armed since the last check: its timeout counts from now, so it can
      // be up to a tick late but never early.
      if (deadline.at < 0) deadline.at = now + deadline.ms;
      else if (deadline.at <= now) expired.push(deadline);
    }
    // Removed first, then told: an owner may clear or arm others.
    for (const deadline of expired) this.clear(deadline);
    for (const deadline of expired) deadline.owner.deadlineExpired(deadline);
    // A short timeout that has gone: slow the interval back down (judged on
    // what is armed now, after the owners were told).
    let smallest = MAX_TICK;
    for (const deadline of entries) {
      smallest = Math.min(smallest, Math.max(MIN_TICK, deadline.ms / 8));
    }
    if (smallest > this.#tick * 2 && entries.length > 0) this.#start(smallest);
  }
}
