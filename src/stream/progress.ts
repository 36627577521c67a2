/**
 * Progress streams: the JSON-lines answers of pull, push, import, load and
 * build, as one object that is both a stream of typed events and a promise
 * of the operation's result.
 *
 * ## Design
 *
 * A {@linkcode ProgressStream} IS a `ReadableStream<TEvent>` (so `for
 * await`, `pipeTo`, `getReader()` work as usual) AND a thenable of
 * `TResult`:
 *
 * ```ts ignore
 * await docker.images.pull("busybox:latest");             // just the result
 * for await (const event of docker.images.pull(ref)) {}   // just the events
 * const pull = docker.images.pull(ref);                   // both
 * for await (const event of pull) render(event);
 * const { digest } = await pull;
 * ```
 *
 * - **Completion.** The result settles when the body has been read to its
 *   end: it resolves with what a {@linkcode ProgressCollector} gathered from
 *   the events (the pulled digest, the pushed digest, the loaded tags, ...).
 *   Since the engine ends the body only once the operation is done, an
 *   awaited pull means the image exists.
 * - **Failure.** It rejects with the typed API error for an error status
 *   (`DockerNotFoundError`, ...), with a `DockerStreamError` for an
 *   `error`/`errorDetail` line anywhere in the body (the engine's message,
 *   after the events before it), and with connection or protocol errors.
 *   A reader sees the same error on its next read.
 * - **One consumer.** The events are read once. Awaiting an unread stream
 *   reads it to its end itself (the events still go to `onProgress`);
 *   awaiting a stream someone else is reading waits for that reader to
 *   reach the end. Awaiting again, or after the end, gives the same
 *   settled result without reading anything. While `await` is draining
 *   the stream, `getReader()` fails as for any locked stream.
 * - **Partial iteration.** Breaking out of `for await` cancels the stream
 *   (web streams semantics): the connection is closed, the operation is
 *   abandoned on the engine, and the result rejects with a
 *   {@linkcode DockerError} saying so. To stop reading events but let the
 *   operation finish, iterate `stream.values({ preventCancel: true })` and
 *   `await` the stream after the loop: it drains the rest.
 * - **Cancellation.** `cancel(reason)` (which also works while `await` is
 *   draining) and the call's `signal` close the connection; the result
 *   rejects with `reason` (a `DockerError` when none is given) or with the
 *   signal's reason, unchanged.
 * - **Callback.** `onProgress` sees every event, whether a reader or the
 *   drain pulled it. If it throws, the stream fails with that error and the
 *   connection is closed.
 * - **No unhandled rejections.** A failed stream that nobody awaits does not
 *   report an unhandled rejection; each `then` returns a new promise the
 *   caller handles.
 * - **Backpressure.** Nothing is read ahead (`highWaterMark: 0`): the socket
 *   is read only when a reader or the drain asks, and only the collector's
 *   small state is kept, never the events.
 *
 * Pitfall of every thenable: an `async` function that returns a
 * `ProgressStream`, and `Promise.resolve(stream)`, await it, so they hand
 * over the result, not the stream. Return it from a plain function, or
 * inside an object, to pass the stream itself on.
 *
 * @module
 */

import { DockerError, DockerStreamError } from "../errors.ts";
import type { CreateImageInfo, ErrorDetail, ProgressDetail, PushImageInfo } from "../types/mod.ts";

export type { CreateImageInfo, ErrorDetail, ProgressDetail, PushImageInfo };

/**
 * Gathers the result of a progress stream from its events. One collector
 * serves one stream; `finish` is called once, at the end of the body.
 *
 * @typeParam TEvent The event type.
 * @typeParam TResult The result type.
 */
export interface ProgressCollector<TEvent, TResult> {
  /**
   * Sees each event, in order, before it is handed out.
   *
   * @param event The event.
   */
  push(event: TEvent): void;
  /**
   * Builds the result once the body ended without error.
   *
   * @returns The result; throwing fails the stream with that error.
   */
  finish(): TResult;
}

/** Options of {@linkcode ProgressStream}. */
export interface ProgressStreamOptions<TEvent> {
  /** Called with every event, in order, whoever reads the stream. */
  onProgress?: ((event: TEvent) => void) | undefined;
  /**
   * Rewrites errors of the source before they are thrown (used to scrub
   * credentials from engine messages).
   */
  mapError?: ((error: unknown) => unknown) | undefined;
  /**
   * What the stream does, for messages: `pull image "busybox"`.
   * @default "read a progress stream"
   */
  action?: string | undefined;
}

/** Shared state of a {@linkcode ProgressStream}, created before `super()`. */
class ProgressState<TEvent, TResult> {
  readonly result: Promise<TResult>;
  settled = false;
  #resolve!: (value: TResult) => void;
  #reject!: (reason: unknown) => void;
  readonly #opened: Promise<ReadableStreamDefaultReader<TEvent>>;
  readonly #collector: ProgressCollector<TEvent, TResult>;
  readonly #options: ProgressStreamOptions<TEvent>;

  constructor(
    source: ReadableStream<TEvent> | Promise<ReadableStream<TEvent>>,
    collector: ProgressCollector<TEvent, TResult>,
    options: ProgressStreamOptions<TEvent>,
  ) {
    this.result = new Promise<TResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Handled here so that a failure nobody awaits is not reported as
    // unhandled; every `then` hands out its own derived promise.
    this.result.catch(() => {});
    this.#opened = source instanceof ReadableStream
      ? Promise.resolve(source.getReader())
      : source.then((stream) => stream.getReader());
    this.#opened.catch(() => {});
    this.#collector = collector;
    this.#options = options;
  }

  resolve(value: TResult): void {
    if (this.settled) return;
    this.settled = true;
    this.#resolve(value);
  }

  reject(reason: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.#reject(reason);
  }

  async pull(controller: ReadableStreamDefaultController<TEvent>): Promise<void> {
    let reader: ReadableStreamDefaultReader<TEvent> | undefined;
    try {
      reader = await this.#opened;
      const { done, value } = await reader.read();
      if (done) {
        this.resolve(this.#collector.finish());
        controller.close();
        return;
      }
      this.#collector.push(value);
      this.#options.onProgress?.(value);
      controller.enqueue(value);
    } catch (error) {
      const mapped = this.#inContext(
        this.#options.mapError ? this.#options.mapError(error) : error,
      );
      this.reject(mapped);
      // A collector or callback error leaves the body unread: close it.
      reader?.cancel(mapped).catch(() => {});
      throw mapped;
    }
  }

  /**
   * An error line of the engine's, named after the call it ended
   * (`Cannot push image "reg/app:1": …`), as API errors are; its own words
   * stay in `engineMessage`.
   */
  #inContext(error: unknown): unknown {
    const action = this.#options.action;
    if (!(error instanceof DockerStreamError) || action === undefined) return error;
    const prefix = `Cannot ${action}: `;
    if (error.message.startsWith(prefix)) return error;
    return new DockerStreamError(prefix + error.message, error.detail, error.engineMessage);
  }

  async cancel(reason: unknown): Promise<void> {
    const action = this.#options.action ?? "read a progress stream";
    this.reject(
      reason ?? new DockerError(`Cannot ${action}: the stream was cancelled before it ended`),
    );
    let reader: ReadableStreamDefaultReader<TEvent>;
    try {
      reader = await this.#opened;
    } catch {
      return; // The call failed before it started streaming: nothing to close.
    }
    await reader.cancel(reason).catch(() => {});
  }
}

/**
 * A stream of progress events that is also a promise of the operation's
 * result; see the module documentation for the rules.
 *
 * @typeParam TEvent The event type, such as {@linkcode CreateImageInfo}.
 * @typeParam TResult The result type, such as {@linkcode ImagePullResult}.
 *
 * @example Await the result, or read the events, or both
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProgressStream } from "./progress.ts";
 *
 * const events = () => ReadableStream.from([{ status: "a" }, { status: "b" }]);
 * const count = () => {
 *   let n = 0;
 *   return { push: () => void n++, finish: () => n };
 * };
 * assert.equal(await new ProgressStream(events(), count()), 2);
 *
 * const both = new ProgressStream(events(), count());
 * const seen: string[] = [];
 * for await (const event of both) seen.push(event.status);
 * assert.deepEqual(seen, ["a", "b"]);
 * assert.equal(await both, 2);
 * ```
 */
export class ProgressStream<TEvent, TResult> extends ReadableStream<TEvent>
  implements PromiseLike<TResult> {
  readonly #state: ProgressState<TEvent, TResult>;
  #drainReader: ReadableStreamDefaultReader<TEvent> | undefined;
  #draining = false;

  /**
   * Wraps a stream of events.
   *
   * @param source The decoded events, or a promise of them (when the call
   *   needs asynchronous preparation, such as a credential lookup); a
   *   rejected promise fails the stream and the result. It must not itself
   *   be a thenable stream.
   * @param collector Builds the result from the events.
   * @param options `onProgress`, `mapError`, `action`.
   */
  constructor(
    source: ReadableStream<TEvent> | Promise<ReadableStream<TEvent>>,
    collector: ProgressCollector<TEvent, TResult>,
    options: ProgressStreamOptions<TEvent> = {},
  ) {
    const state = new ProgressState(source, collector, options);
    super({
      pull: (controller) => state.pull(controller),
      cancel: (reason) => state.cancel(reason),
    }, { highWaterMark: 0 });
    this.#state = state;
  }

  /**
   * Settles with the operation's result; reads the stream to its end first
   * when nobody else is reading it.
   *
   * @param onfulfilled Called with the result.
   * @param onrejected Called with the error.
   * @returns A new promise, as `Promise.prototype.then`.
   */
  then<TResult1 = TResult, TResult2 = never>(
    onfulfilled?: ((value: TResult) => TResult1 | PromiseLike<TResult1>) | null,
    // deno-lint-ignore no-explicit-any
    onrejected?: ((reason: any) => TResult2 | PromiseLike<TResult2>) | null,
  ): Promise<TResult1 | TResult2> {
    this.#drain();
    return this.#state.result.then(onfulfilled, onrejected);
  }

  /**
   * Like `Promise.prototype.catch`: reads the stream to its end when
   * nobody else is reading it, and handles a failure.
   *
   * @param onrejected Called with the error.
   * @returns A new promise.
   */
  catch<TResult2 = never>(
    // deno-lint-ignore no-explicit-any
    onrejected?: ((reason: any) => TResult2 | PromiseLike<TResult2>) | null,
  ): Promise<TResult | TResult2> {
    return this.then(undefined, onrejected);
  }

  /**
   * Like `Promise.prototype.finally`: reads the stream to its end when
   * nobody else is reading it, then runs `onfinally`.
   *
   * @param onfinally Called once the result settled.
   * @returns A new promise settling as the result.
   */
  finally(onfinally?: (() => void) | null): Promise<TResult> {
    this.#drain();
    return this.#state.result.finally(onfinally);
  }

  /**
   * Cancels the stream and closes its connection; the result rejects with
   * `reason` (or a {@linkcode DockerError} when none is given). Unlike a
   * plain stream's, this also works while `await` is draining the stream;
   * it still fails while another reader holds the lock.
   *
   * @param reason Why; passed to the source and to the result.
   * @returns Resolves once the source is cancelled.
   */
  override cancel(reason?: unknown): Promise<void> {
    if (this.#drainReader) return this.#drainReader.cancel(reason);
    return super.cancel(reason);
  }

  /** Starts reading to the end, unless settled, already draining, or locked by a reader. */
  #drain(): void {
    if (this.#draining || this.#state.settled || this.locked) return;
    this.#draining = true;
    const reader = this.getReader();
    this.#drainReader = reader;
    (async () => {
      try {
        while (!(await reader.read()).done) {
          // Events reach the collector and `onProgress` inside `pull`.
        }
      } catch (error) {
        this.#state.reject(error); // Already rejected by `pull` in practice.
      } finally {
        this.#drainReader = undefined;
        reader.releaseLock();
      }
    })();
  }
}

// ---------------------------------------------------------------------------
// Events and results of the image operations
// ---------------------------------------------------------------------------

/** The final `aux` record of a push: what the registry stored. */
export interface ImagePushAux {
  /** The tag pushed. */
  Tag?: string;
  /** The manifest digest, such as `sha256:…`. */
  Digest?: string;
  /** Size of the manifest in bytes. */
  Size?: number;
}

/** One line of the `POST /images/{name}/push` stream, with the fields the engine adds. */
export interface ImagePushEvent extends PushImageInfo {
  /** Id of the layer (or tag) the line is about. */
  id?: string;
  /** Structured error; set when the push failed (the stream then throws). */
  errorDetail?: ErrorDetail;
  /** On the last line of a successful push of a tag: tag, digest and size. */
  aux?: ImagePushAux;
}

/** One line of the `POST /images/load` stream. */
export interface ImageLoadEvent {
  /** Text output, such as `Loaded image: app:1.0\n`. */
  stream?: string;
  /** Status text such as `Loading layer`. */
  status?: string;
  /** Id of the layer the line is about. */
  id?: string;
  /** Progress bar rendered as text; `progressDetail` has the numbers. */
  progress?: string;
  /** Numeric progress. */
  progressDetail?: ProgressDetail;
  /** Error message (the stream then throws). */
  error?: string;
  /** Structured error (the stream then throws). */
  errorDetail?: ErrorDetail;
}

/** Result of a pull. */
export interface ImagePullResult {
  /** The reference pulled, such as `busybox:latest` or `app@sha256:…`. */
  image: string;
  /** The manifest digest the engine reported (`Digest: sha256:…`). */
  digest?: string;
  /**
   * The engine's closing status without its `Status: ` prefix, such as
   * `Downloaded newer image for busybox:latest` or `Image is up to date
   * for busybox:latest`; `""` when it sent none.
   */
  status: string;
}

/** Result of a push: the last `aux` record (the last tag pushed). */
export interface ImagePushResult {
  /** The manifest digest in the registry. */
  digest?: string;
  /** The manifest size in bytes. */
  size?: number;
  /** The tag pushed. */
  tag?: string;
}

/** Result of a load. */
export interface ImageLoadResult {
  /**
   * The images loaded, from the engine's `Loaded image: <name:tag>` lines
   * (`Loaded image ID: <id>` for untagged images), in order.
   */
  images: string[];
}

/** Result of an import. */
export interface ImageImportResult {
  /** Id of the new image, such as `sha256:…`. */
  id: string;
}

/**
 * Collects a pull's result from its events.
 *
 * @param image The reference pulled, reported as `image` unless the engine names it.
 * @returns The collector.
 *
 * @example Collect from pull lines
 * ```ts
 * import assert from "node:assert/strict";
 * import { pullCollector } from "./progress.ts";
 *
 * const collector = pullCollector("busybox:latest");
 * collector.push({ status: "Digest: sha256:abc" });
 * collector.push({ status: "Status: Image is up to date for busybox:latest" });
 * assert.deepEqual(collector.finish(), {
 *   image: "busybox:latest", digest: "sha256:abc", status: "Image is up to date for busybox:latest",
 * });
 * ```
 */
export function pullCollector(image: string): ProgressCollector<CreateImageInfo, ImagePullResult> {
  let digest: string | undefined;
  let status = "";
  return {
    push(event) {
      const text = event?.status;
      if (typeof text !== "string" || event.id !== undefined) return;
      if (text.startsWith("Digest: ")) digest = text.slice("Digest: ".length).trim();
      else if (text.startsWith("Status: ")) status = text.slice("Status: ".length).trim();
    },
    finish() {
      return digest === undefined ? { image, status } : { image, digest, status };
    },
  };
}

/**
 * Collects a push's result: the last `aux` record.
 *
 * @returns The collector.
 *
 * @example Collect from push lines
 * ```ts
 * import assert from "node:assert/strict";
 * import { pushCollector } from "./progress.ts";
 *
 * const collector = pushCollector();
 * collector.push({ status: "Pushed", id: "abc" });
 * collector.push({ aux: { Tag: "1.0", Digest: "sha256:def", Size: 527 } });
 * assert.deepEqual(collector.finish(), { tag: "1.0", digest: "sha256:def", size: 527 });
 * ```
 */
export function pushCollector(): ProgressCollector<ImagePushEvent, ImagePushResult> {
  let aux: ImagePushAux | undefined;
  return {
    push(event) {
      if (event?.aux && typeof event.aux === "object") aux = event.aux;
    },
    finish() {
      const result: ImagePushResult = {};
      if (typeof aux?.Tag === "string") result.tag = aux.Tag;
      if (typeof aux?.Digest === "string") result.digest = aux.Digest;
      if (typeof aux?.Size === "number") result.size = aux.Size;
      return result;
    },
  };
}

/**
 * Collects a load's result from its `Loaded image` lines.
 *
 * @returns The collector.
 *
 * @example Collect from load lines
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadCollector } from "./progress.ts";
 *
 * const collector = loadCollector();
 * collector.push({ stream: "Loaded image: app:1.0\n" });
 * collector.push({ stream: "Loaded image ID: sha256:abc\n" });
 * assert.deepEqual(collector.finish(), { images: ["app:1.0", "sha256:abc"] });
 * ```
 */
export function loadCollector(): ProgressCollector<ImageLoadEvent, ImageLoadResult> {
  const images: string[] = [];
  return {
    push(event) {
      const text = event?.stream;
      if (typeof text !== "string") return;
      for (const line of text.split("\n")) {
        const match = /^Loaded image(?: ID)?: (.+)$/.exec(line.trim());
        if (match) images.push(match[1]!.trim());
      }
    },
    finish() {
      return { images };
    },
  };
}

/**
 * Collects an import's result: the image id the engine reports as its last
 * status.
 *
 * @returns The collector; `finish` throws a {@linkcode DockerError} when the
 *   engine reported no id.
 *
 * @example Collect from import lines
 * ```ts
 * import assert from "node:assert/strict";
 * import { importCollector } from "./progress.ts";
 *
 * const collector = importCollector();
 * collector.push({ status: "sha256:" + "a".repeat(64) });
 * assert.deepEqual(collector.finish(), { id: "sha256:" + "a".repeat(64) });
 * ```
 */
export function importCollector(): ProgressCollector<CreateImageInfo, ImageImportResult> {
  let id: string | undefined;
  return {
    push(event) {
      const text = event?.status?.trim();
      if (typeof text === "string" && /^sha256:[0-9a-f]{64}$/.test(text)) id = text;
    },
    finish() {
      if (id === undefined) {
        throw new DockerError("Cannot import an image: the engine did not report the new image id");
      }
      return { id };
    },
  };
}
