/**
 * The response of an HTTP exchange: status and headers at once, the body
 * read on demand — as bytes, text, JSON, a pull-based stream, or decoded
 * batches for the stream decoders above.
 *
 * @module
 */

import { DockerProtocolError } from "../errors.ts";
import type { Connection } from "./connection.ts";
import type { Exchange } from "./exchange.ts";
import type { HeaderMap } from "./response_head.ts";

const decoder = new TextDecoder();

/** A connection handed over after `101 Switching Protocols` (or a hijack). */
export interface UpgradedConnection {
  /** The raw connection; its first reads return any bytes that came with the head. */
  connection: Connection;
}

/** A response whose head has arrived. */
export class HttpResponse {
  /** Status code. */
  readonly status: number;

  /** Header fields. */
  readonly headers: HeaderMap;
  readonly #exchange: Exchange;

  /** @param exchange The exchange whose head was read. */
  constructor(exchange: Exchange) {
    this.#exchange = exchange;
    const head = exchange.head;
    this.status = head.status;
    this.headers = head.headers;
  }

  /** Reason phrase (decoded when first read). */
  get statusText(): string {
    return this.#exchange.head.statusText;
  }

  /** Whether the engine switched protocols (attach, exec start, ...). */
  get upgraded(): boolean {
    return this.#exchange.upgraded;
  }

  /**
   * Takes the raw connection after an upgrade.
   *
   * @returns The connection, now owned by the caller.
   * @throws {TypeError} When the response is not an upgrade.
   */
  takeConnection(): UpgradedConnection {
    if (!this.upgraded) throw new TypeError("Response is not an upgrade");
    return { connection: this.#exchange.takeConnection() };
  }

  /**
   * Reads the next body pieces. The views stay valid; no bytes are copied.
   *
   * @returns One or more pieces, or `null` at the end.
   */
  readBatch(): Promise<Uint8Array[] | null> {
    return this.#exchange.readBatch();
  }

  /**
   * Reads the whole body.
   *
   * @param limit Largest body accepted, in bytes.
   * @returns The body (a view, not a copy, when it arrived in one piece).
   * @throws {DockerProtocolError} `BODY_TOO_LARGE` when the body exceeds
   *   `limit` (the response is cancelled and its connection closed).
   */
  bytes(limit = Number.MAX_SAFE_INTEGER): Promise<Uint8Array> {
    // A small answer usually came whole with the head: no read, no copy,
    // and no async step (these three run once per call).
    const whole = this.#exchange.takeCompleteBody();
    if (whole === undefined) return this.#readAll(limit);
    return whole.length > limit ? Promise.reject(tooLarge(limit)) : Promise.resolve(whole);
  }

  /**
   * The body as UTF-8 text at once, when it came whole with the head (most
   * small answers); `undefined` otherwise (then read it with
   * {@linkcode HttpResponse.text}). Spares a caller the await of an
   * already settled promise.
   *
   * @returns The text, or `undefined`.
   */
  textIfComplete(): string | undefined {
    const whole = this.#exchange.takeCompleteBody();
    return whole === undefined ? undefined : utf8(whole);
  }

  /**
   * Reads the whole body as UTF-8 text.
   *
   * @param limit Largest body accepted, in bytes.
   * @returns The text.
   * @throws {DockerProtocolError} `BODY_TOO_LARGE` when the body exceeds `limit`.
   */
  text(limit?: number): Promise<string> {
    const whole = this.#exchange.takeCompleteBody();
    if (whole === undefined) return this.#readAll(limit).then(utf8);
    if (limit !== undefined && whole.length > limit) return Promise.reject(tooLarge(limit));
    return Promise.resolve(utf8(whole));
  }

  /**
   * Reads the whole body as JSON.
   *
   * @returns The parsed value.
   * @throws {DockerProtocolError} `INVALID_JSON` when it does not parse.
   */
  json<T>(): Promise<T> {
    const whole = this.#exchange.takeCompleteBody();
    if (whole === undefined) return this.text().then((text) => parseJson<T>(text));
    try {
      return Promise.resolve(parseJson<T>(utf8(whole)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async #readAll(limit = Number.MAX_SAFE_INTEGER): Promise<Uint8Array> {
    const pieces: Uint8Array[] = [];
    let total = 0;
    while (true) {
      const batch = await this.#exchange.readBatch();
      if (batch === null) break;
      for (const piece of batch) {
        total += piece.length;
        pieces.push(piece);
      }
      if (total > limit) {
        this.cancel(tooLarge(limit));
        throw tooLarge(limit);
      }
    }
    if (pieces.length === 1) return pieces[0]!;
    const joined = new Uint8Array(total);
    let offset = 0;
    for (const piece of pieces) {
      joined.set(piece, offset);
      offset += piece.length;
    }
    return joined;
  }

  /**
   * Reads and drops the body, so the connection can be reused.
   */
  async discard(): Promise<void> {
    while (await this.#exchange.readBatch() !== null) {
      // Nothing to keep.
    }
  }

  /**
   * The body as a pull-based stream: the socket is read only when the
   * consumer reads, so a slow consumer slows the engine (backpressure).
   * Cancelling the stream closes the connection.
   *
   * @returns The body stream.
   */
  stream(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const batch = await this.#exchange.readBatch();
        if (batch === null) controller.close();
        else for (const piece of batch) controller.enqueue(piece);
      },
      cancel: (reason) => this.cancel(reason),
    }, { highWaterMark: 0 });
  }

  /**
   * Stops reading: the connection is closed, never reused.
   *
   * @param reason Why, for the observer.
   */
  cancel(reason?: unknown): void {
    this.#exchange.cancel(reason);
  }

  /** Whether the body has been read to its end (or the exchange ended otherwise). */
  get finished(): boolean {
    return this.#exchange.finished;
  }
}

function tooLarge(limit: number): DockerProtocolError {
  return new DockerProtocolError("BODY_TOO_LARGE", `Response body exceeds ${limit} bytes`);
}

/**
 * Parses a body's text as JSON.
 *
 * @param text The body.
 * @param context The call it answers, named in the error when given.
 * @returns The value.
 * @throws {DockerProtocolError} `INVALID_JSON` when it does not parse.
 */
export function parseJson<T>(text: string, context?: { action: string; status: number }): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    const quoted = JSON.stringify(text.slice(0, 120));
    throw new DockerProtocolError(
      "INVALID_JSON",
      context === undefined
        ? `Engine sent invalid JSON: ${quoted}`
        : `Cannot ${context.action}: the engine sent invalid JSON: ${quoted} (status ${context.status})`,
    );
  }
}

/** Bodies up to this size that are plain ASCII skip the decoder. */
const SMALL_ASCII = 64;

/**
 * The body as UTF-8 text. A short ASCII body (`OK`, `{"StatusCode":0}`)
 * is turned into a string directly: the decoder's fixed cost is most of
 * the work for it.
 */
function utf8(bytes: Uint8Array): string {
  if (bytes.length <= SMALL_ASCII) {
    let high = 0;
    for (let i = 0; i < bytes.length; i++) high |= bytes[i]!;
    if (high < 0x80) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  return decoder.decode(bytes);
}
