/**
 * Newline-delimited JSON as the engine streams it: events, stats, and the
 * progress of pull, push, build and load. Lines may be split or merged
 * across chunks in any way. Lines inside one chunk are parsed straight from
 * it; only a line split across chunks is copied (as bytes, so a multi-byte
 * character split across chunks decodes intact), into a buffer bounded by
 * `maxLineSize`.
 *
 * @module
 */

import { decodedStream } from "./_decoded_stream.ts";
import { DockerProtocolError, DockerStreamError } from "../errors.ts";

/** Options of {@linkcode JsonLinesDecoder}. */
export interface JsonLinesDecoderOptions {
  /**
   * Longest line in bytes (its `\n` excluded). A longer line, complete or
   * still partial, fails with `LINE_TOO_LONG`.
   *
   * @default 16777216
   */
  maxLineSize?: number;
  /**
   * Whether a line whose value has a string `error` field or an object
   * `errorDetail` field throws a {@linkcode DockerStreamError} (message:
   * `errorDetail.message`, else `error`; detail: `errorDetail`). Progress
   * streams report failures that way after a 200 status.
   *
   * @default true
   */
  errorLines?: boolean;
}

const LF = 10;
const CR = 13;
/** Partial-line buffers up to this size are kept for reuse. */
const KEEP_BUFFER_SIZE = 64 * 1024;
/** Longest excerpt of a bad line quoted in an error message, in characters. */
const EXCERPT_LENGTH = 120;

/** The error for a line over the limit. */
function tooLong(limit: number, length: number): DockerProtocolError {
  return new DockerProtocolError(
    "LINE_TOO_LONG",
    `A JSON line exceeds ${limit} bytes (${length} bytes so far)`,
  );
}

/**
 * Splits bytes into lines and parses each line as JSON. Blank lines are
 * skipped and a trailing `\r` is dropped.
 *
 * After the first error the decoder is broken: every later call throws the
 * same error.
 *
 * @typeParam T The type of each line's value (not checked).
 *
 * @example Decode lines split across chunks
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsonLinesDecoder } from "@berth/docker";
 *
 * const bytes = new TextEncoder().encode('{"status":"a"}\n\n{"status":"b"}\r\n{"status":"c"}');
 * const decoder = new JsonLinesDecoder<{ status: string }>();
 * const out: { status: string }[] = [];
 * decoder.push(bytes.subarray(0, 7), out);
 * decoder.push(bytes.subarray(7), out);
 * decoder.finish(out);
 * assert.deepEqual(out.map((value) => value.status), ["a", "b", "c"]);
 * ```
 */
export class JsonLinesDecoder<T = unknown> {
  readonly #maxLineSize: number;
  readonly #errorLines: boolean;
  readonly #decoder = new TextDecoder();
  /** Bytes of a line split across pushes. */
  #pending = new Uint8Array(0);
  #pendingLength = 0;
  #failure: unknown;
  #failed = false;

  /**
   * Creates a decoder positioned at the start of a line.
   *
   * @param options Line limit and error-line handling.
   * @throws {RangeError} When `maxLineSize` is not a non-negative integer.
   */
  constructor(options: JsonLinesDecoderOptions = {}) {
    const maxLineSize = options.maxLineSize ?? 16_777_216;
    if (!Number.isSafeInteger(maxLineSize) || maxLineSize < 0) {
      throw new RangeError(
        `Cannot create JsonLinesDecoder: maxLineSize must be a non-negative integer, got ${maxLineSize}`,
      );
    }
    this.#maxLineSize = maxLineSize;
    this.#errorLines = options.errorLines ?? true;
  }

  /**
   * Decodes the next piece; a line without its `\n` yet is kept for the
   * next call.
   *
   * @param input The next bytes of the stream.
   * @param out Receives the value of each line completed by `input`.
   * @throws {DockerProtocolError} `INVALID_JSON` for a line that is not
   *   JSON, `LINE_TOO_LONG` for a line over `maxLineSize`.
   * @throws {DockerStreamError} For an error line (unless `errorLines` is
   *   false). Values of the lines before it are in `out`.
   *
   * @example Keep a multi-byte character split across pushes
   * ```ts
   * import assert from "node:assert/strict";
   * import { JsonLinesDecoder } from "@berth/docker";
   *
   * const bytes = new TextEncoder().encode('"é"\n');
   * const decoder = new JsonLinesDecoder<string>();
   * const out: string[] = [];
   * decoder.push(bytes.subarray(0, 2), out); // ends inside "é"
   * decoder.push(bytes.subarray(2), out);
   * assert.deepEqual(out, ["é"]);
   * ```
   */
  push(input: Uint8Array, out: T[]): void {
    if (this.#failed) throw this.#failure;
    try {
      this.#push(input, out);
    } catch (error) {
      this.#failed = true;
      this.#failure = error;
      throw error;
    }
  }

  /**
   * Parses a last line that had no `\n`. Harmless to call again.
   *
   * @param out Receives its value, if there was one.
   * @throws {DockerProtocolError} `INVALID_JSON` when it is not JSON.
   * @throws {DockerStreamError} When it is an error line (unless
   *   `errorLines` is false).
   *
   * @example Parse a last line without a newline
   * ```ts
   * import assert from "node:assert/strict";
   * import { JsonLinesDecoder } from "@berth/docker";
   *
   * const decoder = new JsonLinesDecoder<number>();
   * const out: number[] = [];
   * decoder.push(new TextEncoder().encode("1\n2"), out);
   * decoder.finish(out);
   * assert.deepEqual(out, [1, 2]);
   * ```
   */
  finish(out: T[]): void {
    if (this.#failed) throw this.#failure;
    if (this.#pendingLength === 0) return;
    try {
      this.#parse(this.#takePending(), out);
    } catch (error) {
      this.#failed = true;
      this.#failure = error;
      throw error;
    }
  }

  #push(input: Uint8Array, out: T[]): void {
    const length = input.length;
    let start = 0;
    let newline = input.indexOf(LF);
    if (this.#pendingLength > 0) {
      if (newline === -1) {
        this.#append(input);
        return;
      }
      this.#append(input.subarray(0, newline));
      this.#parse(this.#takePending(), out);
      start = newline + 1;
      newline = input.indexOf(LF, start);
    }
    while (newline !== -1) {
      if (newline - start > this.#maxLineSize) throw tooLong(this.#maxLineSize, newline - start);
      this.#parse(input.subarray(start, newline), out);
      start = newline + 1;
      newline = input.indexOf(LF, start);
    }
    if (start < length) this.#append(input.subarray(start));
  }

  /** Adds bytes to the partial line, growing its buffer geometrically. */
  #append(bytes: Uint8Array): void {
    const needed = this.#pendingLength + bytes.length;
    if (needed > this.#maxLineSize) throw tooLong(this.#maxLineSize, needed);
    if (needed > this.#pending.length) {
      const capacity = Math.min(
        this.#maxLineSize,
        Math.max(needed, this.#pending.length * 2, 1024),
      );
      const grown = new Uint8Array(capacity);
      grown.set(this.#pending.subarray(0, this.#pendingLength), 0);
      this.#pending = grown;
    }
    this.#pending.set(bytes, this.#pendingLength);
    this.#pendingLength = needed;
  }

  /**
   * Hands out the partial line and forgets it. The view stays valid until
   * the next append; the buffer is kept for reuse only when small.
   */
  #takePending(): Uint8Array {
    const line = this.#pending.subarray(0, this.#pendingLength);
    this.#pendingLength = 0;
    if (this.#pending.length > KEEP_BUFFER_SIZE) this.#pending = new Uint8Array(0);
    return line;
  }

  #parse(line: Uint8Array, out: T[]): void {
    let end = line.length;
    if (end > 0 && line[end - 1] === CR) end--;
    if (end === 0) return;
    const text = this.#decoder.decode(end === line.length ? line : line.subarray(0, end));
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      if (text.trim() === "") return; // a blank line of spaces or tabs
      const excerpt = text.length > EXCERPT_LENGTH ? `${text.slice(0, EXCERPT_LENGTH)}…` : text;
      throw new DockerProtocolError(
        "INVALID_JSON",
        `Engine sent a line that is not JSON (${end} bytes): ${JSON.stringify(excerpt)}`,
      );
    }
    if (this.#errorLines && typeof value === "object" && value !== null) {
      const { error, errorDetail } = value as { error?: unknown; errorDetail?: unknown };
      const hasDetail = typeof errorDetail === "object" && errorDetail !== null;
      if (typeof error === "string" || hasDetail) {
        const detail = hasDetail ? errorDetail as { code?: number; message?: string } : undefined;
        const message = typeof detail?.message === "string"
          ? detail.message
          : typeof error === "string"
          ? error
          : "Engine reported an error without a message";
        throw new DockerStreamError(message, detail);
      }
    }
    out.push(value as T);
  }
}

/**
 * Decodes a byte stream of JSON lines into values, pull-based: the source
 * is read only as values are read, and as often as needed to produce at
 * least one value.
 *
 * @typeParam T The type of each line's value (not checked).
 * @param body The byte stream.
 * @param options Line limit and error-line handling.
 * @returns The values. Cancelling it cancels `body`; errors of `body` come
 *   through unchanged.
 * @throws {RangeError} When `options.maxLineSize` is invalid. Decoding
 *   errors (`DockerProtocolError`, `DockerStreamError`) are raised by the
 *   returned stream, after the values decoded before them.
 *
 * @example Decode progress lines
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonLinesStream } from "@berth/docker";
 *
 * const encoder = new TextEncoder();
 * const body = ReadableStream.from([encoder.encode('{"id":"1"}\n{"id"'), encoder.encode(':"2"}\n')]);
 * const ids: string[] = [];
 * for await (const value of jsonLinesStream<{ id: string }>(body)) ids.push(value.id);
 * assert.deepEqual(ids, ["1", "2"]);
 * ```
 */
export function jsonLinesStream<T = unknown>(
  body: ReadableStream<Uint8Array>,
  options?: JsonLinesDecoderOptions,
): ReadableStream<T> {
  const decoder = new JsonLinesDecoder<T>(options);
  return decodedStream<T>(
    body,
    (input, out) => decoder.push(input, out),
    (out) => decoder.finish(out),
  );
}
