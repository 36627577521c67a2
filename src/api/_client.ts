/**
 * The layer between resources and HTTP: builds safe paths and queries,
 * prefixes the negotiated API version, maps error statuses to typed
 * errors, and turns streaming bodies into typed `ReadableStream`s.
 *
 * Resources (containers, images, ...) only talk to {@linkcode ApiClient}.
 *
 * @module
 */

import { protocolErrorIn } from "../_messages.ts";
import { DockerError, DockerProtocolError } from "../errors.ts";
import type { HttpClient, HttpRequest } from "../http/client.ts";
import type { Connection } from "../http/connection.ts";
import type { ResponseReader } from "../http/exchange_types.ts";
import type { HeaderFields, RequestBody } from "../http/request.ts";
import { type HttpResponse, parseJson } from "../http/response.ts";
import type { WorkerPool } from "../worker/pool.ts";
import type { DecoderSpec, StreamHead, WireRequest } from "../worker/protocol.ts";
import type { HijackedSession } from "./_session.ts";
import { apiError, discardBody, isErrorStatus, MAX_JSON_BODY, readText } from "./_responses.ts";

export type { DecoderSpec, StreamHead } from "../worker/protocol.ts";

/** Highest Engine API version berth speaks. */
export const MAX_API_VERSION = "1.41";
/** Lowest Engine API version berth supports. */
export const MIN_API_VERSION = "1.24";

/** A value in a query: `undefined`/`null` are left out, objects sent as JSON. */
export type QueryValue = string | number | boolean | null | undefined | string[] | object;

/** Query parameters by wire name. */
export type Query = Record<string, QueryValue>;

/** Every options type of a call extends this. */
export interface RequestOptions {
  /** Cancels the call (or its stream) at any time; it rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Options of every streaming call (logs, events, stats, progress, tar and
 * archive downloads, attach sessions).
 */
export interface StreamOptions extends RequestOptions {
  /**
   * Run this stream in a Web Worker: the worker owns the connection and does
   * the HTTP parsing, chunk decoding, demultiplexing and JSON decoding, and
   * hands the items over with transferred buffers. The stream looks the same
   * either way (same item type, errors, backpressure, cancellation).
   * `false` keeps it on this thread even when the client runs streams in
   * workers by default. Every stream kind can run in a worker:
   * `containers.getArchive` too (the worker reports the response head, with
   * the stat header, before the body), and `containers.attach` (a socket
   * cannot move between threads, so the worker opens the attach itself,
   * decodes the output there, and writes the stdin chunks you write, each
   * write resolving once the worker has written it), and
   * `containers.attachWebSocket` (the worker checks the handshake and runs
   * the WebSocket).
   *
   * Measured (`bench/worker_isolation_bench.ts`, 8 streams, 2 workers):
   * for log streams the main thread's CPU time halves while the process's
   * total roughly doubles. JSON values must be rebuilt on the main thread
   * (a structured clone, which costs more than `JSON.parse`), so a JSON
   * stream costs the main thread no less, but in small bursts: its event
   * loop stays responsive, at about half the throughput.
   * @default the client's `workers` setting (off unless `workers` is given)
   */
  worker?: boolean;
}

/** One Engine API call. */
export interface ApiCall {
  /** HTTP method. */
  method: "GET" | "HEAD" | "POST" | "PUT" | "DELETE";
  /** Encoded path without version prefix, built with {@linkcode route}. */
  path: string;
  /** Query parameters. */
  query?: Query;
  /** A JSON body (serialised here). */
  json?: unknown;
  /** A raw body; a stream is sent chunked. */
  body?: RequestBody;
  /** Extra headers. */
  headers?: HeaderFields;
  /** Cancels the call. */
  signal?: AbortSignal | undefined;
  /** What is being done, for error messages: `stop container "web"`. */
  action: string;
  /** Whether to prefix `/v1.xx`. @default true */
  versioned?: boolean;
  /** A follow stream: no body timeout, not counted against the pool limit. */
  longLived?: boolean;
  /** Ask for a protocol switch (attach, exec start). */
  upgrade?: boolean;
  /** The `Upgrade` value asked for with `upgrade`. @default "tcp" */
  upgradeProtocol?: string;
  /** Whether a retry on a fresh connection is safe. */
  idempotent?: boolean;
  /** Per-call head timeout in ms. */
  headersTimeout?: number;
  /**
   * Body reads reuse one buffer, each piece valid until the next read (see
   * `HttpRequest.reuseReadBuffer`). Only for decoders that keep no view of
   * a piece after `push` returns. Ignored in a worker (it transfers its
   * read buffers).
   */
  reuseReadBuffer?: boolean;
  /**
   * For {@linkcode ApiClient.stream} given a decoder spec, and
   * {@linkcode ApiClient.streamWithHead}: run the stream in a worker
   * (`true`), on this thread (`false`), or as the client's `workers`
   * setting says (unset).
   */
  worker?: boolean | undefined;
}

/** Turns body pieces into items; the contract shared by the stream decoders. */
export interface PieceDecoder<T> {
  /** Decodes one piece, appending complete items to `out`. */
  push(input: Uint8Array, out: T[]): void;
  /** Called at the end of the body; appends what remains or throws if truncated. */
  finish(out: T[]): void;
}

/**
 * Encodes one path segment. Everything that could change the route (`/`,
 * `?`, `#`, `%`, spaces) is percent-encoded; empty values and `.`/`..` are
 * rejected before any I/O.
 *
 * @param value An id or name.
 * @param what What it names, for the message (`container id`).
 * @returns The encoded segment.
 * @throws {TypeError} When empty, `.` or `..`, or not a string.
 */
export function segment(value: string, what: string): string {
  if (typeof value !== "string" || value.trim() === "") throw missingArgument(what, value);
  if (value === "." || value === "..") {
    throw new TypeError(`Invalid ${what} ${JSON.stringify(value)}`);
  }
  return encodeURIComponent(value);
}

/**
 * Encodes a container id or name as one path segment, as
 * {@linkcode segment} does, without the leading `/` the engine puts on
 * names (`Names` of a list, `Name` of an inspect): `/web` and `web` name the
 * same container, but an encoded leading slash makes the engine redirect
 * (301) instead of answering.
 *
 * @param value The id or name.
 * @returns The encoded segment.
 * @throws {TypeError} When empty (or `/` alone), `.` or `..`.
 */
export function containerSegment(value: string): string {
  const name = typeof value === "string" && value.startsWith("/") ? value.slice(1) : value;
  if (name === "" && value !== "") {
    throw new TypeError(`Invalid container id ${JSON.stringify(value)}`);
  }
  return segment(name, "container id");
}

/**
 * The error for a required id, name or reference that is empty or not a
 * string: `A container id is required (got "")`.
 *
 * @param what What it names, lower case (`"image name"` takes "An").
 * @param value What was given.
 * @returns The error to throw, before any I/O.
 */
export function missingArgument(what: string, value: unknown): TypeError {
  const article = /^[aeiou]/.test(what) ? "An" : "A";
  return new TypeError(`${article} ${what} is required (got ${JSON.stringify(value)})`);
}

/**
 * Encodes an image reference for the engine's `{name:.*}` routes: each
 * `/`-separated part is encoded and the slashes are kept.
 *
 * @param name Image reference such as `registry:5000/team/app:1.0`.
 * @param what What it names, for the message.
 * @returns The encoded path part.
 * @throws {TypeError} When empty or when a part is empty, `.` or `..`.
 */
export function imageSegment(name: string, what = "image name"): string {
  if (typeof name !== "string" || name.trim() === "") throw missingArgument(what, name);
  return name.split("/").map((part) => segment(part, `${what} part`)).join("/");
}

/**
 * Builds a query string: booleans as `1`/`0`, arrays as repeated keys,
 * objects as JSON (filters), `undefined`/`null` left out.
 *
 * @param query The parameters.
 * @returns `?a=1&b=2`, or `""` when empty.
 */
export function encodeQuery(query: Query | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const key in query) {
    const value = query[key];
    if (value === undefined || value === null) continue;
    if (typeof value === "boolean") params.append(key, value ? "1" : "0");
    else if (typeof value === "string" || typeof value === "number") {
      params.append(key, String(value));
    } else if (Array.isArray(value)) { for (const item of value) params.append(key, String(item)); }
    else params.append(key, JSON.stringify(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/**
 * Converts `Record<string, string[]>` filters (or already-JSON objects) to
 * the wire form, leaving out empty filters.
 *
 * @param filters Filters such as `{ label: ["a=b"] }`.
 * @returns The filters, or `undefined` when empty.
 */
export function filtersQuery(filters: Record<string, string[]> | undefined): object | undefined {
  if (!filters) return undefined;
  return Object.keys(filters).length ? filters : undefined;
}

/**
 * Passes body pieces through unchanged (tar downloads).
 *
 * @returns The decoder.
 */
export function bytesDecoder(): PieceDecoder<Uint8Array> {
  return { push: (input, out) => void out.push(input), finish: () => {} };
}

/** A stream that starts with its response head; see {@linkcode ApiClient.streamWithHead}. */
export interface StreamWithHead<T> {
  /** Status and the header fields asked for. */
  head: StreamHead;
  /** The decoded items. */
  body: ReadableStream<T>;
}

/** Options of {@linkcode ApiClient}. */
export interface ApiClientOptions {
  /** A fixed API version such as `"1.41"`; when unset it is negotiated once. */
  apiVersion?: string | undefined;
  /**
   * The worker pool that runs streams off the main thread (its workers start
   * lazily, on the first stream that uses one).
   */
  workers?: WorkerPool | undefined;
  /** Whether streams use {@linkcode ApiClientOptions.workers} unless a call says `worker: false`. @default false */
  workersByDefault?: boolean | undefined;
}

/**
 * Sends Engine API calls through an {@linkcode HttpClient}.
 */
export class ApiClient {
  readonly http: HttpClient;
  readonly #fixedVersion: string | undefined;
  readonly #workers: WorkerPool | undefined;
  readonly #workersByDefault: boolean;
  #version: Promise<string> | undefined;
  /** The version once known (fixed, or negotiated): calls then build their request at once. */
  #knownVersion: string | undefined;

  /**
   * @param http The HTTP client.
   * @param options Version settings and the worker pool.
   */
  constructor(http: HttpClient, options: ApiClientOptions = {}) {
    this.http = http;
    this.#fixedVersion = options.apiVersion;
    this.#knownVersion = options.apiVersion || undefined;
    this.#workers = options.workers;
    this.#workersByDefault = options.workersByDefault === true;
  }

  /**
   * The API version used for requests: the fixed one, or the lower of
   * berth's maximum and the engine's `ApiVersion` (asked once, through
   * `GET /version`; a failed attempt is retried by the next call). An
   * engine that no longer serves berth's maximum (Docker 29 serves 1.44
   * and up) is spoken to at its `MinAPIVersion`, the closest it accepts.
   *
   * Calls made while the negotiation runs share it; an abort only stops the
   * wait of the call it belongs to (the others, and the negotiation, go
   * on: it is bounded by the client's timeouts and ended by `close()`).
   *
   * @param signal Stops this caller's wait for the negotiation.
   * @returns A version such as `"1.41"`.
   */
  apiVersion(signal?: AbortSignal): Promise<string> {
    if (this.#fixedVersion) return Promise.resolve(this.#fixedVersion);
    if (!this.#version) {
      const attempt = this.#negotiate();
      this.#version = attempt;
      attempt.then((version) => {
        if (this.#version === attempt) this.#knownVersion = version;
      }, () => {
        if (this.#version === attempt) this.#version = undefined;
      });
    }
    return signal ? untilAborted(this.#version, signal) : this.#version;
  }

  async #negotiate(): Promise<string> {
    const version = await this.json<{ ApiVersion?: string; MinAPIVersion?: string }>({
      method: "GET",
      path: "/version",
      versioned: false,
      action: "negotiate the API version",
    });
    const engine = version.ApiVersion;
    if (!engine || !/^\d+\.\d+$/.test(engine)) return MAX_API_VERSION;
    if (compareVersions(engine, MIN_API_VERSION) < 0) {
      throw new DockerError(
        `Cannot use the engine: it speaks API ${engine}, berth needs at least ${MIN_API_VERSION}`,
      );
    }
    if (compareVersions(engine, MAX_API_VERSION) < 0) return engine;
    // A newer engine may have dropped 1.41 (Docker 29's minimum is 1.44):
    // then its own minimum, the version nearest to berth's, is the one to use.
    const minimum = version.MinAPIVersion;
    if (
      minimum && /^\d+\.\d+$/.test(minimum) && compareVersions(minimum, MAX_API_VERSION) > 0 &&
      compareVersions(minimum, engine) <= 0
    ) return minimum;
    return MAX_API_VERSION;
  }

  /**
   * Sends a call and checks its status.
   *
   * With `read`, the promise resolves to what `read` makes of the response
   * (see {@linkcode HttpClient.request}): how the calls that read every
   * answer alike (JSON, text, none) avoid an async step of their own.
   *
   * @param call What to send.
   * @param read Turns the response (status < 400) into the result.
   * @returns The response (status < 400; read or discard its body), or
   *   `read`'s result.
   * @throws {DockerApiError} (or a 404/409 subclass) for error statuses.
   */
  send(call: ApiCall): Promise<HttpResponse>;
  send<T>(call: ApiCall, read: ResponseReader<T>): Promise<T>;
  send(call: ApiCall, read?: ResponseReader<unknown>): Promise<unknown> {
    if (call.versioned !== false && this.#knownVersion === undefined) {
      return this.#request(call).then((request) => this.#sendRequest(request, read));
    }
    // Once the version is known (or not needed) the request is built at
    // once, and the HTTP client's own promise is returned (the status is
    // checked inside it): no async step of this method's on every call.
    let request;
    try {
      request = this.#buildRequest(call, this.#knownVersion);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#sendRequest(request, read);
  }

  #sendRequest(request: HttpRequest, read: ResponseReader<unknown> | undefined): Promise<unknown> {
    return read === undefined ? this.http.request(request) : this.http.request(request, read);
  }

  /** Builds the HTTP request of a call (the version prefix may need a negotiation first). */
  async #request(call: ApiCall): Promise<HttpRequest> {
    let version: string | undefined;
    if (call.versioned !== false) {
      const startTime = performance.timeOrigin + performance.now();
      try {
        version = await this.apiVersion(call.signal);
      } catch (error) {
        // Cut by its signal, or the negotiation failed: the call is still
        // one the observer should see, without a version in its target.
        let target = call.path;
        try {
          target += encodeQuery(call.query);
        } catch {
          // A bad query fails the call later anyway; the path says enough.
        }
        this.http.recordUnsent(call.method, target, call.headers, startTime, error);
        throw error;
      }
    }
    return this.#buildRequest(call, version);
  }

  /**
   * Builds the HTTP request of a call.
   *
   * @param version The API version for the path prefix (unused when the call is unversioned).
   */
  #buildRequest(call: ApiCall, version: string | undefined): HttpRequest {
    const query = encodeQuery(call.query);
    const target = call.versioned === false
      ? call.path + query
      : `/v${version}${call.path}${query}`;
    let body = call.body;
    let headers = call.headers;
    if (call.json !== undefined) {
      body = JSON.stringify(call.json);
      headers = { "Content-Type": "application/json", ...headers };
    }
    const request: HttpRequest = {
      method: call.method,
      target,
      rejectWith: (response) =>
        isErrorStatus(response.status) ? apiError(response, call, target) : undefined,
    };
    if (headers) request.headers = headers;
    if (body !== undefined) request.body = body;
    if (call.signal) request.signal = call.signal;
    if (call.upgrade) request.upgrade = call.upgradeProtocol ?? "tcp";
    if (call.longLived) request.longLived = true;
    if (call.idempotent !== undefined) request.idempotent = call.idempotent;
    if (call.headersTimeout !== undefined) request.headersTimeout = call.headersTimeout;
    if (call.reuseReadBuffer) request.reuseReadBuffer = true;
    return request;
  }

  /** The request of a call in the form a worker takes (no signal: it stays on this side). */
  async #wireRequest(call: ApiCall): Promise<WireRequest> {
    const request = await this.#request(call);
    let body = request.body;
    // A view would drag its whole backing buffer across: send just its bytes.
    if (body instanceof Uint8Array && body.byteLength !== body.buffer.byteLength) {
      body = body.slice();
    }
    return {
      method: request.method,
      target: request.target,
      action: call.action,
      headers: request.headers,
      body,
      longLived: request.longLived,
      idempotent: request.idempotent,
      headersTimeout: request.headersTimeout,
      upgrade: request.upgrade,
    };
  }

  /**
   * Whether a call that can run in a worker does: its `worker` flag, else
   * the client's default (never without a pool).
   *
   * @param call The call's `worker` flag.
   * @returns `true` to run it in a worker.
   */
  inWorker(call: { worker?: boolean | undefined }): boolean {
    return this.#workers !== undefined && (call.worker ?? this.#workersByDefault);
  }

  /**
   * Sends a call and parses its JSON body.
   *
   * @param call What to send.
   * @param noContent The result of a `204 No Content` answer, for a call
   *   whose answer may have no body; without it a 204 fails as a body that
   *   is not JSON.
   * @returns The parsed body.
   */
  json<T>(call: ApiCall, noContent?: () => T): Promise<T> {
    return this.send(call, (response) => {
      if (noContent !== undefined && response.status === 204) return noContent();
      // A body that is not JSON names the call that got it (Podman 4.3
      // answers `top` of a stopped container with 200 and an empty body).
      const context = { action: call.action, status: response.status };
      const text = response.textIfComplete();
      if (text !== undefined) return parseJson<T>(text, context);
      return readText(response, MAX_JSON_BODY, call).then((text) => parseJson<T>(text, context));
    });
  }

  /**
   * Sends a call whose body does not matter.
   *
   * @param call What to send.
   * @returns The status (204 and 304 tell "done" from "nothing to do").
   */
  empty(call: ApiCall): Promise<number> {
    return this.send(call, discardBody);
  }

  /**
   * Starts a streaming call now and returns its decoded items as a stream
   * at once. The request is sent immediately (so an events stream sees
   * what happens after this call), the socket is read only when the
   * consumer reads, and an error status rejects the first read. When a
   * decoder fails, the items decoded before the failure are delivered
   * first, then the error.
   *
   * With a `spec`, the stream runs in a worker of the client's pool when
   * `call.worker` is `true`, or unset and the client runs streams in
   * workers by default: the worker sends the request on its own
   * connection, rebuilds the decoder from the spec, and the returned
   * stream is the same (item type, errors, backpressure, cancellation and
   * `signal`). Without a spec or a pool it runs here.
   *
   * @param call What to send.
   * @param decoder Chooses the decoder once the response head is known.
   * @param spec The same decoder, described for a worker; a promise when
   *   it depends on something still being fetched (a container's TTY mode).
   * @param lookups Given with a spec promise: the request that works it
   *   out listens to this controller's signal, which is aborted when the
   *   stream is cancelled or fails before that request is done. A failed
   *   stream waits for the lookup, so no request outlives the stream.
   * @returns The items.
   */
  stream<T>(
    call: ApiCall,
    decoder: (response: HttpResponse) => PieceDecoder<T> | Promise<PieceDecoder<T>>,
    spec?: DecoderSpec | Promise<DecoderSpec>,
    lookups?: AbortController,
  ): ReadableStream<T> {
    // A spec promise is only awaited on the worker path; here it must not
    // surface as an unhandled rejection (its failure also fails the decoder).
    if (spec instanceof Promise) spec.catch(() => {});
    if (spec !== undefined && this.inWorker(call)) {
      // A cancel while the version is negotiated stops waiting for it.
      const building = lookups
        ? { ...call, signal: withSignal(call.signal, lookups.signal) }
        : call;
      const request = this.#wireRequest(building);
      return this.#workers!.stream<T>(request, spec, call.signal, lookups);
    }
    // A cancel before the response head ends the request (its socket
    // closes) rather than waiting for a head that may never come; the
    // lookups beside it end with it.
    const cancelled = lookups ?? new AbortController();
    const opened = this.#open(
      call,
      decoder,
      spec instanceof Promise ? spec : undefined,
      cancelled,
    );
    // Consumed by the first pull; this only keeps an unread failure from
    // being reported as unhandled.
    opened.catch(() => {});
    return this.#itemStream(opened, call, cancelled);
  }

  /**
   * Like {@linkcode ApiClient.stream}, for a caller that needs the response
   * head before the body (an archive download: its stat is a header): it
   * resolves once the head is in, and an error status (or any failure
   * before the head) rejects it rather than the first read. In a worker
   * (same rule as `stream`), the worker reports the head first.
   *
   * @param call What to send.
   * @param decoder Chooses the decoder once the response head is known.
   * @param spec The same decoder, described for a worker.
   * @param fields The header fields to return with the head (any case).
   * @returns The head (status and those fields, by lower-case name) and the items.
   */
  async streamWithHead<T>(
    call: ApiCall,
    decoder: (response: HttpResponse) => PieceDecoder<T> | Promise<PieceDecoder<T>>,
    spec: DecoderSpec,
    fields: string[],
  ): Promise<StreamWithHead<T>> {
    if (this.inWorker(call)) {
      const { head, readable } = this.#workers!.streamWithHead<T>(
        this.#wireRequest(call),
        spec,
        call.signal,
        fields,
      );
      return { head: await head, body: readable };
    }
    const opened = await this.#open(call, decoder);
    const headers: Record<string, string> = {};
    for (const field of fields) {
      const name = field.toLowerCase();
      const value = opened.response.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    const { status, statusText } = opened.response;
    return {
      head: { status, statusText, headers },
      body: this.#itemStream(Promise.resolve(opened), call, undefined),
    };
  }

  /**
   * Opens a hijacked session (attach) in a worker of the client's pool:
   * the worker sends the call, takes over the upgraded connection, decodes
   * the output with `spec` and writes what is written to the session's
   * stdin. Use {@linkcode ApiClient.inWorker} to decide.
   *
   * @param call What to send (`upgrade` is implied; its `signal` aborts the
   *   opening, and afterwards closes the session with the reason).
   * @param spec The output decoder (`frames`), or a promise of it.
   * @returns The session, once the engine switched protocols.
   * @throws {DockerError} When the client has no worker pool.
   */
  sessionInWorker(
    call: ApiCall,
    spec: DecoderSpec | Promise<DecoderSpec>,
  ): Promise<HijackedSession> {
    const workers = this.#workers;
    if (!workers) {
      return Promise.reject(new DockerError(`Cannot ${call.action}: the client has no workers`));
    }
    const request = this.#wireRequest({ ...call, upgrade: true });
    return workers.session(request, spec, call.signal);
  }

  /**
   * Opens a WebSocket attach in a stream worker, which checks the handshake
   * and runs the WebSocket.
   *
   * @param call What to send (`upgradeProtocol: "websocket"`, the key in
   *   its headers; its `signal` aborts the opening, and afterwards closes
   *   the session with the reason).
   * @param accept The `Sec-WebSocket-Accept` the handshake must answer.
   * @returns The payloads out, the messages in, and `close()`.
   */
  webSocketInWorker(
    call: ApiCall,
    accept: string,
  ): ReturnType<WorkerPool["webSocket"]> {
    const workers = this.#workers;
    if (!workers) {
      return Promise.reject(new DockerError(`Cannot ${call.action}: the client has no workers`));
    }
    return workers.webSocket(this.#wireRequest({ ...call, upgrade: true }), accept, call.signal);
  }

  /**
   * Sends a call and chooses its decoder (a failure there closes the
   * response). `cancel` aborts the request as the call's signal does. When
   * the call fails, `companion` (a request started beside it, listening to
   * `cancel`) is called off and waited for first.
   */
  async #open<T>(
    call: ApiCall,
    decoder: (response: HttpResponse) => PieceDecoder<T> | Promise<PieceDecoder<T>>,
    companion?: Promise<unknown>,
    cancel?: AbortController,
  ): Promise<{ response: HttpResponse; decode: PieceDecoder<T> }> {
    let response: HttpResponse;
    try {
      if (cancel) call = { ...call, signal: withSignal(call.signal, cancel.signal) };
      response = await this.send(call);
    } catch (error) {
      if (companion) {
        cancel?.abort(error);
        await companion.then(() => {}, () => {});
      }
      throw error;
    }
    try {
      return { response, decode: await decoder(response) };
    } catch (error) {
      response.cancel(error);
      throw error;
    }
  }

  /**
   * The items of an opened response, read as the consumer reads. An abort
   * of the call's signal errors the stream at once (the exchange closes
   * the socket): items decoded but not yet read are dropped, as `fetch`
   * drops an aborted body's. A decoder's protocol error names the call's
   * action. A cancel before the first read aborts `cancelRequest`, the
   * request's own signal, so a head that never comes is not waited for.
   */
  #itemStream<T>(
    opened: Promise<{ response: HttpResponse; decode: PieceDecoder<T> }>,
    call: ApiCall,
    cancelRequest: AbortController | undefined,
  ): ReadableStream<T> {
    const signal = call.signal;
    let state: { response: HttpResponse; decode: PieceDecoder<T> } | undefined;
    let failure: { error: unknown } | undefined;
    let onAbort: (() => void) | undefined;
    const action = `Cannot ${call.action}`;
    const stopListening = () => {
      if (onAbort) signal!.removeEventListener("abort", onAbort);
      onAbort = undefined;
    };
    return new ReadableStream<T>({
      start: (controller) => {
        if (!signal || signal.aborted) return;
        onAbort = () => {
          onAbort = undefined;
          controller.error(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
      },
      pull: async (controller) => {
        if (failure) throw failure.error;
        try {
          state ??= await opened;
        } catch (error) {
          stopListening();
          throw error;
        }
        const out: T[] = [];
        try {
          while (out.length === 0) {
            const batch = await state.response.readBatch();
            try {
              if (batch === null) {
                stopListening();
                state.decode.finish(out);
                for (const item of out) controller.enqueue(item);
                controller.close();
                return;
              }
              for (const piece of batch) state.decode.push(piece, out);
            } catch (error) {
              // The body's bytes are not what the call expects: say which call.
              throw protocolErrorIn(error, action);
            }
          }
        } catch (error) {
          stopListening();
          // A decoder error leaves unread bytes: the connection cannot be reused.
          state.response.cancel(error);
          if (out.length === 0) throw error;
          // Deliver what was decoded before the failure; the next read fails.
          failure = { error };
        }
        for (const item of out) controller.enqueue(item);
      },
      cancel: async (reason) => {
        stopListening();
        if (state) {
          state.response.cancel(reason);
          return;
        }
        // The head may not have arrived: end the request now.
        cancelRequest?.abort(
          reason ?? new DockerError(`${action}: the stream was cancelled before its response`),
        );
        try {
          (await opened).response.cancel(reason);
        } catch {
          // The call failed before it started streaming: nothing to close.
        }
      },
    }, { highWaterMark: 0 });
  }

  /**
   * Sends a call that asks to switch protocols (attach, exec start) and
   * takes over the raw connection.
   *
   * @param call What to send (`upgrade` is implied).
   * @returns The raw connection; its first reads return the bytes that
   *   arrived with the response head.
   * @throws {DockerProtocolError} `UNEXPECTED_UPGRADE` when the engine
   *   answered with a body instead of switching.
   */
  async upgrade(call: ApiCall): Promise<Connection> {
    const response = await this.send({ ...call, upgrade: true });
    if (!response.upgraded) {
      response.cancel();
      throw new DockerProtocolError(
        "UNEXPECTED_UPGRADE",
        `Cannot ${call.action}: engine answered ${response.status} without switching protocols`,
      );
    }
    return response.takeConnection().connection;
  }

  /** The engine address, for messages. */
  get host(): string {
    return this.http.host;
  }
}

/**
 * Compares two `major.minor` versions.
 *
 * @param a A version.
 * @param b A version.
 * @returns Negative, zero or positive, like a sort comparator.
 */
export function compareVersions(a: string, b: string): number {
  const [aMajor = 0, aMinor = 0] = a.split(".").map(Number);
  const [bMajor = 0, bMinor = 0] = b.split(".").map(Number);
  return aMajor - bMajor || aMinor - bMinor;
}

/** The caller's signal joined with one of berth's own: aborted when either is. */
export function withSignal(signal: AbortSignal | undefined, own: AbortSignal): AbortSignal {
  return signal ? AbortSignal.any([signal, own]) : own;
}

/**
 * A shared promise as one caller waits for it: its outcome, or the
 * signal's reason as soon as the signal fires (the promise goes on).
 */
function untilAborted<T>(shared: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    shared.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
