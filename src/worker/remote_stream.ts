/**
 * The main-thread side of one stream that runs in a worker: a pull-based
 * `ReadableStream` fed by the batches the worker sends. The first read
 * starts the worker's reading; from then on the worker may read ahead of
 * the reader by at most a window of bytes (`STREAM_WINDOW`), and each read gives back the
 * credit of the batches consumed before it. A reader that stops therefore
 * stops the socket reads after at most one window (bounded memory,
 * backpressure down to the engine).
 *
 * Cancellation crosses both ways: cancelling the stream or aborting its
 * signal sends `cancel` (the worker closes the socket); a worker that
 * fails or is terminated fails the stream. An abort rejects with the
 * signal's own `reason` object, which never leaves this thread. An abort
 * or a failure errors the stream at once: items it had received but not
 * yet handed out are dropped, as `fetch` drops an aborted body's.
 *
 * A stream opened with head fields (an archive download, a session) also
 * offers the response head as a promise that settles before the body is
 * read: with the head, or with the call's error (status, connection,
 * abort), which then also ends the stream.
 *
 * @module
 */

import { DockerError } from "../errors.ts";
import {
  type BatchMessage,
  type DecoderSpec,
  deserializeError,
  type HeadMessage,
  type MainMessage,
  STREAM_CODES,
  STREAM_WINDOW,
  type StreamHead,
  type StreamReply,
  type WireRequest,
} from "./protocol.ts";

/** How a {@linkcode RemoteStream} talks to its worker; provided by the pool. */
export interface RemoteChannel {
  /** Sends a message about this stream to its worker. */
  post(message: MainMessage, transfer?: Transferable[]): void;
  /**
   * Called once when the stream no longer occupies the worker (ended,
   * failed, or its cancel acknowledged), so the pool can count it out.
   */
  release(): void;
}

interface Waiter {
  resolve: (message: BatchMessage | typeof ENDED) => void;
  reject: (error: unknown) => void;
}

/** What a waiting read gets when {@linkcode RemoteStream.close} ends the stream. */
const ENDED = Symbol("ended");

/**
 * One stream in a worker, seen from the main thread. The pool creates it,
 * routes the worker's `batch` and `closed` messages to
 * {@linkcode RemoteStream.receive}, and calls {@linkcode RemoteStream.fail}
 * when the worker goes away.
 *
 * @typeParam T The item type: JSON values, `Frame`s or `Uint8Array`s, as the
 *   decoder spec says.
 */
export class RemoteStream<T> {
  /** The stream's id on its worker. */
  readonly id: number;
  /** What the caller reads. */
  readonly readable: ReadableStream<T>;
  /**
   * The response head, when the stream was opened with head fields: it
   * resolves before any item can be read, or rejects with the call's
   * error (the stream then fails with it too).
   */
  readonly head: Promise<StreamHead> | undefined;
  readonly #channel: RemoteChannel;
  readonly #headFields: string[] | undefined;
  #resolveHead: ((head: StreamHead) => void) | undefined;
  #rejectHead: ((error: unknown) => void) | undefined;
  /** Closed by {@linkcode RemoteStream.close}: reads end quietly. */
  #ended = false;
  /** Resolves once the worker holds nothing more for this stream. */
  readonly #whenReleased = Promise.withResolvers<void>();
  readonly #signal: AbortSignal | undefined;
  /** Resolves once `open` is posted (or the stream failed first). */
  readonly #opening: Promise<void>;
  #posted = false;
  /** No more messages go to the worker (cancelled, aborted or failed). */
  #stopped = false;
  /** The worker holds nothing more for this stream. */
  #released = false;
  #failure: { error: unknown } | undefined;
  /** A read waiting for the next batch. */
  #waiter: Waiter | undefined;
  /** Batches that arrived before the reader asked for them. */
  readonly #queue: BatchMessage[] = [];
  /** Whether the first credit (which starts the reading) was sent. */
  #started = false;
  /** Bytes of batches handed to the reader whose credit was not given back yet. */
  #owed = 0;
  /** Bytes the worker may read ahead (a late spec is a container output stream). */
  #window = STREAM_WINDOW.frames;
  #specError: { error: unknown } | undefined;
  /** Settles with a spec promise: a failed stream waits for it (a TTY lookup is a request). */
  #specSettled: Promise<void> | undefined;
  readonly #onAbort = () => this.#abort();
  /** Set by the stream's `start`: errors it at once on an abort or failure. */
  #controller: ReadableStreamDefaultController<T> | undefined;
  /** Aborted when the stream stops: the TTY lookup behind a spec promise listens. */
  readonly #lookups: AbortController | undefined;

  /**
   * Starts the stream: `open` is posted as soon as the request is ready.
   *
   * @param id The stream's id on its worker.
   * @param channel The way to the worker.
   * @param request The request (a promise while the API version is negotiated).
   * @param spec The decoder, or a promise of it.
   * @param signal Cancels the stream; the stream then fails with its reason.
   * @param head Header fields (lower-case names) to receive with the
   *   response head in {@linkcode RemoteStream.head}; unset: no head.
   * @param lookups Aborted when the stream stops (cancelled, aborted,
   *   failed or ended), so the lookup behind a spec promise ends with it.
   */
  constructor(
    id: number,
    channel: RemoteChannel,
    request: Promise<WireRequest>,
    spec: DecoderSpec | Promise<DecoderSpec>,
    signal: AbortSignal | undefined,
    head?: string[],
    lookups?: AbortController,
  ) {
    this.id = id;
    this.#channel = channel;
    this.#signal = signal;
    this.#lookups = lookups;
    this.#headFields = head;
    if (head !== undefined) {
      const { promise, resolve, reject } = Promise.withResolvers<StreamHead>();
      // The caller may never ask (it failed before); the stream fails too.
      promise.catch(() => {});
      this.head = promise;
      this.#resolveHead = resolve;
      this.#rejectHead = reject;
    }
    if (!(spec instanceof Promise)) this.#window = STREAM_WINDOW[spec.kind];
    else this.#specSettled = spec.then(() => {}, () => {});
    if (signal?.aborted) {
      this.#failure = { error: signal.reason };
      this.#failHead(signal.reason);
      this.#stopped = true;
      this.#release();
      this.#opening = Promise.resolve();
      request.catch(() => {});
      if (spec instanceof Promise) spec.catch(() => {});
    } else {
      signal?.addEventListener("abort", this.#onAbort, { once: true });
      this.#opening = this.#open(request, spec);
    }
    this.readable = new ReadableStream<T>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: (controller) => this.#pull(controller),
      cancel: () => this.#cancel(),
    }, { highWaterMark: 0 });
  }

  async #open(request: Promise<WireRequest>, spec: DecoderSpec | Promise<DecoderSpec>) {
    let wire: WireRequest;
    try {
      wire = await request;
    } catch (error) {
      // The request could not be built (version negotiation failed): the
      // first read rejects with that error, as on this thread.
      if (spec instanceof Promise) spec.catch(() => {});
      this.#failure ??= { error };
      this.#failHead(this.#failure.error);
      this.#stopped = true;
      this.#release();
      return;
    }
    if (this.#stopped) {
      if (spec instanceof Promise) spec.catch(() => {});
      this.#release();
      return;
    }
    const transfer: Transferable[] = [];
    if (wire.body instanceof ReadableStream) transfer.push(wire.body as unknown as Transferable);
    const head = this.#headFields !== undefined ? { head: this.#headFields } : {};
    if (spec instanceof Promise) {
      this.#channel.post({ type: "open", id: this.id, request: wire, ...head }, transfer);
      this.#posted = true;
      spec.then(
        (value) => {
          if (!this.#stopped) this.#channel.post({ type: "spec", id: this.id, spec: value });
        },
        (error) => {
          // Kept here (the same object is thrown); the worker only learns
          // that it failed.
          this.#specError = { error };
          if (!this.#stopped) this.#channel.post({ type: "specFailed", id: this.id });
        },
      );
    } else {
      this.#channel.post({ type: "open", id: this.id, request: wire, spec, ...head }, transfer);
      this.#posted = true;
    }
  }

  async #pull(controller: ReadableStreamDefaultController<T>): Promise<void> {
    if (this.#ended) return controller.close();
    if (this.#failure) throw this.#failure.error;
    await this.#opening;
    // Set while the request was being prepared (failed, aborted, closed).
    const failure = this.#failure as { error: unknown } | undefined;
    if (failure) throw failure.error;
    if (this.#ended as boolean) return controller.close();
    if (!this.#started) {
      this.#started = true;
      this.#channel.post({ type: "pull", id: this.id, credit: this.#window });
    } else if (this.#owed >= this.#window / 2) {
      // What the reader consumed since the last credit.
      this.#channel.post({ type: "pull", id: this.id, credit: this.#owed });
      this.#owed = 0;
    }
    const reply = this.#queue.shift() ??
      await new Promise<BatchMessage | typeof ENDED>((resolve, reject) => {
        this.#waiter = { resolve, reject };
      });
    if (reply === ENDED) return controller.close();
    this.#owed += reply.bytes;
    const items = decodeItems<T>(reply);
    if (reply.error !== undefined) {
      this.#finish();
      // No request of the caller's may outlive the stream's failure.
      await this.#specSettled;
      const error = this.#batchError(reply);
      if (items.length === 0) throw error;
      // Deliver what came before the failure; the next read fails.
      this.#failure = { error };
    } else if (reply.done) {
      this.#finish();
    }
    for (const item of items) controller.enqueue(item);
    if (reply.done && reply.error === undefined) controller.close();
  }

  /** The error a failed batch carries (`"local"`: the decoder spec's own rejection). */
  #batchError(reply: BatchMessage): unknown {
    return reply.error === "local"
      ? this.#specError?.error
      : deserializeError(reply.error as Exclude<BatchMessage["error"], "local" | undefined>);
  }

  /**
   * Handles a message the worker sent about this stream.
   *
   * @param message A `head`, `batch` or `closed` (a `written` belongs to
   *   the session around the stream and is ignored here).
   */
  receive(message: StreamReply): void {
    if (message.type === "closed") {
      this.#release();
      return;
    }
    if (message.type === "written") return;
    if (message.type === "head") {
      this.#receiveHead(message);
      return;
    }
    // After a cancel, abort or failure, late batches are dropped.
    if (this.#stopped) return;
    if (this.#rejectHead !== undefined && message.error !== undefined) {
      // The call failed before its head: the caller learns it from the head,
      // and the stream holds nothing more.
      const error = this.#batchError(message);
      this.#failure ??= { error };
      this.#failHead(error);
      this.#finish();
      return;
    }
    const waiter = this.#waiter;
    this.#waiter = undefined;
    if (waiter) waiter.resolve(message);
    else this.#queue.push(message);
  }

  /**
   * Fails the stream because its worker is gone (client closed, worker
   * crashed): a pending read rejects with `error`, later reads too.
   *
   * @param error The error to report.
   */
  fail(error: unknown): void {
    this.#failure ??= { error };
    this.#failHead(this.#failure.error);
    this.#stopped = true;
    this.#removeAbortListener();
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(this.#failure.error);
    this.#controller?.error(this.#failure.error);
    this.#release();
  }

  /**
   * Ends the stream from this side without an error (a session's `close()`):
   * a waiting read and later ones end (`done`), and the worker closes the
   * socket. Safe to call more than once, and while a reader holds the stream.
   *
   * @returns Resolves once the worker holds nothing more for this stream.
   */
  close(): Promise<void> {
    if (!this.#ended) {
      this.#ended = true;
      const waiter = this.#waiter;
      this.#waiter = undefined;
      waiter?.resolve(ENDED);
      this.#failHead(new DockerError("Stream closed before its response arrived"));
    }
    if (!this.#stopped) this.#stop();
    return this.#whenReleased.promise;
  }

  /** Cancel from the reader: the worker closes the socket; resolves once it has. */
  #cancel(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    // A read still waiting (cancel during a read) ends; the stream is
    // cancelled already, so its rejection goes nowhere.
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(new TypeError("Stream was cancelled"));
    this.#stop();
    return this.#whenReleased.promise;
  }

  #abort(): void {
    if (this.#stopped) return;
    const reason = this.#signal!.reason;
    this.#failure ??= { error: reason };
    this.#failHead(reason);
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(reason);
    this.#controller?.error(this.#failure.error);
    this.#stop();
  }

  /** Stops talking to the worker, asking it to close the socket when it has one. */
  #stop(): void {
    this.#stopped = true;
    this.#stopLookups();
    this.#queue.length = 0;
    this.#removeAbortListener();
    // Before `open` is posted, #open sees #stopped and releases.
    if (this.#posted && !this.#released) this.#channel.post({ type: "cancel", id: this.id });
  }

  /** The worker ended the stream itself (end of body, or an error it reported). */
  #finish(): void {
    this.#stopped = true;
    this.#removeAbortListener();
    this.#release();
  }

  /** The worker holds nothing more for this stream: count it out, end a waiting cancel. */
  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#stopLookups();
    // A stream counted out before its head (a request that could not be
    // built) has no head to come.
    this.#failHead(this.#failure?.error ?? new DockerError("Stream ended before its response"));
    this.#channel.release();
    this.#whenReleased.resolve();
  }

  #receiveHead(message: HeadMessage): void {
    const resolve = this.#resolveHead;
    this.#resolveHead = undefined;
    this.#rejectHead = undefined;
    resolve?.({ status: message.status, statusText: message.statusText, headers: message.headers });
  }

  /** Rejects the head, if it is still awaited. */
  #failHead(error: unknown): void {
    const reject = this.#rejectHead;
    this.#resolveHead = undefined;
    this.#rejectHead = undefined;
    reject?.(error);
  }

  #stopLookups(): void {
    this.#lookups?.abort(this.#failure?.error ?? new DockerError("The stream was stopped"));
  }

  #removeAbortListener(): void {
    this.#signal?.removeEventListener("abort", this.#onAbort);
  }
}

/**
 * Rebuilds the items of a batch: JSON values as they came, byte items as
 * views into the transferred buffers.
 *
 * @param message The batch.
 * @returns The items.
 */
export function decodeItems<T>(message: BatchMessage): T[] {
  if (message.kind === "values") return (message.values ?? []) as T[];
  const layout = message.layout;
  const buffers = message.buffers ?? [];
  if (!layout) return [];
  const items: T[] = new Array(layout.length / 4);
  const frames = message.kind === "frames";
  for (let i = 0, at = 0; at < layout.length; i++, at += 4) {
    const data = new Uint8Array(buffers[layout[at + 1]!]!, layout[at + 2]!, layout[at + 3]!);
    items[i] = (frames ? { stream: STREAM_CODES[layout[at]!]!, data } : data) as T;
  }
  return items;
}
