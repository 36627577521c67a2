/**
 * Hijacked sessions (attach, exec start): after the engine switches
 * protocols, the socket carries the process's stdin one way and its output
 * the other. Output is demultiplexed (or raw for TTY sessions); stdin is a
 * `WritableStream` whose `close()` half-closes the socket, so the process
 * sees EOF while its output keeps flowing. Aborting the call's signal
 * closes the socket and fails both streams with the signal's reason, as
 * for every other stream.
 *
 * @module
 */

import { DockerConnectionError } from "../errors.ts";
import { type Connection, readBuffersAreExclusive } from "../http/connection.ts";
import { type Frame, FrameDecoder } from "../stream/demux.ts";

/**
 * A duplex session with a container process. Aborting the `signal` of the
 * call that opened it closes the socket: the next read of `readable`
 * rejects with `signal.reason` (output received but not read yet is
 * dropped), and so do writes to `writable`. Its own `close()` (or
 * cancelling `readable`) ends the output quietly instead.
 */
export interface HijackedSession extends AsyncDisposable {
  /**
   * The process's output: stdout/stderr frames (TTY sessions: raw stdout
   * frames). Ends when the process's output ends (it exited), or when the
   * session is closed.
   */
  readonly readable: ReadableStream<Frame>;
  /**
   * The process's stdin. `close()` sends EOF (half-close) and keeps reading
   * open. With a TTY the engine takes that EOF as the end of the session
   * and closes its output instead, and the process never sees it: end a
   * TTY process's input as a terminal would, by writing its EOF character
   * (Ctrl-D, `"\x04"`, at the start of a line).
   */
  readonly writable: WritableStream<Uint8Array>;
  /**
   * Sends EOF to the process's stdin without closing the output side,
   * after the stdin write in progress, if any (chunks still queued in
   * `writable` are not waited for: close `writable` instead to send EOF
   * after all of them). Over TLS this ends the TLS session's write side,
   * which some engines treat as a full close.
   */
  closeWrite(): Promise<void>;
  /** Closes both directions at once; the output then ends (without an error). */
  close(): void;
}

/**
 * Wraps an upgraded connection as a session.
 *
 * @param connection The raw connection (bytes read with the head come first).
 * @param tty Whether output is raw (TTY) rather than multiplexed.
 * @param host The engine address, for messages.
 * @param signal The call's signal: an abort closes the connection and
 *   fails the output and stdin with its reason. Watched until the
 *   connection closes.
 * @returns The session.
 */
export function hijackedSession(
  connection: Connection,
  tty: boolean,
  host: string,
  signal?: AbortSignal,
): HijackedSession {
  // In a stream worker read buffers get transferred, so a split frame must
  // be copied rather than held as a view.
  const decoder = tty ? undefined : new FrameDecoder({ stableInput: !readBuffersAreExclusive() });
  /** Output that does not decode, held until the frames before it are read. */
  let failure: { error: unknown } | undefined;
  const broke = (error: unknown) => sessionBroke(error, host);
  /** Set by an abort of the call's signal: what reads and writes fail with. */
  let aborted: { reason: unknown } | undefined;
  let readController: ReadableStreamDefaultController<Frame>;
  let writeController: WritableStreamDefaultController;
  const readable = new ReadableStream<Frame>({
    start: (controller) => {
      readController = controller;
    },
    pull: async (controller) => {
      if (failure) throw failure.error;
      const out: Frame[] = [];
      try {
        while (out.length === 0) {
          let piece: Uint8Array | null;
          try {
            piece = await connection.read();
          } catch (error) {
            if (connection.closed) {
              // The client's close() fails the session; its own close() ends it.
              if (connection.closeReason !== undefined) throw connection.closeReason;
              controller.close();
              return;
            }
            throw broke(error);
          }
          if (piece === null) {
            decoder?.finish();
            controller.close();
            connection.close();
            return;
          }
          if (decoder) decoder.push(piece, out);
          else out.push({ stream: "stdout", data: piece });
        }
      } catch (error) {
        // The socket is broken, or its output does not decode: close it
        // (the call is then recorded), as a stream worker does.
        connection.close();
        if (out.length === 0) throw error;
        // Deliver the frames decoded before the failure; the next read fails.
        failure = { error };
      }
      for (const frame of out) controller.enqueue(frame);
    },
    cancel: () => connection.close(),
  }, { highWaterMark: 0 });
  /** The stdin write in progress: a half-close waits for it (as in a stream worker). */
  let writing: Promise<unknown> = Promise.resolve();
  let closingWrite: Promise<void> | undefined;
  const closeWrite = () => {
    if (closingWrite) return closingWrite;
    if (connection.closed) return Promise.resolve();
    closingWrite = (async () => {
      await writing;
      if (connection.closed) return;
      try {
        await connection.closeWrite();
      } catch (error) {
        if (!connection.closed) throw broke(error);
      }
    })();
    return closingWrite;
  };
  const writable = new WritableStream<Uint8Array>({
    start: (controller) => {
      writeController = controller;
    },
    write: async (chunk) => {
      if (!(chunk instanceof Uint8Array)) throw new TypeError("stdin takes Uint8Array chunks");
      const written = connection.write(chunk);
      writing = written.catch(() => {});
      try {
        await written;
      } catch (error) {
        // A write the abort cut short fails as later ones do.
        if (aborted) throw aborted.reason;
        throw broke(error);
      }
    },
    close: closeWrite,
    abort: () => connection.close(),
  });
  if (signal) {
    // An abort closes the socket (a read in flight then fails with the
    // reason) and fails both streams at once. A session that has ended or
    // was closed stays as it is.
    const abort = () => {
      if (connection.closed) return;
      aborted = { reason: signal.reason };
      connection.close(signal.reason);
      readController.error(signal.reason);
      writeController.error(signal.reason);
    };
    if (signal.aborted) abort();
    else {
      signal.addEventListener("abort", abort, { once: true });
      connection.onClose(() => signal.removeEventListener("abort", abort));
    }
  }
  const close = () => connection.close();
  return {
    readable,
    writable,
    closeWrite,
    close,
    [Symbol.asyncDispose]: () => {
      close();
      return Promise.resolve();
    },
  };
}

/**
 * Checks, as a call hands its session over, that the call's signal did not
 * abort on the way (during a resize, say). The session watches the signal
 * itself from its start ({@linkcode hijackedSession}, or the worker's), so
 * such an abort has closed it already; the call then fails instead of
 * returning a dead session.
 *
 * @param session The open session.
 * @param signal The call's signal.
 * @throws The signal's reason when it is aborted (the session is then closed).
 */
export function throwIfAborted(session: HijackedSession, signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  session.close();
  throw signal.reason;
}

/**
 * The error of a hijacked session whose socket failed (a read, a write or
 * the half-close), on this thread or in a stream worker.
 *
 * @param error What the socket threw.
 * @param host The engine address, for the message.
 * @returns A {@linkcode DockerConnectionError} with `error` as its cause.
 */
export function sessionBroke(error: unknown, host: string): DockerConnectionError {
  return new DockerConnectionError(
    `Attached session with the engine at ${host} broke: ${
      error instanceof Error ? error.message : error
    }`,
    host,
    { cause: error },
  );
}

/**
 * Checks a terminal size before any I/O.
 *
 * @param rows Height.
 * @param columns Width.
 * @throws {RangeError} When either is not a positive integer.
 */
export function assertSize(rows: number, columns: number): void {
  if (!Number.isInteger(rows) || rows <= 0 || !Number.isInteger(columns) || columns <= 0) {
    throw new RangeError(`A terminal size must be positive integers (got ${rows}x${columns})`);
  }
}
