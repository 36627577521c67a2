/**
 * Keep-alive connection pool: a limit on concurrent requests with a FIFO
 * queue, idle reuse (most recent first), idle expiry (an idle socket is
 * closed once `keepAliveTimeout` has passed, so the engine is not left
 * holding it), and nothing pooled that still has unread bytes.
 *
 * @module
 */

import { DockerError } from "../errors.ts";
import { Connection } from "./connection.ts";
import type { Connector } from "./transport.ts";

/** Options of {@linkcode ConnectionPool}. */
export interface ConnectionPoolOptions {
  /** Most connections busy at once for counted requests. */
  maxConnections: number;
  /** Milliseconds an idle connection is kept; 0 disables reuse. */
  keepAliveTimeout: number;
}

interface Waiter {
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/** A connection handed out by {@linkcode ConnectionPool.acquire}. */
export interface Lease {
  /** The connection to use. */
  connection: Connection;
  /** Whether it served a request before (and so may have gone stale). */
  reused: boolean;
}

/**
 * Hands out connections, at most `maxConnections` to counted requests.
 * Long-lived streams (follow logs, events, attach) are not counted, so they
 * can never starve ordinary calls or deadlock each other.
 */
export class ConnectionPool {
  readonly #connect: Connector;
  readonly #options: ConnectionPoolOptions;
  /**
   * Idle connections, oldest first, each with its `idleSince`: `Date.now()`
   * when it went idle. The wall clock, not `performance.now()`: it is read
   * on every request and costs half as much, and a clock jump only makes an
   * idle connection expire early (a new one is opened) or late (the
   * stale-connection retry covers it).
   */
  readonly #idle: Connection[] = [];
  readonly #waiters: Waiter[] = [];
  readonly #open = new Set<Connection>();
  #busy = 0;
  #closed = false;
  /**
   * The rejecters of the connects in flight: {@linkcode ConnectionPool.close}
   * fails them at once (a connect can take up to `connectTimeout`, or an
   * ssh handshake), and the socket that comes later is closed.
   */
  readonly #connecting = new Set<(reason: unknown) => void>();
  /** What `close()` was given: the error of the calls it cuts short. */
  #closeReason: unknown;
  /**
   * The idle sweep: one timer, armed while connections are idle, due when
   * the oldest expires. It does not keep the process alive (unref'd), and
   * under steady traffic it fires once per `keepAliveTimeout`, not per call.
   */
  #sweep: ReturnType<typeof setTimeout> | undefined;
  readonly #onSweep = () => {
    this.#sweep = undefined;
    this.#expireIdle();
    this.#armSweep();
  };

  /**
   * @param connect Opens a new socket.
   * @param options Limits.
   */
  constructor(connect: Connector, options: ConnectionPoolOptions) {
    this.#connect = connect;
    this.#options = options;
  }

  /** Counted requests holding a connection now. */
  get busy(): number {
    return this.#busy;
  }

  /** Idle connections kept for reuse. */
  get idle(): number {
    return this.#idle.length;
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.#waiters.length;
  }

  /**
   * Leases an idle connection at once, when one is free and (for a counted
   * request) a slot is too; the same lease {@linkcode ConnectionPool.acquire}
   * would give, without waiting.
   *
   * @param counted Whether the request counts against `maxConnections`.
   * @returns The connection (a reused one), or `undefined` when the caller
   *   must `acquire`.
   */
  takeIdle(counted: boolean): Connection | undefined {
    if (this.#closed || (counted && this.#busy >= this.#options.maxConnections)) return undefined;
    this.#expireIdle();
    const idle = this.#idle.pop();
    if (idle !== undefined && counted) this.#busy++;
    return idle;
  }

  /**
   * Takes a connection: an idle one if any, else a new one.
   *
   * @param counted Whether the request counts against `maxConnections`.
   * @param signal Abandons the wait for a slot when aborted.
   * @returns The lease; give it back with {@linkcode ConnectionPool.release}.
   * @throws {DockerError} When the pool is closed; the signal's reason when
   *   aborted; connection errors from the connector.
   */
  async acquire(counted: boolean, signal: AbortSignal | undefined): Promise<Lease> {
    if (this.#closed) throw new DockerError("Cannot send a request: the client is closed");
    if (counted) {
      if (this.#busy >= this.#options.maxConnections) await this.#wait(signal);
      else this.#busy++;
    }
    this.#expireIdle();
    const idle = this.#idle.pop();
    if (idle) return { connection: idle, reused: true };
    try {
      return { connection: await this.open(signal), reused: false };
    } catch (error) {
      if (counted) this.#freeSlot();
      throw error;
    }
  }

  /**
   * Opens a new connection that the pool tracks (closed by
   * {@linkcode ConnectionPool.close}), without taking a slot. With a
   * signal, it rejects with the signal's reason as soon as that fires: a
   * connect can take up to the connect timeout, and an abort must not wait
   * for it. A connection that arrives after the abort is closed.
   *
   * @param signal Abandons the connect when aborted.
   * @returns The new connection.
   * @throws {DockerError} When the pool is closed; the signal's reason when
   *   aborted; connection errors from the connector.
   */
  open(signal?: AbortSignal): Promise<Connection> {
    if (!signal) return this.#connectTracked();
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      this.#connectTracked().then(
        (connection) => {
          signal.removeEventListener("abort", onAbort);
          if (signal.aborted) this.#drop(connection);
          else resolve(connection);
        },
        (error) => {
          signal.removeEventListener("abort", onAbort);
          reject(error);
        },
      );
    });
  }

  /** Connects and tracks the connection. */
  #connectTracked(): Promise<Connection> {
    // Nothing is opened for a closed pool (a stale-connection retry can
    // come after close()): the socket, or an ssh process, would only be
    // closed again.
    if (this.#closed) {
      return Promise.reject(new DockerError("Cannot send a request: the client is closed"));
    }
    const pending = this.#connect();
    return new Promise((resolve, reject) => {
      this.#connecting.add(reject);
      pending.then((conn) => {
        this.#connecting.delete(reject);
        if (this.#closed) {
          // close() came first (and failed the call): the socket goes at once.
          conn.close();
          reject(this.#closeReason);
          return;
        }
        const connection = new Connection(conn);
        this.#open.add(connection);
        resolve(connection);
      }, (error) => {
        this.#connecting.delete(reject);
        reject(error);
      });
    });
  }

  /**
   * Gives a connection back: pooled when reusable, else closed.
   *
   * @param connection The leased connection.
   * @param reusable Whether the response was read to its end and the
   *   connection may carry another request.
   * @param counted Must match the `counted` passed to `acquire`.
   */
  release(connection: Connection, reusable: boolean, counted: boolean): void {
    if (reusable && !this.#closed && !connection.closed && this.#options.keepAliveTimeout > 0) {
      connection.uses++;
      connection.idleSince = Date.now();
      this.#expireIdle(connection.idleSince);
      this.#idle.push(connection);
      if (this.#idle.length > this.#options.maxConnections) this.#drop(this.#idle.shift()!);
      if (this.#sweep === undefined) this.#armSweep();
    } else {
      this.#drop(connection);
    }
    if (counted) this.#freeSlot();
  }

  /**
   * Hands a connection over to the caller (after an upgrade): it no longer
   * holds a slot and is never pooled, but {@linkcode ConnectionPool.close}
   * still closes it while it is open, so no session outlives its client.
   *
   * @param connection The connection now owned by someone else.
   * @param counted Must match the `counted` passed to `acquire`.
   */
  detach(connection: Connection, counted: boolean): void {
    connection.onClose(() => this.#open.delete(connection));
    if (counted) this.#freeSlot();
  }

  /**
   * Closes every connection (idle, busy, or handed over to a session),
   * rejects queued requests and stops waiting for connects in flight.
   *
   * @param reason What the requests cut short by this close fail with
   *   (reads, connects, and requests queued for a slot: all were made
   *   before the close). Requests made later fail with a `DockerError`
   *   saying the client is closed.
   */
  close(reason: unknown = new DockerError("Cannot send a request: the client is closed")): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    for (const reject of this.#connecting) reject(reason);
    this.#connecting.clear();
    this.#idle.length = 0;
    clearTimeout(this.#sweep);
    this.#sweep = undefined;
    for (const connection of this.#open) connection.close(reason);
    this.#open.clear();
    for (const waiter of this.#waiters.splice(0)) {
      waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.reject(reason);
    }
  }

  #wait(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve: () => {
          signal?.removeEventListener("abort", waiter.onAbort);
          resolve();
        },
        reject,
        signal,
        onAbort: () => {
          const index = this.#waiters.indexOf(waiter);
          if (index !== -1) this.#waiters.splice(index, 1);
          reject(signal!.reason);
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Passes a freed slot to the first waiter, or returns it. */
  #freeSlot(): void {
    if (this.#waiters.length === 0) this.#busy--;
    else this.#waiters.shift()!.resolve();
  }

  /**
   * Closes idle connections older than `keepAliveTimeout`: checked whenever
   * a connection is taken or given back, and by the sweep.
   */
  #expireIdle(now = Date.now()): void {
    const oldest = now - this.#options.keepAliveTimeout;
    while (this.#idle.length > 0 && this.#idle[0]!.idleSince <= oldest) {
      this.#drop(this.#idle.shift()!);
    }
  }

  /** Arms the sweep for the oldest idle connection's expiry, if any is idle. */
  #armSweep(): void {
    const oldest = this.#idle[0];
    if (oldest === undefined || this.#closed) return;
    const due = oldest.idleSince + this.#options.keepAliveTimeout - Date.now();
    const sweep = setTimeout(this.#onSweep, Math.max(due, 0) + 1);
    Deno.unrefTimer(sweep);
    this.#sweep = sweep;
  }

  #drop(connection: Connection): void {
    this.#open.delete(connection);
    connection.close();
  }
}
