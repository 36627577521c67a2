/**
 * One request/response exchange on one leased connection: writes the
 * request, reads the head (skipping 1xx), reads the body by its framing,
 * enforces timeouts and abort, and gives the connection back exactly once —
 * pooled only when the body was read to its end.
 *
 * @module
 */

import {
  DockerConnectionError,
  DockerError,
  DockerProtocolError,
  DockerTimeoutError,
  type DockerTimeoutPhase,
} from "../errors.ts";
import { protocolErrorIn } from "../_messages.ts";
import { ChunkedDecoder } from "./chunked.ts";
import { HttpResponse } from "./response.ts";
import { type Connection, readBuffersAreExclusive } from "./connection.ts";
import type { Deadline, DeadlineOwner } from "./deadlines.ts";
import type {
  ExchangeRecord,
  ExchangeRequest,
  ExchangeSettings,
  ResponseReader,
} from "./exchange_types.ts";
import type { ConnectionPool } from "./pool.ts";
import { BodySourceError, type HeaderFields, writeRequest } from "./request.ts";
import {
  type BodyFraming,
  bodyFraming,
  findHeadEnd,
  FRAMING_FIELDS,
  parseHead,
  type ResponseHead,
} from "./response_head.ts";

/** Methods a request may be replayed with on a new connection by default. */
const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);

/** The framing until the head is read (shared: nothing writes to it). */
const NO_BODY: BodyFraming = Object.freeze({ kind: "none" });

/** Size of the buffer body reads reuse when asked to. */
const REUSED_READ_SIZE = 64 * 1024;

/** Marks "the pooled connection was closed before any response byte". */
export class StaleConnectionError extends DockerError {
  override name = "StaleConnectionError";
}

/** Internal state of one exchange; see {@linkcode HttpResponse} for the public face. */
export class Exchange implements DeadlineOwner {
  readonly request: ExchangeRequest;
  readonly #settings: ExchangeSettings;
  readonly #pool: ConnectionPool;
  /** Whether the lease counts against the pool limit. */
  readonly counted: boolean;
  #connection: Connection | undefined;
  #reused = false;
  #startRead = 0;
  #startWritten = 0;
  /** A large request's write is in flight (it runs beside the head's read). */
  #writing = false;
  readonly #startTime: number;
  #head: ResponseHead | undefined;
  #framing: BodyFraming = NO_BODY;
  #remaining = 0;
  #decoder: ChunkedDecoder | undefined;
  #reusable = true;
  #bodyTimeout: number;
  #headersTimeout: number;
  #finished = false;
  #failure: unknown;
  #timedOut: DockerTimeoutError | undefined;
  /** A body that arrived whole with the head (read without another socket read). */
  #completeBody: Uint8Array | undefined;
  /** The buffer body reads reuse, when the request asks for one. */
  #readBuffer: Uint8Array | undefined;
  /** Only created when the request has a signal. */
  #onAbort: (() => void) | undefined;
  /** The armed wait for the response head (any other deadline is a body read's). */
  #headDeadline: Deadline | undefined;

  /**
   * @param request What to send.
   * @param settings Limits, timeouts and the record callback.
   * @param pool Where the connection came from and goes back to.
   * @param counted Whether the lease counts against the pool limit.
   * @param headersTimeout This call's head timeout in ms (0 = none).
   * @param bodyTimeout This call's body read timeout in ms (0 = none).
   */
  constructor(
    request: ExchangeRequest,
    settings: ExchangeSettings,
    pool: ConnectionPool,
    counted: boolean,
    headersTimeout: number,
    bodyTimeout: number,
  ) {
    this.request = request;
    this.#settings = settings;
    this.#pool = pool;
    this.counted = counted;
    this.#headersTimeout = headersTimeout;
    this.#bodyTimeout = bodyTimeout;
    // The clock is read only for the observer's record.
    this.#startTime = settings.onRecord ? performance.timeOrigin + performance.now() : 0;
    if (request.signal) {
      this.#onAbort = () => this.#abort();
      request.signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  /** The response head, once read. */
  get head(): ResponseHead {
    return this.#head!;
  }

  /** Whether the exchange has ended (body done, failed or handed over). */
  get finished(): boolean {
    return this.#finished;
  }

  /**
   * Sends the request on a leased connection, reads the response head, and
   * returns the response. A reused connection that the engine had closed
   * (closed or reset before any response byte) is replaced by a new one
   * once, when the request may be replayed: idempotent with a body at
   * hand, or not a byte of it sent (see {@linkcode Exchange.#replayable}).
   *
   * Each async step here is paid on every call, so the common path (a
   * small request, a head that comes in one read) is written out in this
   * method and awaits the socket's own promises, and the response (or
   * what `read` makes of it) comes out of this method's own promise: the
   * caller's await is the next step.
   *
   * @param connection The leased connection.
   * @param read Turns the accepted response into the result; when it
   *   throws before the body was read, the body is cancelled.
   * @returns The response (or `read`'s result); the request's
   *   `rejectWith` has accepted it.
   * @throws The signal's reason when aborted; `DockerConnectionError`,
   *   `DockerTimeoutError` or `DockerProtocolError` otherwise; the error
   *   `rejectWith` gave; what `read` threw.
   */
  async run(connection: Connection, read?: ResponseReader<unknown>): Promise<unknown> {
    let reused = connection.uses > 0;
    try {
      while (true) {
        this.#begin(connection, reused);
        const encoded = this.request.encoded;
        try {
          if (encoded.rest === undefined) {
            // Small requests are written in one go, then the head is read;
            // it usually comes whole in the first read.
            const bytes = encoded.head;
            const rest = connection.finishWrite(bytes, await connection.writeOnce(bytes));
            if (rest) await rest;
            this.#armHeadDeadline();
            let first: Uint8Array | null;
            if (connection.hasPending) first = connection.takePending();
            else {
              const view = connection.readView();
              const n = await connection.conn.read(view);
              first = n === null ? null : connection.commitRead(view, n);
            }
            this.#head = (first !== null ? this.#wholeHead(first) : undefined) ??
              await this.#readHead(first);
          } else {
            this.#head = await this.#sendLarge(connection);
          }
          // An abort that came while the head's read was completing (the
          // read had returned, this step had not run yet) still wins.
          if (this.request.signal?.aborted) throw this.request.signal.reason;
          break;
        } catch (error) {
          const mapped = this.#mapError(error);
          if (!(mapped instanceof StaleConnectionError && reused && this.#replayable(connection))) {
            throw this.#unwrapStale(mapped);
          }
          connection = await this.#replace(connection);
          reused = false;
        } finally {
          this.#settings.deadlines.clear(this.#headDeadline);
          this.#headDeadline = undefined;
        }
      }
      this.#readFraming(connection, this.#head);
    } catch (error) {
      throw this.fail(error);
    }
    const scratch = this.request.scratch;
    if (scratch !== undefined) this.#settings.recycleScratch(scratch);
    const response = new HttpResponse(this);
    const rejection = this.request.rejectWith?.(response);
    if (rejection !== undefined) {
      let error: unknown;
      try {
        error = await rejection;
      } catch (thrown) {
        error = thrown;
      }
      // A body rejectWith left unread is cancelled, as a failing read's
      // is: else the exchange stays open and its slot leaks.
      this.cancel(error);
      throw error;
    }
    if (read === undefined) return response;
    try {
      // A plain value is returned as it is (awaiting it would be one more
      // async step on every call). A promise is awaited, so that a `read`
      // that rejects before reading the body (an async one that throws)
      // cancels it as a throwing one does: else the exchange stays open and
      // its slot leaks. Awaiting it here is one microtask fewer than
      // returning it, which the caller's await would have to adopt.
      const result = read(response);
      return result instanceof Promise ? await result : result;
    } catch (error) {
      this.cancel(error);
      throw error;
    }
  }

  /** Starts an attempt on `connection`. */
  #begin(connection: Connection, reused: boolean): void {
    this.#connection = connection;
    this.#reused = reused;
    this.#startRead = connection.bytesRead;
    this.#startWritten = connection.bytesWritten;
    this.#timedOut = undefined;
    connection.resetReadSize();
    if (this.request.signal?.aborted) this.#abort();
  }

  /**
   * Whether the request can be sent again after its connection went stale:
   * when not a byte of it reached the socket (the first write failed, as a
   * write to a Unix socket the engine closed does with EPIPE; never assumed
   * of TLS, see {@linkcode Connection.failedWritesMaySend}), the engine
   * cannot have applied it, so any method may go again (RFC 9112 §9.3.1),
   * its body stream still unread (it is read after the head is written).
   * Otherwise only an idempotent request with its body at hand.
   */
  #replayable(connection: Connection): boolean {
    if (
      !this.#writing && !connection.failedWritesMaySend &&
      connection.bytesWritten === this.#startWritten
    ) return true;
    const { encoded, method, idempotent } = this.request;
    return !(encoded.rest instanceof ReadableStream) && (idempotent ?? IDEMPOTENT.has(method));
  }

  /**
   * Drops a stale connection (its slot stays leased) and opens a new one;
   * an abort during the connect rejects at once, with the signal's reason.
   */
  #replace(stale: Connection): Promise<Connection> {
    this.#pool.release(stale, false, false);
    return this.#pool.open(this.request.signal);
  }

  /** A stale connection that cannot be retried is reported as a connection error. */
  #unwrapStale(error: unknown): unknown {
    if (!(error instanceof StaleConnectionError)) return error;
    const host = this.#settings.host;
    const { method, target } = this.request;
    return new DockerConnectionError(
      `The Docker engine at ${host} closed the connection before answering ${method} ${target}`,
      host,
      { cause: error.cause ?? error },
    );
  }

  /**
   * Sets up the body read from the head; an empty body, or one that came
   * whole with the head, ends the exchange at once.
   */
  #readFraming(connection: Connection, head: ResponseHead): void {
    try {
      this.#framing = bodyFraming(head, this.request.method);
    } catch (error) {
      throw this.#mapError(error);
    }
    if (head.status === 101) {
      if (!this.request.expectUpgrade) {
        throw this.#mapError(
          new DockerProtocolError("UNEXPECTED_UPGRADE", "Engine switched protocols unasked"),
        );
      }
      return;
    }
    const headers = head.headers;
    const connectionField = headers.framingFields & FRAMING_FIELDS.connection
      ? headers.get("connection")!.toLowerCase()
      : "";
    // An HTTP/1.0 server closes after each response unless it says it
    // keeps the connection (RFC 9112 §9.3).
    if (
      connectionField.includes("close") ||
      (head.minorVersion === 0 && !connectionField.includes("keep-alive"))
    ) {
      this.#reusable = false;
    }
    if (this.#framing.kind === "length") {
      const length = this.#framing.length;
      this.#remaining = length;
      // An empty body, or one that came whole with the head (most small
      // answers), is already read: give the connection back now, so a
      // caller that only looks at the status does not hold it, and the
      // body is served without another read.
      if (length === 0) this.finish(undefined);
      else if (connection.pendingLength >= length) {
        const piece = connection.takePending();
        if (piece.length > length) this.#reusable = false;
        this.#completeBody = piece.length === length ? piece : piece.subarray(0, length);
        this.#remaining = 0;
        this.finish(undefined);
      }
    } else if (this.#framing.kind === "chunked") this.#decoder = new ChunkedDecoder();
    else if (this.#framing.kind === "close") this.#reusable = false;
    else this.finish(undefined);
  }

  /** Whether the response hands over the raw connection (101, or a legacy hijack). */
  get upgraded(): boolean {
    const head = this.#head;
    if (!head || !this.request.expectUpgrade) return false;
    return head.status === 101 || (head.status === 200 && this.#framing.kind === "close");
  }

  /**
   * Ends the exchange and hands the raw connection over (after an upgrade).
   * The call is recorded when that connection closes, so its sizes count
   * what the session sent and received.
   *
   * @returns The connection; pushed-back bytes are the first stream bytes.
   */
  takeConnection(): Connection {
    const connection = this.#connection!;
    this.#finished = true;
    this.#removeAbortListener();
    this.#pool.detach(connection, this.counted);
    if (this.#settings.onRecord) connection.onClose(() => this.#report(undefined));
    return connection;
  }

  /**
   * Takes a body that arrived whole with the head, if it did and was not
   * read yet: the synchronous path of reading a small answer.
   *
   * @returns The body, or `undefined` (then read with {@linkcode Exchange.readBatch}).
   */
  takeCompleteBody(): Uint8Array | undefined {
    const body = this.#completeBody;
    this.#completeBody = undefined;
    return body;
  }

  /**
   * Reads the next decoded body pieces (views into read buffers, no copies).
   *
   * @returns One or more pieces, or `null` at the end of the body.
   */
  async readBatch(): Promise<Uint8Array[] | null> {
    if (this.#finished) {
      if (this.#failure !== undefined) throw this.#failure;
      const body = this.#completeBody;
      if (body === undefined) return null;
      this.#completeBody = undefined;
      return [body];
    }
    try {
      switch (this.#framing.kind) {
        case "length":
          return await this.#readLength();
        case "chunked":
          return await this.#readChunked();
        case "close": {
          const piece = await this.#readSocket();
          if (piece === null) {
            this.finish(undefined);
            return null;
          }
          return [piece];
        }
        default:
          this.finish(undefined);
          return null;
      }
    } catch (error) {
      throw this.fail(this.#mapError(error));
    }
  }

  async #readLength(): Promise<Uint8Array[] | null> {
    if (this.#remaining === 0) {
      this.finish(undefined);
      return null;
    }
    let piece = await this.#readSocket();
    if (piece === null) {
      throw new DockerProtocolError(
        "PREMATURE_CLOSE",
        `Engine closed the connection with ${this.#remaining} body bytes still due`,
      );
    }
    if (piece.length >= this.#remaining) {
      if (piece.length > this.#remaining) this.#reusable = false;
      piece = piece.subarray(0, this.#remaining);
      this.#remaining = 0;
      this.finish(undefined);
    } else {
      this.#remaining -= piece.length;
    }
    return [piece];
  }

  async #readChunked(): Promise<Uint8Array[] | null> {
    const decoder = this.#decoder!;
    const out: Uint8Array[] = [];
    while (out.length === 0) {
      if (decoder.done) {
        this.finish(undefined);
        return null;
      }
      const piece = await this.#readSocket();
      if (piece === null) {
        throw new DockerProtocolError(
          "PREMATURE_CLOSE",
          "Engine closed the connection inside a chunked body",
        );
      }
      const consumed = decoder.decode(piece, out);
      if (decoder.done) {
        if (consumed < piece.length) this.#reusable = false;
        this.finish(undefined);
      }
    }
    return out;
  }

  /**
   * Cancels the body: the connection is closed, never reused.
   *
   * @param reason Why, for the record.
   */
  cancel(reason: unknown): void {
    if (this.#finished) {
      // A body that came whole with the head is dropped, not served later.
      if (this.#completeBody !== undefined) {
        this.#completeBody = undefined;
        this.#failure = reason ?? new DockerError("Response body cancelled");
      }
      return;
    }
    this.#reusable = false;
    this.#connection?.close();
    const error = reason ?? new DockerError("Response body cancelled");
    // A later read must not look like a clean end of the body.
    this.#failure = error;
    this.#completeBody = undefined;
    this.finish(error);
  }

  /**
   * Ends the exchange with an error (closing the connection) and returns
   * the error to throw.
   *
   * @param error The failure.
   * @returns The same error.
   */
  fail(error: unknown): unknown {
    if (!this.#finished) {
      this.#reusable = false;
      this.#connection?.close();
      this.#failure = error;
      this.finish(error);
    }
    return error;
  }

  /**
   * Ends the exchange: the connection goes back to the pool (or is closed)
   * and the record is reported. Runs once.
   *
   * @param error Why it ended early, if it did.
   */
  finish(error: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#removeAbortListener();
    const connection = this.#connection;
    if (connection) {
      const reusable = error === undefined && this.#reusable && !connection.hasPending;
      this.#pool.release(connection, reusable, this.counted);
    }
    this.#report(error);
  }

  /**
   * Ends an exchange that never got a connection (connect failed, aborted
   * while queued).
   *
   * @param error Why.
   */
  abandon(error: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#removeAbortListener();
    this.#report(error);
  }

  #report(error: unknown): void {
    const onRecord = this.#settings.onRecord;
    if (!onRecord) return;
    const connection = this.#connection;
    const record: ExchangeRecord = {
      method: this.request.method,
      target: this.request.target,
      requestHeaders: headersAsSent(this.request.headers, this.#settings.hostHeader),
      status: this.#head?.status,
      startTime: this.#startTime,
      endTime: performance.timeOrigin + performance.now(),
      bytesSent: connection ? connection.bytesWritten - this.#startWritten : 0,
      bytesReceived: connection ? connection.bytesRead - this.#startRead : 0,
      reusedConnection: this.#reused,
      error,
    };
    try {
      onRecord(record);
    } catch {
      // An observer must not break the call it observes.
    }
  }

  /**
   * Writes a large or streamed body while already reading: an engine may
   * answer (an error) before the whole body is sent, and a stream body must
   * not deadlock on that.
   */
  async #sendLarge(connection: Connection): Promise<ResponseHead> {
    let written = false;
    let waitingForHead = true;
    this.#writing = true;
    const writing = writeRequest(connection, this.request.encoded).then(() => {
      written = true;
      if (waitingForHead) this.#armHeadDeadline();
    });
    // Until it settles, bytes may still go out: no replay on that ground.
    writing.finally(() => this.#writing = false).catch(() => {});
    const reading = this.#readHead();
    // Both outcomes are consumed below; these keep the loser from being
    // reported as unhandled.
    writing.catch(() => {});
    reading.catch(() => {});
    try {
      let head: ResponseHead;
      try {
        head = await Promise.race([writing.then(() => reading), reading]);
      } catch (error) {
        // An engine that refuses an upload answers and closes without
        // reading the rest, so the write breaks (EPIPE, reset) while its
        // answer waits in the socket: that answer (a 400 with the engine's
        // message) is what the caller needs, not "broken pipe". A failure of
        // the caller's own body stream is thrown as is (the engine is still
        // waiting for the rest, and would never answer).
        if (written || error instanceof BodySourceError || this.request.signal?.aborted) {
          throw error;
        }
        waitingForHead = false;
        this.#armHeadDeadline();
        try {
          head = await reading;
        } catch {
          throw error;
        }
      }
      // The engine answered before the body was all sent: the rest of the
      // body would land in the next request, so never pool this connection.
      if (!written) this.#reusable = false;
      return head;
    } finally {
      waitingForHead = false;
    }
  }

  /**
   * The head, when `piece` (the first read) holds all of it and it is a
   * final response; the rest goes back to the connection. Otherwise
   * `undefined`, and {@linkcode Exchange.#readHead} takes over from `piece`.
   */
  #wholeHead(piece: Uint8Array): ResponseHead | undefined {
    const head = parseHead(piece, this.#settings);
    if (head === undefined || head.size > this.#settings.maxHeaderSize) return undefined;
    if (isInterim(head.status)) return undefined;
    if (head.size < piece.length) this.#connection!.unread(piece.subarray(head.size));
    return ownedHead(head);
  }

  /**
   * Reads the response head, skipping interim (1xx) responses.
   *
   * @param first A piece already read from the connection (`null`: its end).
   */
  async #readHead(first?: Uint8Array | null): Promise<ResponseHead> {
    const connection = this.#connection!;
    const { maxHeaderSize } = this.#settings;
    let buffer: Uint8Array = new Uint8Array(0);
    let length = 0;
    let scanned = 0;
    let next = first;
    while (true) {
      const end = length > 0 ? findHeadEnd(buffer, Math.max(0, scanned - 3), length) : -1;
      if (end === -1) {
        if (length > maxHeaderSize) throw headersTooLarge(maxHeaderSize);
        scanned = length;
        const piece = next !== undefined ? next : await connection.read();
        next = undefined;
        if (piece === null) {
          if (length === 0 && connection.bytesRead === this.#startRead && this.#reused) {
            throw new StaleConnectionError("Pooled connection was closed by the engine");
          }
          throw new DockerProtocolError(
            "PREMATURE_CLOSE",
            length === 0
              ? `Engine at ${this.#settings.host} closed the connection without answering`
              : "Engine closed the connection inside the response head",
          );
        }
        if (length === 0) {
          buffer = piece;
          length = piece.length;
        } else {
          if (length + piece.length > buffer.length || buffer.byteOffset !== 0) {
            const grown = new Uint8Array(Math.max(buffer.length * 2, length + piece.length));
            grown.set(buffer.subarray(0, length));
            buffer = grown;
          }
          buffer.set(piece, length);
          length += piece.length;
        }
        continue;
      }
      if (end > maxHeaderSize) throw headersTooLarge(maxHeaderSize);
      const head = parseHead(buffer, this.#settings, end)!;
      const rest = buffer.subarray(end, length);
      if (isInterim(head.status)) {
        // Drop it, read on.
        buffer = rest;
        length = rest.length;
        scanned = 0;
        continue;
      }
      connection.unread(rest);
      return ownedHead(head);
    }
  }

  async #readSocket(): Promise<Uint8Array | null> {
    const connection = this.#connection!;
    // The head is never read into the reused buffer (a head split across
    // reads is joined from earlier views), only the body.
    const into = this.request.reuseReadBuffer === true
      ? (this.#readBuffer ??= new Uint8Array(REUSED_READ_SIZE))
      : undefined;
    const timeout = this.#bodyTimeout;
    if (timeout <= 0) return await connection.read(into);
    // Only time the engine, not the consumer: the deadline runs while a
    // read is pending.
    const deadlines = this.#settings.deadlines;
    const deadline = deadlines.arm(timeout, this);
    try {
      return await connection.read(into);
    } finally {
      deadlines.clear(deadline);
    }
  }

  /**
   * Starts the wait for the head. It starts once the request is sent (as in
   * undici): an upload slower than headersTimeout (build context, image
   * load) is not a silent engine.
   */
  #armHeadDeadline(): void {
    const ms = this.#headersTimeout;
    if (ms <= 0) return;
    // Never two: a head deadline left armed would fire after the exchange.
    this.#settings.deadlines.clear(this.#headDeadline);
    this.#headDeadline = this.#settings.deadlines.arm(ms, this);
  }

  /**
   * Called by the watchdog when a deadline of this exchange passes.
   *
   * @param deadline The head's or a body read's.
   */
  deadlineExpired(deadline: Deadline): void {
    this.#timeOut(deadline === this.#headDeadline ? "headers" : "body", deadline.ms);
  }

  #timeOut(phase: DockerTimeoutPhase, ms: number): void {
    const what = phase === "headers" ? "no response headers" : "no body bytes";
    this.#timedOut = new DockerTimeoutError(
      `${this.request.method} ${this.request.target}: ${what} within ${ms} ms from ${this.#settings.host}`,
      phase,
      ms,
    );
    this.#connection?.close();
  }

  #abort(): void {
    this.#reusable = false;
    this.#connection?.close();
    if (!this.#connection) return;
    // A body nobody is reading still ends here, with the abort reason.
    if (this.#head && !this.#finished) this.fail(this.request.signal!.reason);
  }

  #removeAbortListener(): void {
    if (this.#onAbort) this.request.signal!.removeEventListener("abort", this.#onAbort);
  }

  /** Turns whatever a read or write threw into the error the caller sees. */
  #mapError(error: unknown): unknown {
    const signal = this.request.signal;
    if (signal?.aborted) return signal.reason;
    if (this.#timedOut) return this.#timedOut;
    // The caller's own body stream failed: its error, not a connection error.
    if (error instanceof BodySourceError) return error.error;
    // What the parser found wrong, said of this call.
    if (error instanceof DockerProtocolError) {
      return protocolErrorIn(error, `${this.request.method} ${this.request.target}`);
    }
    if (error instanceof DockerError) return error;
    // Closed under the read by the client's close(): say so.
    const closeReason = this.#connection?.closeReason;
    if (closeReason !== undefined) return closeReason;
    if (isStaleIoError(error) && this.#reused && this.#connection?.bytesRead === this.#startRead) {
      return new StaleConnectionError("Pooled connection was reset by the engine", {
        cause: error,
      });
    }
    const host = this.#settings.host;
    const message = error instanceof Error ? error.message : String(error);
    return new DockerConnectionError(
      `Connection to the Docker engine at ${host} broke during ${this.request.method} ${this.request.target}: ${message}`,
      host,
      { cause: error },
    );
  }
}

/**
 * The head as the exchange keeps it: over the read buffer's own bytes, or
 * over a copy in a stream worker, whose read buffers are transferred (with
 * the body bytes that shared the head's read).
 */
function ownedHead(head: ResponseHead): ResponseHead {
  return readBuffersAreExclusive() ? head.ownCopy() : head;
}

/** An interim response (100 Continue, 102, 103): skipped; 101 is final (an upgrade). */
function isInterim(status: number): boolean {
  return status >= 100 && status < 200 && status !== 101;
}

function headersTooLarge(limit: number): DockerProtocolError {
  return new DockerProtocolError(
    "HEADERS_TOO_LARGE",
    `Response head exceeds the ${limit}-byte limit (maxHeaderSize)`,
  );
}

/** Errors that mean the peer closed a pooled connection under us. */
function isStaleIoError(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionAborted;
}

/** The request's fields with the client's `Host` first, as the writer sends them. */
export function headersAsSent(headers: HeaderFields, host: string): HeaderFields {
  for (const name in headers) if (name.toLowerCase() === "host") return headers;
  return { Host: host, ...headers };
}
