/**
 * The main-thread side of a hijacked session (attach) that runs in a
 * worker. A socket cannot move between threads, so the worker opens the
 * attach itself and owns the upgraded connection; this side sees the same
 * session shape as on the main thread:
 *
 * - `readable`: the output frames, a {@linkcode RemoteStream} (credit
 *   window, transferred buffers, backpressure down to the socket);
 * - `writable`: each chunk is copied into a buffer of its own, transferred
 *   in a `write` message, and the write resolves once the worker wrote it
 *   to the socket (so stdin keeps its backpressure), or rejects with a
 *   `DockerConnectionError` when the session broke;
 * - `closeWrite()`: a `closeWrite` message, answered the same way, after
 *   which the worker has half-closed the socket;
 * - `close()`: a `cancel`; output reads then end quietly, as on the main
 *   thread (as after the reader cancels the output, which sends a `cancel`
 *   too); new writes fail at once;
 * - an abort of the call's signal (watched from `open` until the session
 *   is closed, its output cancelled, or the worker holds nothing more): a
 *   `cancel` too, but output reads, writes waiting for their answer and
 *   later writes reject with the signal's reason, as on the main thread.
 *
 * A WebSocket attach ({@linkcode RemoteSession.openWebSocket}) has the
 * worker run the WebSocket: its output is the messages' payloads, a string
 * written goes as a `write` marked `text`, and closing the writable sends
 * the close frame (a `closeWrite`). `close()` and an abort are as above
 * (the worker's cancel closes the WebSocket).
 *
 * @module
 */

import type { HijackedSession } from "../api/_session.ts";
import { DockerConnectionError, DockerError } from "../errors.ts";
import type { Frame } from "../stream/demux.ts";
import {
  type CloseWriteMessage,
  type DecoderSpec,
  deserializeError,
  type StreamReply,
  type WireRequest,
  type WriteMessage,
} from "./protocol.ts";
import { type RemoteChannel, RemoteStream } from "./remote_stream.ts";

const textEncoder = new TextEncoder();

interface Ack {
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * One hijacked session in a worker, seen from the main thread. The pool
 * creates it, routes the worker's messages about it to
 * {@linkcode RemoteSession.receive}, and calls {@linkcode RemoteSession.fail}
 * when the worker goes away.
 */
export class RemoteSession {
  /** The session's id on its worker. */
  readonly id: number;
  /** Frames for an attach, payloads (`Uint8Array`) for a WebSocket. */
  readonly #stream: RemoteStream<Frame | Uint8Array>;
  readonly #channel: RemoteChannel;
  readonly #host: string;
  /** Writes sent and not answered yet, by `seq`. */
  readonly #acks = new Map<number, Ack>();
  #nextSeq = 1;
  /** Closed here, or the worker holds nothing more: new writes fail at once. */
  #gone = false;
  /** Why the session is gone, when it failed rather than being closed. */
  #failure: { error: unknown } | undefined;
  #writeClosed = false;
  /** Aborted with the call's signal: the output stream then fails with its reason. */
  readonly #aborts = new AbortController();
  /** Stops watching the call's signal. */
  #unwatch: (() => void) | undefined;
  /** The stdin stream's controller, to fail it on an abort. */
  #stdin: WritableStreamDefaultController | undefined;

  /**
   * Starts the session: `open` (with `upgrade`) is posted as soon as the
   * request is ready. Call {@linkcode RemoteSession.open} for the session.
   *
   * @param id The session's id on its worker.
   * @param channel The way to the worker.
   * @param request The attach request (`upgrade` set), a promise while the
   *   API version is negotiated.
   * @param spec The output decoder (`frames`), or a promise of it.
   * @param host The engine address, for messages.
   */
  constructor(
    id: number,
    channel: RemoteChannel,
    request: Promise<WireRequest>,
    spec: DecoderSpec | Promise<DecoderSpec>,
    host: string,
  ) {
    this.id = id;
    this.#channel = channel;
    this.#host = host;
    // The stream's signal is the session's own: `open` and `openWebSocket`
    // abort it when the call's signal aborts.
    this.#stream = new RemoteStream<Frame | Uint8Array>(
      id,
      {
        post: (message, transfer) => {
          // The stream stops (its reader cancelled it, close(), an abort):
          // the session is over, and a later abort changes nothing.
          if (message.type === "cancel") this.#stop();
          channel.post(message, transfer);
        },
        release: () => {
          this.#end();
          channel.release();
        },
      },
      request,
      spec,
      this.#aborts.signal,
      [],
    );
  }

  /**
   * Resolves with the session once the worker has switched protocols.
   *
   * @param signal Aborts the opening: it then rejects with the signal's
   *   reason and the worker closes what it opened. Watched afterwards too,
   *   until the session is closed, its output cancelled, or the worker
   *   holds nothing more: an abort then has the worker close the socket,
   *   and fails the output and stdin with the signal's reason.
   * @returns The session, in the same shape as on the main thread.
   * @throws The call's error (a `DockerApiError` subclass for an error
   *   status, `DockerProtocolError` when the engine did not switch).
   */
  async open(signal?: AbortSignal): Promise<HijackedSession> {
    await this.#switched(signal);
    const stream = this.#stream;
    const closeWrite = () => this.#closeWrite();
    const close = (): void => {
      this.#stop();
      void stream.close();
    };
    const writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        this.#stdin = controller;
      },
      write: (chunk) => {
        if (!(chunk instanceof Uint8Array)) throw new TypeError("stdin takes Uint8Array chunks");
        return this.#write(chunk);
      },
      close: closeWrite,
      abort: close,
    });
    this.#watch(signal);
    return {
      readable: stream.readable as ReadableStream<Frame>,
      writable,
      closeWrite,
      close,
      [Symbol.asyncDispose]: () => {
        close();
        return stream.close();
      },
    };
  }

  /**
   * Resolves with a WebSocket session once the worker has switched
   * protocols and checked the handshake (open the stream with the
   * `websocket` spec).
   *
   * @param signal As for {@linkcode RemoteSession.open}: an abort once the
   *   session is open has the worker close the WebSocket, and fails the
   *   output and the messages in with the signal's reason.
   * @returns The payloads out, the messages in (strings as text messages),
   *   and `close()`, which resolves once the worker closed the socket.
   */
  async openWebSocket(signal?: AbortSignal): Promise<{
    readable: ReadableStream<Uint8Array>;
    writable: WritableStream<Uint8Array | string>;
    close: () => Promise<void>;
  }> {
    await this.#switched(signal);
    const stream = this.#stream;
    const close = (): Promise<void> => {
      this.#stop();
      return stream.close();
    };
    const writable = new WritableStream<Uint8Array | string>({
      start: (controller) => {
        this.#stdin = controller;
      },
      write: (chunk) => {
        // As on the main thread.
        if (this.#gone || this.#writeClosed) throw new DockerError("WebSocket session is closed");
        return this.#write(chunk);
      },
      close: () => this.#closeWrite(), // The close frame.
      abort: () => void close(),
    });
    this.#watch(signal);
    return { readable: stream.readable as ReadableStream<Uint8Array>, writable, close };
  }

  /**
   * Ties the open session (attach or WebSocket) to the call's signal (see
   * {@linkcode RemoteSession.open}).
   */
  #watch(signal: AbortSignal | undefined): void {
    if (!signal || this.#gone) return;
    const abort = () => this.#abort(signal.reason);
    if (signal.aborted) {
      abort();
      return;
    }
    signal.addEventListener("abort", abort, { once: true });
    this.#unwatch = () => signal.removeEventListener("abort", abort);
  }

  /**
   * The call's signal aborted: the output fails with `reason` and the
   * worker closes the socket (the stream's `cancel`); stdin, the writes
   * waiting for their answer included, fails with `reason` too. A session
   * that was closed or has ended stays as it is.
   */
  #abort(reason: unknown): void {
    this.#unwatch = undefined;
    if (this.#gone) return;
    this.#gone = true;
    this.#failure = { error: reason };
    this.#stdin?.error(reason);
    for (const ack of this.#acks.values()) ack.reject(reason);
    this.#acks.clear();
    this.#aborts.abort(reason);
  }

  /** Half-closes the write side once (a close frame on a WebSocket). */
  async #closeWrite(): Promise<void> {
    if (this.#writeClosed || this.#gone) return;
    this.#writeClosed = true;
    await this.#send({ type: "closeWrite", id: this.id }, []);
  }

  /** Waits for the worker's protocol switch (the response head). */
  async #switched(signal: AbortSignal | undefined): Promise<void> {
    const stream = this.#stream;
    let onAbort: (() => void) | undefined;
    try {
      if (signal?.aborted) throw signal.reason;
      const head = stream.head!;
      if (signal) {
        const aborted = new Promise<never>((_, reject) => {
          onAbort = () => reject(signal.reason);
          signal.addEventListener("abort", onAbort, { once: true });
        });
        await Promise.race([head, aborted]);
      } else {
        await head;
      }
    } catch (error) {
      // The worker closes whatever it opened before the session is dropped.
      await stream.close();
      throw error;
    } finally {
      if (onAbort) signal!.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Handles a message the worker sent about this session.
   *
   * @param message A `written` (answers a write), or a message for the
   *   output stream.
   */
  receive(message: StreamReply): void {
    if (message.type !== "written") {
      this.#stream.receive(message);
      return;
    }
    const ack = this.#acks.get(message.seq);
    if (!ack) return;
    this.#acks.delete(message.seq);
    if (message.error === undefined) ack.resolve();
    else ack.reject(deserializeError(message.error));
  }

  /**
   * Fails the session because its worker is gone: output reads and pending
   * writes reject with `error`, later writes too.
   *
   * @param error The error to report.
   */
  fail(error: unknown): void {
    this.#failure ??= { error };
    this.#stream.fail(error);
  }

  /**
   * Sends a stdin chunk (a string only on a WebSocket: a text message);
   * resolves once the worker has written it.
   */
  // deno-lint-ignore require-await
  async #write(chunk: Uint8Array | string): Promise<void> {
    if (typeof chunk === "string") {
      const data = textEncoder.encode(chunk).buffer;
      return this.#send({ type: "write", id: this.id, data, text: true }, [data]);
    }
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError("A WebSocket message must be a string or a Uint8Array");
    }
    // A copy: the caller may reuse its buffer, which a transfer would detach.
    const data = chunk.slice().buffer;
    return this.#send({ type: "write", id: this.id, data }, [data]);
  }

  #send(
    message: Omit<WriteMessage, "seq"> | Omit<CloseWriteMessage, "seq">,
    transfer: Transferable[],
  ): Promise<void> {
    if (this.#gone) return Promise.reject(this.#goneError());
    const seq = this.#nextSeq++;
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#acks.set(seq, { resolve, reject });
    this.#channel.post({ ...message, seq } as WriteMessage | CloseWriteMessage, transfer);
    return promise;
  }

  /** The session is over: new writes fail at once, and the call's signal is no longer watched. */
  #stop(): void {
    this.#gone = true;
    this.#unwatch?.();
    this.#unwatch = undefined;
  }

  /** The worker holds nothing more: writes still waiting will not be answered. */
  #end(): void {
    this.#stop();
    if (this.#acks.size === 0) return;
    const error = this.#goneError();
    for (const ack of this.#acks.values()) ack.reject(error);
    this.#acks.clear();
  }

  #goneError(): unknown {
    if (this.#failure) return this.#failure.error;
    return new DockerConnectionError(
      `Attached session with the engine at ${this.#host} broke: the session is closed`,
      this.#host,
    );
  }
}
