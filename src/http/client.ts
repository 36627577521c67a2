/**
 * A small HTTP/1.1 client over an injected connector. It knows nothing of
 * Docker: it sends requests, parses responses, pools connections, applies
 * timeouts and aborts, and reports each exchange. The same module runs
 * unchanged in a Web Worker.
 *
 * @module
 */

import { DockerConnectionError } from "../errors.ts";
import { Deadlines } from "./deadlines.ts";
import { ConnectionPool } from "./pool.ts";
import { Exchange, headersAsSent } from "./exchange.ts";
import type { ExchangeRecord, ExchangeSettings, ResponseReader } from "./exchange_types.ts";
import {
  type EncodedRequest,
  encodeRequest,
  type HeaderFields,
  NO_HEADERS,
  type RequestBody,
  validateRequest,
} from "./request.ts";
import type { HttpResponse } from "./response.ts";
import type { Connector } from "./transport.ts";

/** Options of {@linkcode HttpClient}. */
export interface HttpClientOptions {
  /** Opens a new socket to the server. */
  connect: Connector;
  /** The address, for messages (`unix:///…`, `tcp://…`). */
  host: string;
  /** Value of the `Host` header. */
  hostHeader: string;
  /** Most concurrent counted requests. @default 16 */
  maxConnections?: number;
  /** Milliseconds an idle connection is kept for reuse; 0 disables keep-alive. @default 10000 */
  keepAliveTimeout?: number;
  /**
   * Milliseconds to wait for a response head once the request is sent (an
   * upload does not count); 0 = forever. @default 300000
   */
  headersTimeout?: number;
  /** Milliseconds a body read may wait for bytes; 0 = forever. @default 300000 */
  bodyTimeout?: number;
  /** Largest response head in bytes. @default 65536 */
  maxHeaderSize?: number;
  /** Most response header fields. @default 256 */
  maxHeaderCount?: number;
  /** Called once per exchange when it ends. */
  onRecord?: (record: ExchangeRecord) => void;
}

/** One request. */
export interface HttpRequest {
  /** Method, such as `GET`. */
  method: string;
  /** Request target: encoded path and query, starting with `/`. */
  target: string;
  /** Extra header fields (`Host` and framing headers are added). */
  headers?: HeaderFields;
  /** The body; a stream is sent chunked. */
  body?: RequestBody;
  /** Aborts the request or its body at any time, rejecting with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Asks to switch protocols (`Connection: Upgrade`, `Upgrade: <value>`). */
  upgrade?: string;
  /**
   * A long-lived stream (follow logs, events, attach): not counted against
   * `maxConnections` and not subject to the body timeout.
   */
  longLived?: boolean;
  /** Whether a retry on a fresh connection is safe. @default true for GET, HEAD, PUT, DELETE, OPTIONS */
  idempotent?: boolean;
  /** Overrides the client's `headersTimeout` for this call. */
  headersTimeout?: number;
  /** Overrides the client's `bodyTimeout` for this call. */
  bodyTimeout?: number;
  /**
   * Read the body into one buffer of this exchange, reused by every read,
   * instead of fresh memory per read: each body piece is valid only until
   * the next body read. For consumers done with each piece before asking
   * for the next; it keeps memory flat on long bodies (read buffers are
   * otherwise garbage until a GC runs). @default false
   */
  reuseReadBuffer?: boolean;
  /**
   * Checks the response before it is returned: gives the error the request
   * should fail with (a promise, so it may read the body first; what it
   * leaves unread is cancelled), or `undefined` to accept the response. It
   * runs inside the exchange, which spares a caller that checks every
   * response (an error status, say) an async step of its own on every call.
   */
  rejectWith?: (response: HttpResponse) => Promise<unknown> | undefined;
}

/**
 * Size of the buffers small requests are encoded into and that are reused
 * once written: measured against the engine, a fresh buffer per request
 * cost ~2 µs of CPU per call (its memory is handed to the socket op), more
 * than encoding the request.
 */
const SCRATCH_SIZE = 1024;
/** Most such buffers a client keeps (one per request in flight, queued ones included). */
const MAX_SCRATCH = 64;
/** Most encoded bodiless GETs a client keeps (see `HttpClient.#plainGet`). */
const MAX_PLAIN_GETS = 256;

/**
 * Sends HTTP/1.1 requests over pooled connections.
 *
 * @example Ping a Docker engine
 * ```ts ignore
 * import { HttpClient } from "./client.ts";
 * import { createConnector, parseHost } from "./transport.ts";
 *
 * const address = parseHost("unix:///var/run/docker.sock");
 * const client = new HttpClient({
 *   connect: createConnector(address, 5000), host: "unix:///var/run/docker.sock", hostHeader: "docker",
 * });
 * const response = await client.request({ method: "GET", target: "/_ping" });
 * console.log(await response.text());
 * client.close();
 * ```
 */
export class HttpClient {
  readonly #pool: ConnectionPool;
  readonly #settings: ExchangeSettings;
  /** `Host: <hostHeader>` CRLF, validated once. */
  readonly #hostLine: string;
  /** Free request buffers (see `SCRATCH_SIZE`). */
  readonly #scratch: Uint8Array[] = [];
  /** Encoded bodiless GETs by target (see `#plainGet`). */
  readonly #plainGets = new Map<string, EncodedRequest>();

  /** @param options Connector, limits, timeouts. */
  constructor(options: HttpClientOptions) {
    validateRequest("GET", "/", { Host: options.hostHeader });
    this.#hostLine = `Host: ${options.hostHeader}\r\n`;
    this.#pool = new ConnectionPool(options.connect, {
      maxConnections: options.maxConnections ?? 16,
      keepAliveTimeout: options.keepAliveTimeout ?? 10_000,
    });
    this.#settings = {
      host: options.host,
      headersTimeout: options.headersTimeout ?? 300_000,
      bodyTimeout: options.bodyTimeout ?? 300_000,
      maxHeaderSize: options.maxHeaderSize ?? 65_536,
      maxHeaderCount: options.maxHeaderCount ?? 256,
      onRecord: options.onRecord,
      deadlines: new Deadlines(),
      hostHeader: options.hostHeader,
      recycleScratch: (scratch) => this.#recycle(scratch),
    };
  }

  /** The server address, for messages. */
  get host(): string {
    return this.#settings.host;
  }

  /** The pool, for its counters. */
  get pool(): ConnectionPool {
    return this.#pool;
  }

  /**
   * Sends a request and resolves once the response head has arrived; the
   * body is read from the returned {@linkcode HttpResponse}.
   *
   * A pooled connection the server closed while idle is detected (closed
   * or reset before any response byte) and the request is retried once on
   * a new connection when it is idempotent and its body can be resent, or
   * when not a byte of it was sent (its first write failed, as writing to
   * a Unix socket the engine closed does; any method, since the engine
   * never saw it; not assumed over TLS).
   *
   * With `read`, the promise resolves to what `read` makes of the
   * response instead, and `read` runs inside the exchange: a caller that
   * reads every response the same way (a small JSON body, say) is spared
   * an async step of its own on every call.
   *
   * @param request What to send.
   * @param read Turns the response (accepted by `rejectWith`) into the
   *   result; when it throws (or its promise rejects) before reading the
   *   body, the body is cancelled.
   * @returns The response, or `read`'s result.
   * @throws {TypeError} On an invalid method, target or header (as a rejection).
   * @throws The signal's reason when aborted; `DockerConnectionError`,
   *   `DockerTimeoutError` or `DockerProtocolError` otherwise.
   */
  request(request: HttpRequest): Promise<HttpResponse>;
  request<T>(request: HttpRequest, read: ResponseReader<T>): Promise<T>;
  request(request: HttpRequest, read?: ResponseReader<unknown>): Promise<unknown> {
    let exchange: Exchange;
    try {
      exchange = this.#exchange(request);
    } catch (error) {
      return Promise.reject(error);
    }
    // An idle pooled connection is taken at once, and the exchange's own
    // promise is returned: no async step of this method's on every call.
    const idle = this.#pool.takeIdle(exchange.counted);
    return idle !== undefined ? exchange.run(idle, read) : this.#acquireAndRun(exchange, read);
  }

  /** Encodes a request and starts its exchange (nothing sent yet). */
  #exchange(request: HttpRequest): Exchange {
    let headers: HeaderFields = request.headers ?? NO_HEADERS;
    let encoded: EncodedRequest;
    let scratch: Uint8Array | undefined;
    if (
      request.method === "GET" && headers === NO_HEADERS && request.body === undefined &&
      request.upgrade === undefined
    ) {
      encoded = this.#plainGet(request.target);
    } else {
      if (request.upgrade !== undefined) {
        headers = { ...headers, Connection: "Upgrade", Upgrade: request.upgrade };
      }
      scratch = this.#scratch.pop() ?? new Uint8Array(SCRATCH_SIZE);
      try {
        encoded = encodeRequest(
          request.method,
          request.target,
          headers,
          request.body,
          this.#hostLine,
          scratch,
        );
      } catch (error) {
        this.#recycle(scratch);
        throw error;
      }
      // encodeRequest writes a request sent in one piece into `scratch`
      // when it fits (told by sizes: reading a view's buffer is a slow
      // property read here, on every call). The exchange gives it back once
      // written; a failed request drops it instead, as a write op cut short
      // might still hold it.
      if (encoded.rest !== undefined || encoded.head.length > scratch.length) {
        this.#recycle(scratch);
        scratch = undefined;
      }
    }
    const signal = request.signal;
    const longLived = request.longLived === true || request.upgrade !== undefined;
    const exchange = new Exchange(
      {
        method: request.method,
        target: request.target,
        headers,
        encoded,
        signal,
        expectUpgrade: request.upgrade !== undefined,
        reuseReadBuffer: request.reuseReadBuffer === true,
        idempotent: request.idempotent,
        scratch,
        rejectWith: request.rejectWith,
      },
      this.#settings,
      this.#pool,
      !longLived,
      request.headersTimeout ?? this.#settings.headersTimeout,
      request.bodyTimeout ?? (longLived ? 0 : this.#settings.bodyTimeout),
    );
    if (signal?.aborted) {
      // Nothing is sent; the call is still recorded, as one aborted while queued is.
      exchange.abandon(signal.reason);
      throw signal.reason;
    }
    return exchange;
  }

  /** Waits for a slot or connects, then runs the exchange. */
  async #acquireAndRun(exchange: Exchange, read?: ResponseReader<unknown>): Promise<unknown> {
    let connection;
    try {
      connection = (await this.#pool.acquire(exchange.counted, exchange.request.signal)).connection;
    } catch (error) {
      exchange.abandon(error);
      throw error;
    }
    return await exchange.run(connection, read);
  }

  /**
   * The bytes of `GET <target>` with no fields of its own: encoded once per
   * target and sent as they are by every later such request (the same
   * target always gives the same bytes). Polling calls (inspect, list,
   * ping) are such requests. Measured against the engine, in two A/Bs of
   * 24 rounds in a balanced order: a `_ping`'s p50 2.5 µs lower both
   * times, its CPU within noise (−1.3 and +0.6 µs).
   */
  #plainGet(target: string): EncodedRequest {
    let encoded = this.#plainGets.get(target);
    if (encoded === undefined) {
      encoded = Object.freeze(encodeRequest("GET", target, NO_HEADERS, undefined, this.#hostLine));
      // A bound on memory, not a cache policy: ids in paths make targets
      // many, and refilling costs one encode each.
      if (this.#plainGets.size >= MAX_PLAIN_GETS) this.#plainGets.clear();
      this.#plainGets.set(target, encoded);
    }
    return encoded;
  }

  #recycle(scratch: Uint8Array): void {
    if (this.#scratch.length < MAX_SCRATCH) this.#scratch.push(scratch);
  }

  /**
   * Records a call that failed before it had a request to send (while it
   * waited for the API version, say): no status, no bytes. With this, the
   * record callback sees every call that got as far as its signal and its
   * version, sent or not.
   *
   * @param method The call's method.
   * @param target What it would have asked for (without a version prefix, if it had none yet).
   * @param headers Its header fields.
   * @param startTime When the call began (`performance.timeOrigin + performance.now()`).
   * @param error Why it ended.
   */
  recordUnsent(
    method: string,
    target: string,
    headers: HeaderFields | undefined,
    startTime: number,
    error: unknown,
  ): void {
    const onRecord = this.#settings.onRecord;
    if (!onRecord) return;
    try {
      onRecord({
        method,
        target,
        requestHeaders: headersAsSent(headers ?? NO_HEADERS, this.#settings.hostHeader),
        status: undefined,
        startTime,
        endTime: performance.timeOrigin + performance.now(),
        bytesSent: 0,
        bytesReceived: 0,
        reusedConnection: false,
        error,
      });
    } catch {
      // An observer must not break the call it observes.
    }
  }

  /** Closes every connection; pending and later requests fail. */
  close(): void {
    const host = this.#settings.host;
    this.#pool.close(
      new DockerConnectionError(
        `Connection to the Docker engine at ${host} was closed: the client was closed`,
        host,
      ),
    );
    this.#settings.deadlines.close();
  }
}
