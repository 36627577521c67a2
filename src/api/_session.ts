/**
 * Hijacked sessions (attach, exec start): after the engine switches
 * protocols, the socket carries the process's stdin one way and its output
 * the other. Output is demultiplexed (or raw for TTY sessions); stdin is a
 * `WritableStream` whose `close()` half-closes the socket, so the process
 * sees EOF while its output keeps flowing.
 *
 * @module
 */

import { DockerConnectionError } from "../errors.ts";
import { type Connection, readBuffersAreExclusive } from "../http/connection.ts";
import { type Frame, FrameDecoder } from "../stream/demux.ts";

/** A duplex session with a container process. */
export interface HijackedSession extends AsyncDisposable {
  /** The process's output: stdout/stderr frames (TTY sessions: raw stdout frames). */
  readonly readable: ReadableStream<Frame>;
  /** The process's stdin. `close()` sends EOF (half-close) and keeps reading open. */
  readonly writable: WritableStream<Uint8Array>;
  /**
   * Sends EOF to the process's stdin without closing the output side. Over
   * TLS this ends the TLS session's write side, which some engines treat as
   * a full close.
   */
  closeWrite(): Promise<void>;
  /** Closes both directions at once. */
  close(): void;
}

/**
 * Wraps an upgraded connection as a session.
 *
 * @param connection The raw connection (bytes read with the head come first).
 * @param tty Whether output is raw (TTY) rather than multiplexed.
 * @param host The engine address, for messages.
 * @returns The session.
 */
export function hijackedSession(
  connection: Connection,
  tty: boolean,
  host: string,
): HijackedSession {
  // In a stream worker read buffers get transferred, so a split frame must
  // be copied rather than held as a view.
  const decoder = tty ? undefined : new FrameDecoder({ stableInput: !readBuffersAreExclusive() });
  let writeClosed = false;
  const broke = (error: unknown) => sessionBroke(error, host);
  const readable = new ReadableStream<Frame>({
    pull: async (controller) => {
      const out: Frame[] = [];
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
          // The socket is broken: close it (the call is then recorded).
          connection.close();
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
      for (const frame of out) controller.enqueue(frame);
    },
    cancel: () => connection.close(),
  }, { highWaterMark: 0 });
  const closeWrite = async () => {
    if (writeClosed || connection.closed) return;
    writeClosed = true;
    try {
      await connection.closeWrite();
    } catch (error) {
      if (!connection.closed) throw broke(error);
    }
  };
  const writable = new WritableStream<Uint8Array>({
    write: async (chunk) => {
      if (!(chunk instanceof Uint8Array)) throw new TypeError("stdin takes Uint8Array chunks");
      try {
        await connection.write(chunk);
      } catch (error) {
        throw broke(error);
      }
    },
    close: closeWrite,
    abort: () => connection.close(),
  });
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
