/**
 * The in-memory engine of the chaos tests: connections whose engine side
 * answers, stalls, hangs up or resets at seeded points, a turn clock that
 * drives them (so one seed replays one schedule), and the log of what the
 * client sent, on which connection, and what it was sent back, which the
 * invariants are checked against.
 *
 * Only the client's own timeouts run on real time, so a case that times
 * out replays the same plan, not always the same interleaving.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { DockerConnectionError } from "../../src/errors.ts";
import { concat } from "../_fake_engine.ts";
import { caseSeed, Random, tiered } from "../_fuzz.ts";
import type { Answer } from "./_chaos_requests.ts";
import { InMemoryConn } from "./_in_memory_conn.ts";

// ---------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------

/**
 * Drives a scenario in turns, one macrotask each (`setImmediate`: not
 * clamped like a nested `setTimeout`, and timers still fire between turns).
 * Whatever is due in a turn runs in the order it was scheduled.
 */
export class Clock {
  /** Turns run so far. */
  turn = 0;
  readonly #due = new Map<number, (() => void)[]>();

  /**
   * Runs `callback` in the turn `turns` from now (at least 1), in a
   * macrotask of its own: an abort fired there sees all earlier work
   * settled.
   */
  schedule(turns: number, callback: () => void): void {
    const at = this.turn + Math.max(1, turns);
    const list = this.#due.get(at);
    if (list) list.push(callback);
    else this.#due.set(at, [callback]);
  }

  /** Resolves `turns` turns from now (at once for 0). */
  after(turns: number): Promise<void> {
    if (turns <= 0) return Promise.resolve();
    return new Promise((resolve) => this.schedule(turns, resolve));
  }

  /**
   * Runs turns until `done()` holds or `ms` of real time have passed.
   *
   * @returns Whether `done()` held.
   */
  async run(done: () => boolean, ms: number): Promise<boolean> {
    const start = performance.now();
    while (!done()) {
      if (performance.now() - start > ms) return false;
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.turn++;
      const due = this.#due.get(this.turn);
      if (due) {
        this.#due.delete(this.turn);
        // Each in a macrotask of its own: what one set off (an abort, a
        // close) settles before the next runs.
        for (let i = 0; i < due.length; i++) {
          if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
          due[i]!();
        }
      }
    }
    return true;
  }
}

/**
 * Counts the timers and intervals started while installed and not yet run
 * out or cleared, and those started after the client was closed: Deno
 * 2.9's test sanitizers do not report timers, so a client that leaves one
 * armed, or starts one, after `close()` is caught here.
 */
export class TimerTracker implements Disposable {
  readonly live = new Map<unknown, string>();
  /** Set when the client is closed: from then on, no timer may start. */
  closed = false;
  /** Timers started while {@linkcode TimerTracker.closed}. */
  readonly startedAfterClose: string[] = [];
  readonly #saved = {
    setTimeout: globalThis.setTimeout,
    setInterval: globalThis.setInterval,
    clearTimeout: globalThis.clearTimeout,
    clearInterval: globalThis.clearInterval,
  };

  constructor() {
    const saved = this.#saved;
    const live = this.live;
    const clear = ((id?: number) => {
      live.delete(id);
      saved.clearTimeout(id);
    }) as typeof clearTimeout;
    globalThis.setTimeout = ((callback: () => void, ms?: number) => {
      const id = saved.setTimeout(() => {
        live.delete(id);
        callback();
      }, ms);
      live.set(id, `setTimeout(${ms})`);
      if (this.closed) this.startedAfterClose.push(`setTimeout(${ms})`);
      return id;
    }) as typeof setTimeout;
    globalThis.setInterval = ((callback: () => void, ms?: number) => {
      const id = saved.setInterval(callback, ms);
      live.set(id, `setInterval(${ms})`);
      if (this.closed) this.startedAfterClose.push(`setInterval(${ms})`);
      return id;
    }) as typeof setInterval;
    globalThis.clearTimeout = clear;
    globalThis.clearInterval = clear;
  }

  [Symbol.dispose](): void {
    Object.assign(globalThis, this.#saved);
    for (const id of this.live.keys()) this.#saved.clearTimeout(id as number);
  }
}

// ---------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------

/** One request as it reached a connection (its head, at least). */
export interface Send {
  id: number;
  method: string;
  conn: ChaosConn;
  /** Requests this connection carried before it. */
  index: number;
  /** Requests with this id sent before it, on any connection. */
  attempt: number;
  turn: number;
  /** Whether its whole body arrived. */
  bodyDone: boolean;
  /** Response bytes the engine wrote for it. */
  pushed: number;
  /** Response bytes the client read of it. */
  delivered: number;
  /** Whether the engine finished its response (a close-delimited one: with the EOF). */
  answered: boolean;
  /** Whether the engine let the connection be reused after it. */
  reusable: boolean;
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

const CRLF2 = [13, 10, 13, 10];
const latin1 = new TextDecoder("latin1");

/**
 * An in-memory `Deno.Conn` with an engine at the other end: it parses the
 * requests the client writes (recording each as a {@linkcode Send}, and
 * any request written before the previous response was read whole as a
 * violation) and serves what the engine pushes, as Deno's sockets do:
 * a read pending when closed fails with `Interrupted`, a read or write
 * after with `BadResource`, a reset with `ConnectionReset`, a write after
 * the engine hung up with `BrokenPipe` (or silently).
 */
export class ChaosConn extends InMemoryConn {
  readonly id: number;
  readonly sends: Send[] = [];
  /** Turn the client closed it, if it did. */
  closedAt: number | undefined;
  /** How the engine hung up, if it did. */
  hungUp: "eof" | "reset" | undefined;
  readonly #engine: ChaosEngine;
  readonly #random: Random;
  /** Whether it behaves as TLS: a failed write may have sent part of its bytes. */
  readonly #tls: boolean;
  readonly #toClient: Uint8Array[] = [];
  #inbox: Uint8Array = new Uint8Array(0);
  #state: "head" | "length" | "chunked" = "head";
  #bodyLeft = 0;
  #receiving: Send | undefined;
  /** Pending reads (woken by the engine) and delayed writes; a close fails both. */
  #readers: Waiter[] = [];
  #writers: Waiter[] = [];
  #changed: (() => void)[] = [];

  constructor(engine: ChaosEngine, id: number, random: Random, tls: boolean) {
    super();
    this.#engine = engine;
    this.id = id;
    this.#random = random;
    this.#tls = tls;
    // What berth tells a TLS connection by (Deno.TlsConn has it).
    if (tls) Object.defineProperty(this, "handshake", { value: () => Promise.resolve({}) });
  }

  /** Whether the engine can still talk on it. */
  get alive(): boolean {
    return this.closedAt === undefined && this.hungUp === undefined;
  }

  /** Whether its last request was answered and read whole (as a pooled one must be). */
  get atRest(): boolean {
    const last = this.sends.at(-1);
    return last === undefined ||
      (last.answered && last.reusable && this.#toClient.length === 0 && this.#state === "head" &&
        this.#inbox.length === 0);
  }

  /** Whether it holds a request whose response the client has not read whole. */
  get outstanding(): boolean {
    const last = this.sends.at(-1);
    return this.closedAt === undefined && last !== undefined &&
      !(last.answered && this.#toClient.length === 0);
  }

  // --- the client's side ---------------------------------------------------

  async read(into: Uint8Array): Promise<number | null> {
    while (true) {
      if (this.closedAt !== undefined) throw new Deno.errors.BadResource("Bad resource ID");
      const piece = this.#toClient[0];
      if (piece !== undefined) {
        const n = Math.min(into.length, piece.length);
        into.set(piece.subarray(0, n));
        if (n === piece.length) this.#toClient.shift();
        else this.#toClient[0] = piece.subarray(n);
        this.sends.at(-1)!.delivered += n;
        return n;
      }
      if (this.hungUp === "eof") return null;
      if (this.hungUp === "reset") {
        throw new Deno.errors.ConnectionReset("Connection reset by peer (os error 104)");
      }
      await this.#wait(this.#readers);
    }
  }

  async write(bytes: Uint8Array): Promise<number> {
    if (this.closedAt !== undefined) throw new Deno.errors.BadResource("Bad resource ID");
    const random = this.#random;
    if (random.next() < 0.1) {
      await this.#wait(this.#writers, this.#engine.clock.after(1 + random.int(4)));
    }
    if (this.closedAt !== undefined) throw new Deno.errors.BadResource("Bad resource ID");
    // A write that fails after the engine hung up sent nothing on a plain
    // socket; on TLS it may have put part of its bytes on the wire first
    // (its records go one by one), never all of them. What went is logged
    // as sent (the client cannot know it was lost); a write that succeeds
    // after the hang-up is logged whole.
    if (this.hungUp === "reset") {
      if (this.#tls) this.#receive(bytes.subarray(0, random.int(bytes.length)));
      throw new Deno.errors.ConnectionReset("Connection reset by peer (os error 104)");
    }
    if (this.hungUp === "eof" && random.next() < 0.5) {
      if (this.#tls) this.#receive(bytes.subarray(0, random.int(bytes.length)));
      throw new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
    }
    const n = bytes.length > 1 && random.next() < 0.15
      ? 1 + random.int(bytes.length - 1)
      : bytes.length;
    this.#receive(bytes.subarray(0, n));
    return n;
  }

  close(): void {
    if (this.closedAt !== undefined) throw new Deno.errors.BadResource("Bad resource ID");
    this.closedAt = this.#engine.clock.turn;
    for (const waiter of [...this.#readers.splice(0), ...this.#writers.splice(0)]) {
      waiter.reject(new Deno.errors.Interrupted("operation canceled"));
    }
    this.#notify();
  }

  override [Symbol.dispose](): void {
    if (this.closedAt === undefined) this.close();
  }

  /** Waits in `list` (or until `until`); a close fails the wait as Deno fails a pending op. */
  #wait(list: Waiter[], until?: Promise<void>): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      list.push(waiter);
      until?.then(() => {
        const index = list.indexOf(waiter);
        if (index !== -1) list.splice(index, 1);
        resolve();
      });
    });
  }

  // --- the engine's side ---------------------------------------------------

  /** Resolves at the next change: bytes from the client, or a close. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.#changed.push(resolve));
  }

  /** Writes response bytes for `send`. */
  push(send: Send, bytes: Uint8Array): void {
    send.pushed += bytes.length;
    this.#toClient.push(bytes);
    this.#wakeReaders();
  }

  /** Hangs up: an EOF after what was pushed, or a reset. */
  hangUp(how: "eof" | "reset"): void {
    if (!this.alive) return;
    this.hungUp = how;
    this.#engine.trace(this.sends.at(-1)?.id, `c${this.id} engine hangs up (${how})`);
    this.#wakeReaders();
  }

  #wakeReaders(): void {
    // A waiting read resumes and finds the bytes or the end.
    for (const waiter of this.#readers.splice(0)) waiter.resolve();
  }

  #notify(): void {
    for (const resolve of this.#changed.splice(0)) resolve();
  }

  /** Parses what the client wrote into requests. */
  #receive(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.#state === "head" && this.#inbox.length === 0) this.#engine.requestStarts(this);
    this.#inbox = concat([this.#inbox, bytes]);
    while (this.#inbox.length > 0) {
      if (this.#state === "head") {
        const end = indexOf(this.#inbox, CRLF2);
        if (end === -1) break;
        const text = latin1.decode(this.#inbox.subarray(0, end));
        this.#inbox = this.#inbox.subarray(end + 4);
        const [line = "", ...fields] = text.split("\r\n");
        const [method = "", target = ""] = line.split(" ");
        const field = (name: string) =>
          fields.find((f) => f.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim();
        const id = Number(target.split("/")[2]);
        const send: Send = {
          id,
          method,
          conn: this,
          index: this.sends.length,
          attempt: this.#engine.sendsOf(id).length,
          turn: this.#engine.clock.turn,
          bodyDone: false,
          pushed: 0,
          delivered: 0,
          answered: false,
          reusable: false,
        };
        this.sends.push(send);
        this.#engine.sent(send);
        this.#receiving = send;
        const length = Number(field("content-length") ?? 0);
        if (field("transfer-encoding") === "chunked") this.#state = "chunked";
        else if (length > 0) [this.#state, this.#bodyLeft] = ["length", length];
        else send.bodyDone = true;
      } else if (this.#state === "length") {
        const n = Math.min(this.#bodyLeft, this.#inbox.length);
        this.#inbox = this.#inbox.subarray(n);
        this.#bodyLeft -= n;
        if (this.#bodyLeft === 0) this.#bodyEnds();
      } else {
        const lineEnd = indexOf(this.#inbox, [13, 10]);
        if (lineEnd === -1) break;
        const size = parseInt(latin1.decode(this.#inbox.subarray(0, lineEnd)), 16);
        const need = lineEnd + 2 + size + 2;
        if (this.#inbox.length < need) break;
        this.#inbox = this.#inbox.subarray(need);
        if (size === 0) this.#bodyEnds();
      }
    }
    this.#notify();
  }

  #bodyEnds(): void {
    this.#state = "head";
    this.#receiving!.bodyDone = true;
  }
}

function indexOf(bytes: Uint8Array, pattern: number[]): number {
  outer: for (let i = 0; i + pattern.length <= bytes.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (bytes[i + j] !== pattern[j]) continue outer;
    return i;
  }
  return -1;
}

// ---------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------

/** Options of {@linkcode ChaosEngine}. */
export interface ChaosEngineOptions {
  clock: Clock;
  /** The case's seed (each connection draws from its own source). */
  seed: number;
  /** The answer to each request id. */
  answers: ReadonlyMap<number, Answer>;
  /** The client's limit, checked whenever a request arrives. */
  maxConnections: number;
  /** Requests not counted against it (long-lived ones). */
  uncounted: ReadonlySet<number>;
  /** Records an event in a request's trace (`undefined`: no request). */
  trace: (id: number | undefined, text: string) => void;
}

/**
 * Opens {@linkcode ChaosConn}s for a client (slowly now and then, refused
 * now and then) and serves each: a request is answered as its
 * {@linkcode Answer} says, and a kept connection is now and then closed by
 * the engine while idle. Everything the invariants need is logged.
 */
export class ChaosEngine {
  readonly clock: Clock;
  readonly conns: ChaosConn[] = [];
  /** What the connector threw. */
  readonly connectErrors = new Set<unknown>();
  /** Broken invariants seen as they happened. */
  readonly violations: string[] = [];
  /** Connects started after {@linkcode ChaosEngine.closedAt}. */
  connectsAfterClose = 0;
  /** Turn the client was closed, if it was. */
  closedAt: number | undefined;
  readonly #options: ChaosEngineOptions;
  readonly #sends = new Map<number, Send[]>();
  #connects = 0;
  #connecting = 0;
  #serving = 0;

  constructor(options: ChaosEngineOptions) {
    this.clock = options.clock;
    this.#options = options;
  }

  /** Connections still being served. */
  get serving(): number {
    return this.#serving;
  }

  /** Connects under way. */
  get connecting(): number {
    return this.#connecting;
  }

  /** Every send of request `id`, in order. */
  sendsOf(id: number): Send[] {
    return this.#sends.get(id) ?? [];
  }

  trace(id: number | undefined, text: string): void {
    this.#options.trace(id, text);
  }

  /** The connector. */
  readonly connect = async (): Promise<Deno.Conn> => {
    const index = this.#connects++;
    if (this.closedAt !== undefined) this.connectsAfterClose++;
    const random = new Random(caseSeed(this.#options.seed, 1000 + index));
    this.#connecting++;
    try {
      await this.clock.after(
        tiered(random, [[0.5, () => 0], [0.8, () => 1 + random.int(5)], [
          1,
          () => 20 + random.int(200),
        ]]),
      );
    } finally {
      this.#connecting--;
    }
    if (random.next() < 0.03) {
      const error = new DockerConnectionError(`chaos: connect #${index} refused`, "chaos://engine");
      this.connectErrors.add(error);
      throw error;
    }
    const conn = new ChaosConn(this, this.conns.length, random, index % 2 === 1);
    this.conns.push(conn);
    this.#serving++;
    this.#serve(conn, random).finally(() => this.#serving--);
    return conn.conn;
  };

  /** Called when the first byte of a request reaches `conn`. */
  requestStarts(conn: ChaosConn): void {
    const previous = conn.sends.at(-1);
    if (previous !== undefined && !conn.atRest) {
      this.#violation(
        previous.id,
        `c${conn.id} got a new request after #${previous.id}, whose response ` +
          (previous.answered && previous.reusable ? "was not read whole" : "ends its use") +
          ` (answered ${previous.answered}, reusable ${previous.reusable}, ` +
          `${previous.delivered}/${previous.pushed} bytes read)`,
      );
    }
  }

  /** Logs a request's head reaching a connection. */
  sent(send: Send): void {
    const { maxConnections, uncounted } = this.#options;
    const busy =
      this.conns.filter((c) => c.outstanding && !uncounted.has(c.sends.at(-1)!.id)).length;
    if (busy > maxConnections) {
      this.#violation(
        send.id,
        `${busy} connections carry a counted request at once (maxConnections ${maxConnections})`,
      );
    }
    const list = this.#sends.get(send.id);
    if (list) list.push(send);
    else this.#sends.set(send.id, [send]);
    this.trace(
      send.id,
      `${send.method} reaches c${send.conn.id}#${send.index}${send.conn.alive ? "" : " (hung up)"}`,
    );
  }

  #violation(id: number | undefined, text: string): void {
    this.violations.push(id === undefined ? text : `#${id}: ${text}`);
  }

  async #serve(conn: ChaosConn, random: Random): Promise<void> {
    for (let k = 0;; k++) {
      while (conn.sends.length <= k && conn.alive) await conn.changed();
      if (!conn.alive) return;
      const send = conn.sends[k]!;
      const answer = this.#options.answers.get(send.id);
      if (answer === undefined) return conn.hangUp("reset");
      await this.clock.after(answer.think);
      if (!conn.alive) return;
      const { kind } = answer;
      if (kind === "drop" || (kind === "stale" && send.index > 0 && send.attempt === 0)) {
        return conn.hangUp(answer.hangUp);
      }
      if (kind !== "early") { while (!send.bodyDone && conn.alive) await conn.changed(); }
      if (kind === "never") { while (conn.alive) await conn.changed(); }
      if (!conn.alive) return;
      for (const piece of answer.pieces) {
        await this.clock.after(piece.delay);
        if (!conn.alive) return;
        conn.push(send, piece.bytes);
      }
      if (kind === "cut") return conn.hangUp(answer.hangUp);
      if (kind === "stall") {
        while (conn.alive) await conn.changed();
        return;
      }
      this.trace(send.id, `c${conn.id} answered ${answer.status} (${answer.framing})`);
      if (answer.closes) {
        await this.clock.after(random.int(3));
        send.answered = true;
        return conn.hangUp("eof");
      }
      send.answered = true;
      send.reusable = answer.reusable;
      if (!answer.reusable) continue;
      // Now and then the engine closes a kept connection while it is idle
      // (an idle timeout, a restart): unless it has started another answer.
      if (random.next() < 0.1) {
        this.clock.schedule(random.int(30), () => {
          const last = conn.sends.at(-1)!;
          if (last === send || last.pushed === 0) {
            conn.hangUp(random.next() < 0.5 ? "eof" : "reset");
          }
        });
      }
    }
  }
}
