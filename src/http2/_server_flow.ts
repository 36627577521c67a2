/**
 * Flow control of one connection of berth's HTTP/2 server (RFC 9113 §5.2,
 * §6.9), both ways: what the peer's windows still let us send, and what we
 * give back to ours as the peer's DATA is received or read.
 *
 * @module
 */

import { frame, u32 } from "./_buffers.ts";
import {
  Code,
  ConnectionError,
  DEFAULT_WINDOW,
  MAX_WINDOW,
  StreamError,
  Type,
  WINDOW_REFRESH,
} from "./_server_protocol.ts";
import type { Stream } from "./_server_streams.ts";

/** The connection's windows, and the streams' through their records. */
export class FlowControl {
  /** Each stream's receive window, as our SETTINGS give it. */
  readonly window: number;
  /** Least a stream's window is given back at once: `WINDOW_REFRESH`, or less for a small window. */
  readonly #refresh: number;
  readonly #send: (bytes: Uint8Array) => void;
  #peerInitialWindow = DEFAULT_WINDOW;
  /** How much we may still send on the connection. */
  #sendWindow = DEFAULT_WINDOW;
  /** Bytes received and not yet given back to the connection window. */
  #owed = 0;
  /** Woken when a window opens or the connection ends. */
  #waiters: (() => void)[] = [];

  /**
   * @param window Each stream's receive window (`initialWindowSize`).
   * @param send Queues a frame for the wire.
   * @throws {RangeError} For a `window` that is not an integer from 1 to 2^29 - 1.
   */
  constructor(window: number, send: (bytes: Uint8Array) => void) {
    this.window = window;
    const most = Math.floor(MAX_WINDOW / 4); // The connection's window is four of them.
    if (!Number.isSafeInteger(this.window) || this.window < 1 || this.window > most) {
      throw new RangeError(`initialWindowSize must be an integer from 1 to ${most}`);
    }
    // Half the window, when smaller: a peer that spent the whole window still gets it back.
    this.#refresh = Math.min(WINDOW_REFRESH, Math.ceil(this.window / 2));
    this.#send = send;
  }

  /** The send window a new stream starts with: the peer's SETTINGS_INITIAL_WINDOW_SIZE. */
  get peerInitialWindow(): number {
    return this.#peerInitialWindow;
  }

  /** The receive window a new stream starts with. */
  get streamReceiveWindow(): number {
    // Until the peer has our SETTINGS it may go by the protocol's default.
    return Math.max(this.window, DEFAULT_WINDOW);
  }

  /**
   * Gives `size` bytes back to the stream's window (the connection's when
   * `stream` is undefined), in WINDOW_UPDATEs of at least `WINDOW_REFRESH`:
   * giving back each small read at once lets the peer send ever smaller
   * frames (measured: 1 frame in 30 carried data, the rest 17–32 bytes).
   */
  giveBack(stream: Stream | undefined, size: number): void {
    if (stream === undefined) {
      this.#owed += size;
      if (this.#owed < WINDOW_REFRESH) return;
      this.#send(frame(Type.WindowUpdate, 0, 0, u32(this.#owed)));
      this.#owed = 0;
      return;
    }
    stream.owed += size;
    if (stream.owed < this.#refresh || stream.remoteEnded || stream.closed) return;
    this.#send(frame(Type.WindowUpdate, 0, stream.id, u32(stream.owed)));
    stream.receiveWindow += stream.owed;
    stream.owed = 0;
  }

  /**
   * The peer's SETTINGS_INITIAL_WINDOW_SIZE changed: open streams' send
   * windows move by the difference.
   *
   * @throws {ConnectionError} `FLOW_CONTROL_ERROR` when a window overflows.
   */
  setPeerInitialWindow(value: number, streams: Iterable<Stream>): void {
    const delta = value - this.#peerInitialWindow;
    this.#peerInitialWindow = value;
    for (const stream of streams) {
      stream.sendWindow += delta;
      if (stream.sendWindow > MAX_WINDOW) {
        throw new ConnectionError(Code.FlowControlError, "a stream window overflows");
      }
    }
  }

  /**
   * A WINDOW_UPDATE on the connection.
   *
   * @throws {ConnectionError} For a zero increment, or a window that overflows.
   */
  widen(increment: number): void {
    if (increment === 0) throw new ConnectionError(Code.ProtocolError, "a zero window increment");
    this.#sendWindow += increment;
    if (this.#sendWindow > MAX_WINDOW) {
      throw new ConnectionError(Code.FlowControlError, "the connection window overflows");
    }
  }

  /**
   * A WINDOW_UPDATE on a stream (`undefined` once it is closed).
   *
   * @throws {StreamError} For a zero increment, or a window that overflows.
   */
  widenStream(stream: Stream | undefined, increment: number): void {
    if (increment === 0) throw new StreamError(Code.ProtocolError, "a zero window increment");
    if (stream) {
      stream.sendWindow += increment;
      if (stream.sendWindow > MAX_WINDOW) {
        throw new StreamError(Code.FlowControlError, "the stream window overflows");
      }
    }
  }

  /** How many bytes of DATA may go out on `stream` now, in frames of at most `frameSize`. */
  room(stream: Stream, frameSize: number): number {
    return Math.min(this.#sendWindow, stream.sendWindow, frameSize);
  }

  /** `size` bytes of DATA went out on `stream`. */
  spend(stream: Stream, size: number): void {
    this.#sendWindow -= size;
    stream.sendWindow -= size;
  }

  /** Resolves at the next {@linkcode FlowControl.wake}. */
  opened(): Promise<void> {
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /** Wakes every sender waiting for a window: one opened, or the stream or connection ended. */
  wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}
