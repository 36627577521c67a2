/**
 * The write side of one connection of berth's HTTP/2 server: frames
 * queued for the wire in order, a bound on the control frames a peer that
 * does not read can make us queue, and a short wait for the queue to drain
 * before a connection is closed.
 *
 * @module
 */

import type { Http2Duplex } from "./types.ts";
import { Code, ConnectionError } from "./_server_protocol.ts";

/**
 * Most control frames the peer's own frames make us send (PING and
 * SETTINGS acknowledgements, stream resets) waiting to be written: a peer
 * that floods them and never reads would otherwise queue writes without
 * bound. Go's HTTP/2 server draws the same line at 10,000.
 */
export const MAX_QUEUED_CONTROL = 10_000;

/** Longest wait for queued frames (a GOAWAY last) before a closing connection is closed anyway. */
export const DRAIN_MS = 1000;

/** What the queue asks of its connection. */
export interface OutboxOwner {
  /** Whether the connection is closing or closed: nothing more is queued. */
  closed(): boolean;
  /** Whether the connection has shut down: writes still queued are dropped. */
  ended(): boolean;
  /** A write failed: the connection ends. */
  failed(): void;
}

/** The frames queued for the wire, written one after the other. */
export class Outbox {
  readonly #io: Http2Duplex;
  readonly #owner: OutboxOwner;
  #writing: Promise<void> = Promise.resolve();
  /** Control frames queued by {@linkcode Outbox.sendControl} and not yet written. */
  #controlQueued = 0;

  constructor(io: Http2Duplex, owner: OutboxOwner) {
    this.#io = io;
    this.#owner = owner;
  }

  /** Queues bytes for the wire, in order; a failed write ends the connection. */
  send(bytes: Uint8Array): void {
    if (this.#owner.closed()) return;
    this.#writing = this.#writing
      .then(() => this.#owner.ended() ? undefined : this.#io.write(bytes))
      .catch(() => this.#owner.failed());
  }

  /**
   * Resolves once what is queued has been written, or after
   * {@linkcode DRAIN_MS} if the peer does not read it: a GOAWAY is worth a
   * short wait, never a session that cannot end.
   */
  drained(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => timer = setTimeout(resolve, DRAIN_MS));
    return Promise.race([this.#writing, late]).finally(() => clearTimeout(timer));
  }

  /**
   * Sends a control frame the peer's frames called for, counting it until
   * it is written.
   *
   * @throws {ConnectionError} `ENHANCE_YOUR_CALM` past {@linkcode MAX_QUEUED_CONTROL}.
   */
  sendControl(bytes: Uint8Array): void {
    if (this.#owner.closed()) return;
    if (this.#controlQueued >= MAX_QUEUED_CONTROL) {
      throw new ConnectionError(
        Code.EnhanceYourCalm,
        `more than ${MAX_QUEUED_CONTROL} control frames wait to be written: the peer does not read`,
      );
    }
    this.#controlQueued++;
    this.send(bytes);
    this.#writing = this.#writing.finally(() => this.#controlQueued--);
  }
}
