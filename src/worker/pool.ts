/**
 * Runs streams (logs, events, stats, progress, tar downloads, archive
 * downloads, attach sessions) in Web Workers, so that HTTP parsing, chunk
 * decoding, demultiplexing and JSON decoding happen off the main thread.
 * Each worker owns its own connections to the engine; items come back as
 * transferred buffers (byte items) or structured clones (JSON values), and
 * the stream the caller reads is the same as without a worker. A hijacked
 * session is opened by the worker itself (a socket cannot move between
 * threads), which also writes the stdin bytes sent to it.
 *
 * Workers start lazily, on the first stream that needs one, up to `size`;
 * each new stream goes to the least busy worker (a new one while all are
 * busy and fewer than `size` run). A worker idle for `idleTimeout` ms is
 * stopped, so a client that is never closed does not keep the process
 * alive forever; {@linkcode WorkerPool.close} stops them all at once and
 * fails the streams still open.
 *
 * Each worker has its own connection pool: with `size` workers, up to
 * `(size + 1) × maxConnections` ordinary requests may be in flight.
 *
 * ## Permissions, JSR and `deno compile`
 *
 * A worker inherits the permissions of the main thread (it connects to the
 * engine socket itself). The worker module is found with the static
 * `new URL("./worker.ts", import.meta.url)`, which resolves in a local
 * checkout and from JSR alike. It is not part of the main module graph, so
 * Deno loads it (and its imports) when the first worker starts, under the
 * script's permissions: from a local path (a checkout, a vendored copy)
 * that takes `--allow-read` on berth's `src` directory; from JSR it takes
 * import access to `jsr.io:443`, which Deno allows by default (and which
 * the static import of berth needed already). A worker that cannot load
 * makes Deno print `error: Uncaught (in worker …)` to stderr, whatever the
 * `error` handler does, so the pool checks these permissions first and
 * fails the stream with a `DockerError` naming the flag instead of
 * starting the worker.
 *
 * `deno compile` does not follow the worker's URL, so the module must be
 * embedded with `--include`:
 *
 * ```sh
 * # berth in a local checkout (the path as seen from where deno runs):
 * deno compile --allow-all --include src/worker/worker.ts main.ts
 * # berth from JSR: the module's URL, same version as the import
 * deno compile --allow-all \
 *   --include https://jsr.io/@berth/docker/<version>/src/worker/worker.ts main.ts
 * ```
 *
 * Without it a compiled program fails its first worker stream ("Module not
 * found", a `DockerError` from the stream); streams without workers keep
 * working.
 *
 * @module
 */

import type { HijackedSession } from "../api/_session.ts";
import { DockerConnectionError, DockerError } from "../errors.ts";
import {
  type DecoderSpec,
  deserializeError,
  type ExchangeRecord,
  type MainMessage,
  type SshOptions,
  type StreamHead,
  type StreamReply,
  type TlsOptions,
  type WireRequest,
  type WorkerMessage,
  type WorkerSettings,
} from "./protocol.ts";
import { RemoteSession } from "./remote_session.ts";
import { type RemoteChannel, RemoteStream } from "./remote_stream.ts";

/** Options of {@linkcode WorkerPool}: how many workers, and the connection settings they copy. */
export interface WorkerPoolOptions {
  /** Most workers running at once (at least 1). */
  size: number;
  /** Engine address as the client formats it (`unix:///…`, `tcp://…`, `https://…`). */
  host: string;
  /** TLS material (PEM text), as given to the client. */
  tls?: TlsOptions | undefined;
  /** How to run ssh for `ssh://` hosts, as given to the client. */
  ssh?: SshOptions | undefined;
  /** Milliseconds to wait for a connection. @default 30000 */
  connectTimeout?: number | undefined;
  /** Appended to the message of a connection failure (see `ConnectorOptions`). */
  failureNote?: string | undefined;
  /** Most concurrent ordinary requests per worker. @default 16 */
  maxConnections?: number | undefined;
  /** Milliseconds an idle connection is kept. @default 10000 */
  keepAliveTimeout?: number | undefined;
  /** Milliseconds to wait for response headers; 0 = forever. @default 300000 */
  headersTimeout?: number | undefined;
  /** Milliseconds a body may go without bytes; 0 = forever (follow streams are exempt). @default 300000 */
  bodyTimeout?: number | undefined;
  /** Largest response head in bytes. @default 65536 */
  maxHeaderSize?: number | undefined;
  /** Receives the workers' exchange records (the client's observer). */
  onRecord?: ((record: ExchangeRecord) => void) | undefined;
  /** Milliseconds a worker without streams lives on; 0 = until closed. @default 10000 */
  idleTimeout?: number | undefined;
  /**
   * Another worker module, for tests (one that fails on purpose). Its
   * permissions are not checked before a worker starts (see
   * {@linkcode workerLoadProblem}).
   * @default `./worker.ts` beside this module
   */
  workerModule?: URL | undefined;
}

/** The worker module: not in the main module graph, Deno loads it when a worker starts. */
const WORKER_MODULE = new URL("./worker.ts", import.meta.url);

/** berth's `src` directory: the worker module and everything it imports are under it. */
const SOURCE_ROOT = new URL("../", import.meta.url);

/** Terminal colour codes, which Deno puts in the message of a module that failed to load. */
// deno-lint-ignore no-control-regex
const COLOR_CODES = /\u001b\[[0-9;]*m/g;

/**
 * Says why a worker could not load its module with this process's
 * permissions, when Deno can tell before one starts. A worker that fails
 * to load makes Deno print `error: Uncaught (in worker …)` to stderr
 * whatever the `error` handler does (`preventDefault()` included), so the
 * pool asks first and starts no worker that would fail.
 *
 * - A `file:` module (berth imported from a local path: a checkout, a
 *   vendored copy) needs read access to the whole of `root`, where the
 *   module's imports are too.
 * - An `http:`/`https:` module (berth from JSR) needs import access to its
 *   host and port, which Deno's default `--allow-import` list grants for
 *   `jsr.io:443`.
 *
 * @param module The worker module.
 * @param root The directory that holds the module and all its imports.
 * @returns The message to fail the stream with, or `undefined` when the
 *   permissions are there or cannot be checked (a `deno compile` program
 *   loads its embedded modules; other schemes).
 */
export function workerLoadProblem(module: URL, root: URL): string | undefined {
  if (Deno.build.standalone) return undefined;
  const onThisThread =
    "or run the stream on the main thread (`worker: false`, or no `workers` option)";
  if (module.protocol === "file:") {
    const status = Deno.permissions.querySync({ name: "read", path: root });
    if (status.state === "granted" && !status.partial) return undefined;
    const path = filePath(root);
    const which = status.partial
      ? "some of berth's files (a --deny-read covers them)"
      : "berth's files";
    return `Cannot start a stream worker: Deno lacks read access to ${which} in ${path}. ` +
      `berth is imported from a local path, so a worker loads its module ` +
      `(${filePath(module)}) and that module's imports from there; ` +
      `run with --allow-read=${path}, ${onThisThread}`;
  }
  if (module.protocol === "https:" || module.protocol === "http:") {
    const port = module.port || (module.protocol === "https:" ? "443" : "80");
    const host = `${module.hostname}:${port}`;
    if (Deno.permissions.querySync({ name: "import", host }).state === "granted") return undefined;
    return `Cannot start a stream worker: Deno lacks import access to ${host}. ` +
      `berth is imported from ${module.origin}, so a worker loads its module ` +
      `(${module.href}) from there when it starts; ` +
      `run with --allow-import=${host}, ${onThisThread}`;
  }
  return undefined;
}

/** The path of a `file:` URL, as the `--allow-read` flag takes it. */
function filePath(url: URL): string {
  const path = decodeURIComponent(url.pathname).replace(/(.)\/$/, "$1");
  // `/C:/dir` on Windows.
  return Deno.build.os === "windows"
    ? path.replace(/^\/([A-Za-z]:)/, "$1").replaceAll("/", "\\")
    : path;
}

/** What a worker's messages about one stream go to: a stream or a session. */
interface Endpoint {
  receive(message: StreamReply): void;
  fail(error: unknown): void;
}

/** One running worker and the streams it carries. */
interface Slot {
  readonly worker: Worker;
  readonly streams: Map<number, Endpoint>;
  idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Terminated (crashed, or the pool closed): never armed for idling again. */
  stopped: boolean;
}

/** A stream started with {@linkcode WorkerPool.streamWithHead}. */
export interface HeadedRemoteStream<T> {
  /** The response head; rejects with the call's error (the stream then fails too). */
  head: Promise<StreamHead>;
  /** The items, read after the head. */
  readable: ReadableStream<T>;
}

/**
 * A lazily started pool of stream workers, shared by one client.
 *
 * @example Run a logs stream in a worker
 * ```ts ignore
 * import { WorkerPool } from "./pool.ts";
 *
 * const pool = new WorkerPool({ size: 2, host: "unix:///var/run/docker.sock" });
 * const logs = pool.stream<Uint8Array>(
 *   Promise.resolve({ method: "GET", target: "/v1.41/containers/web/export", action: "export" }),
 *   { kind: "bytes" },
 * );
 * for await (const piece of logs) console.log(piece.length);
 * pool.close();
 * ```
 */
export class WorkerPool {
  readonly #size: number;
  readonly #settings: WorkerSettings;
  readonly #onRecord: ((record: ExchangeRecord) => void) | undefined;
  readonly #idleTimeout: number;
  readonly #workerModule: URL | undefined;
  readonly #slots: Slot[] = [];
  #nextId = 1;
  #closed = false;

  /**
   * Creates the pool; no worker starts until the first stream.
   *
   * @param options Size, connection settings, observer, idle timeout.
   * @throws {RangeError} When `size` is not a positive integer.
   */
  constructor(options: WorkerPoolOptions) {
    if (!Number.isSafeInteger(options.size) || options.size < 1) {
      throw new RangeError(
        `Cannot create the worker pool: size must be a positive integer, got ${options.size}`,
      );
    }
    this.#size = options.size;
    this.#onRecord = options.onRecord;
    this.#idleTimeout = options.idleTimeout ?? 10_000;
    this.#workerModule = options.workerModule;
    this.#settings = {
      host: options.host,
      tls: options.tls,
      ssh: options.ssh,
      connectTimeout: options.connectTimeout ?? 30_000,
      failureNote: options.failureNote,
      maxConnections: options.maxConnections,
      keepAliveTimeout: options.keepAliveTimeout,
      headersTimeout: options.headersTimeout,
      bodyTimeout: options.bodyTimeout,
      maxHeaderSize: options.maxHeaderSize,
      records: options.onRecord !== undefined,
    };
  }

  /** Most workers running at once. */
  get size(): number {
    return this.#size;
  }

  /** Workers running now. */
  get workers(): number {
    return this.#slots.length;
  }

  /** Streams open in the workers now. */
  get streams(): number {
    let count = 0;
    for (const slot of this.#slots) count += slot.streams.size;
    return count;
  }

  /**
   * Starts a stream in a worker and returns it at once. The request is
   * sent by the worker as soon as `request` resolves; reading the body
   * starts with the first read of the returned stream and then stays at
   * most one window (`STREAM_WINDOW`) ahead of the reader.
   *
   * @typeParam T The item type the spec produces.
   * @param request The request, with its target already versioned.
   * @param spec The decoder, or a promise of it (sent when it resolves).
   * @param signal Cancels the stream; it then fails with the signal's reason.
   * @param lookups Aborted once the stream is stopped (cancelled, aborted,
   *   failed or ended): what works out a spec promise listens to it.
   * @returns The items, as the same stream type as without a worker.
   */
  stream<T>(
    request: Promise<WireRequest>,
    spec: DecoderSpec | Promise<DecoderSpec>,
    signal?: AbortSignal,
    lookups?: AbortController,
  ): ReadableStream<T> {
    return this.#start<T>(request, spec, signal, undefined, lookups).readable;
  }

  /**
   * Starts a stream in a worker whose caller needs the response head
   * before the body (an archive download: its stat is a header). The
   * worker reports the head as soon as it arrives, or the call's failure
   * at once; the body is read as with {@linkcode WorkerPool.stream}.
   *
   * @typeParam T The item type the spec produces.
   * @param request The request, with its target already versioned.
   * @param spec The decoder, or a promise of it.
   * @param signal Cancels the stream; head and reads reject with its reason.
   * @param fields Header fields to carry with the head (any case).
   * @returns The head (a promise) and the items.
   */
  streamWithHead<T>(
    request: Promise<WireRequest>,
    spec: DecoderSpec | Promise<DecoderSpec>,
    signal: AbortSignal | undefined,
    fields: string[],
  ): HeadedRemoteStream<T> {
    const remote = this.#start<T>(
      request,
      spec,
      signal,
      fields.map((name) => name.toLowerCase()),
    );
    return { head: remote.head!, readable: remote.readable };
  }

  /**
   * Opens a hijacked session (attach) in a worker: the worker sends the
   * request, takes over the upgraded connection, decodes the output with
   * `spec` and writes the stdin chunks written to the session.
   *
   * @param request The request (with `upgrade`), target already versioned.
   * @param spec The output decoder (`frames`), or a promise of it.
   * @param signal Aborts the opening (it rejects with the signal's
   *   reason); watched afterwards too: an abort then closes the session and
   *   fails its streams with the reason.
   * @returns The session, once the engine switched protocols.
   */
  session(
    request: Promise<WireRequest>,
    spec: DecoderSpec | Promise<DecoderSpec>,
    signal?: AbortSignal,
  ): Promise<HijackedSession> {
    return this.#session(request, spec, signal, (session) => session.open(signal));
  }

  /**
   * Opens a WebSocket attach in a worker (see {@linkcode RemoteSession.openWebSocket}).
   *
   * @param request The request (`upgrade: "websocket"`, the key sent).
   * @param accept The `Sec-WebSocket-Accept` the handshake must answer.
   * @param signal Aborts the opening; afterwards, closes the session and
   *   fails its streams with the reason.
   * @returns The session's payloads out and messages in.
   */
  webSocket(
    request: Promise<WireRequest>,
    accept: string,
    signal?: AbortSignal,
  ): ReturnType<RemoteSession["openWebSocket"]> {
    const spec: DecoderSpec = { kind: "websocket", accept };
    return this.#session(request, spec, signal, (session) => session.openWebSocket(signal));
  }

  #session<T>(
    request: Promise<WireRequest>,
    spec: DecoderSpec | Promise<DecoderSpec>,
    signal: AbortSignal | undefined,
    open: (session: RemoteSession) => Promise<T>,
  ): Promise<T> {
    const slot = this.#closed || signal?.aborted ? undefined : this.#pick();
    if (slot === undefined || slot instanceof DockerError) {
      request.catch(() => {});
      if (spec instanceof Promise) spec.catch(() => {});
      return Promise.reject(signal?.aborted ? signal.reason : slot ?? this.#closedError());
    }
    const id = this.#nextId++;
    const { channel, released } = this.#channel(slot, id);
    const session = new RemoteSession(id, channel, request, spec, this.#settings.host);
    if (!released()) slot.streams.set(id, session);
    return open(session);
  }

  #start<T>(
    request: Promise<WireRequest>,
    spec: DecoderSpec | Promise<DecoderSpec>,
    signal: AbortSignal | undefined,
    head: string[] | undefined,
    lookups?: AbortController,
  ): RemoteStream<T> {
    const id = this.#nextId++;
    const slot = this.#closed || signal?.aborted ? undefined : this.#pick();
    if (slot === undefined || slot instanceof DockerError) {
      // Nothing to start: the stream fails with the reason (the first read,
      // and the head), as on this thread.
      const remote = new RemoteStream<T>(
        id,
        { post: () => {}, release: () => {} },
        request,
        spec,
        signal,
        head,
        lookups,
      );
      if (!signal?.aborted) remote.fail(slot ?? this.#closedError());
      return remote;
    }
    const { channel, released } = this.#channel(slot, id);
    const remote = new RemoteStream<T>(id, channel, request, spec, signal, head, lookups);
    if (!released()) slot.streams.set(id, remote as RemoteStream<unknown>);
    return remote;
  }

  /** The way from a stream to its worker, counting the stream out of `slot` once released. */
  #channel(slot: Slot, id: number): { channel: RemoteChannel; released: () => boolean } {
    let released = false;
    return {
      channel: {
        post: (message: MainMessage, transfer?: Transferable[]) => {
          slot.worker.postMessage(message, transfer ?? []);
        },
        release: () => {
          if (released) return;
          released = true;
          slot.streams.delete(id);
          this.#armIdle(slot);
        },
      },
      released: () => released,
    };
  }

  #closedError(): DockerError {
    return new DockerError("Cannot send a request: the client is closed");
  }

  /**
   * Stops every worker at once (their sockets close with them) and fails
   * the streams still open with a {@linkcode DockerConnectionError}. Later
   * streams fail too. Safe to call more than once.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const error = new DockerConnectionError(
      `Connection to the Docker engine at ${this.#settings.host} was closed: the client was closed`,
      this.#settings.host,
    );
    for (const slot of this.#slots.splice(0)) this.#stopSlot(slot, error);
  }

  /**
   * The least busy worker; a new one while all are busy and fewer than
   * `size` run. The error when a worker is needed and cannot load (see
   * {@linkcode workerLoadProblem}); a running one is used while there is one.
   */
  #pick(): Slot | DockerError {
    let best: Slot | undefined;
    for (const slot of this.#slots) {
      if (!best || slot.streams.size < best.streams.size) best = slot;
    }
    if (!best || (best.streams.size > 0 && this.#slots.length < this.#size)) {
      // A test's own module is not checked: it may live outside berth's files.
      const problem = this.#workerModule
        ? undefined
        : workerLoadProblem(WORKER_MODULE, SOURCE_ROOT);
      if (problem === undefined) best = this.#spawn();
      else if (!best) return new DockerError(problem);
    }
    if (best.idleTimer !== undefined) {
      clearTimeout(best.idleTimer);
      best.idleTimer = undefined;
    }
    return best;
  }

  #spawn(): Slot {
    const options: WorkerOptions = { type: "module", name: "berth-stream-worker" };
    // A static URL: `deno compile --include src/worker/worker.ts` embeds it.
    const worker = this.#workerModule
      ? new Worker(this.#workerModule, options)
      : new Worker(new URL("./worker.ts", import.meta.url), options);
    const slot: Slot = { worker, streams: new Map(), idleTimer: undefined, stopped: false };
    worker.onmessage = (event: MessageEvent<WorkerMessage>) => this.#receive(slot, event.data);
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      const message = event.message.replace(COLOR_CODES, "");
      this.#crash(slot, new DockerError(`A stream worker failed: ${message}`));
    };
    worker.onmessageerror = () => {
      this.#crash(slot, new DockerError("A stream worker sent a message that could not be read"));
    };
    const init: MainMessage = { type: "init", settings: this.#settings };
    worker.postMessage(init);
    this.#slots.push(slot);
    return slot;
  }

  #receive(slot: Slot, message: WorkerMessage): void {
    if (message.type === "record") {
      const { error, ...rest } = message.record;
      try {
        this.#onRecord?.({
          ...rest,
          error: error === undefined ? undefined : deserializeError(error),
        });
      } catch {
        // An observer must not break the stream it observes.
      }
      return;
    }
    // Streams already counted out (ended, failed) drop late messages.
    slot.streams.get(message.id)?.receive(message);
  }

  /** A worker died: its streams fail, it leaves the pool. */
  #crash(slot: Slot, error: DockerError): void {
    const index = this.#slots.indexOf(slot);
    if (index !== -1) this.#slots.splice(index, 1);
    this.#stopSlot(slot, error);
  }

  #stopSlot(slot: Slot, error: unknown): void {
    // Set first: failing the streams below releases them, which would
    // otherwise arm an idle timer for this dead worker.
    slot.stopped = true;
    if (slot.idleTimer !== undefined) clearTimeout(slot.idleTimer);
    slot.idleTimer = undefined;
    slot.worker.terminate();
    for (const stream of [...slot.streams.values()]) stream.fail(error);
    slot.streams.clear();
  }

  /** Stops a worker that stays without streams for `idleTimeout` ms. */
  #armIdle(slot: Slot): void {
    if (slot.streams.size > 0 || this.#idleTimeout <= 0 || this.#closed || slot.stopped) return;
    if (slot.idleTimer !== undefined) clearTimeout(slot.idleTimer);
    const timer = setTimeout(() => {
      slot.idleTimer = undefined;
      if (slot.streams.size > 0) return;
      const index = this.#slots.indexOf(slot);
      if (index !== -1) this.#slots.splice(index, 1);
      slot.stopped = true;
      slot.worker.terminate();
    }, this.#idleTimeout);
    // The timer alone must not keep the process alive.
    Deno.unrefTimer(timer);
    slot.idleTimer = timer;
  }
}
