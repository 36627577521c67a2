/**
 * Newline-delimited JSON as the engine streams it (events, stats, pull,
 * push, build and load progress). Lines may be split or merged across
 * chunks in any way; partial lines are kept as byte views until their end
 * arrives, so a multi-byte character split across chunks decodes intact.
 *
 * @module
 */

import { DockerProtocolError, DockerStreamError } from "../errors.ts";

/** Options of {@linkcode JsonLinesDecoder}. */
export interface JsonLinesDecoderOptions {
  /** Longest line in bytes. @default 16777216 */
  maxLineSize?: number;
  /**
   * Whether a line with an `error` string or an `errorDetail` object
   * throws a {@linkcode DockerStreamError} (progress streams report
   * failures that way after a 200 status). @default true
   */
  errorLines?: boolean;
}

const LF = 10;
const CR = 13;

/**
 * Splits bytes into lines and parses each as JSON.
 *
 * @example Decode lines split across chunks
 * ```ts
 * import { JsonLinesDecoder } from "./json_lines.ts";
 *
 * const bytes = new TextEncoder().encode('{"status":"a"}\n{"status":"b"}\n');
 * const decoder = new JsonLinesDecoder<{ status: string }>();
 * const out: { status: string }[] = [];
 * decoder.push(bytes.subarray(0, 7), out);
 * decoder.push(bytes.subarray(7), out);
 * decoder.finish(out);
 * console.log(out.map((o) => o.status)); // ["a", "b"]
 * ```
 */
export class JsonLinesDecoder<T = unknown> {
  readonly #maxLineSize: number;
  readonly #errorLines: boolean;
  readonly #decoder = new TextDecoder();
  #pending: Uint8Array[] = [];
  #pendingSize = 0;

  /** @param options Line limit and error-line handling. */
  constructor(options: JsonLinesDecoderOptions = {}) {
    this.#maxLineSize = options.maxLineSize ?? 16_777_216;
    this.#errorLines = options.errorLines ?? true;
  }

  /**
   * Decodes the next piece.
   *
   * @param input Bytes of the stream.
   * @param out Receives each complete line's value.
   * @throws {DockerProtocolError} `INVALID_JSON` or `LINE_TOO_LONG`.
   * @throws {DockerStreamError} For an error line (unless `errorLines` is false).
   */
  push(input: Uint8Array, out: T[]): void {
    let start = 0;
    let newline = input.indexOf(LF);
    if (newline !== -1 && this.#pendingSize > 0) {
      this.#pending.push(input.subarray(0, newline));
      this.#parse(this.#takePending(), out);
      start = newline + 1;
      newline = input.indexOf(LF, start);
    }
    while (newline !== -1) {
      this.#parse(input.subarray(start, newline), out);
      start = newline + 1;
      newline = input.indexOf(LF, start);
    }
    if (start < input.length) {
      this.#pending.push(input.subarray(start));
      this.#pendingSize += input.length - start;
      if (this.#pendingSize > this.#maxLineSize) {
        throw new DockerProtocolError(
          "LINE_TOO_LONG",
          `A JSON line exceeds ${this.#maxLineSize} bytes`,
        );
      }
    }
  }

  /**
   * Parses a last line that had no newline.
   *
   * @param out Receives its value.
   */
  finish(out: T[]): void {
    if (this.#pendingSize > 0) this.#parse(this.#takePending(), out);
  }

  #takePending(): Uint8Array {
    const parts = this.#pending;
    this.#pending = [];
    this.#pendingSize = 0;
    if (parts.length === 1) return parts[0]!;
    let total = 0;
    for (const part of parts) total += part.length;
    const line = new Uint8Array(total);
    let offset = 0;
    for (const part of parts) {
      line.set(part, offset);
      offset += part.length;
    }
    return line;
  }

  #parse(line: Uint8Array, out: T[]): void {
    let end = line.length;
    if (end > 0 && line[end - 1] === CR) end--;
    const text = this.#decoder.decode(end === line.length ? line : line.subarray(0, end));
    if (text.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new DockerProtocolError(
        "INVALID_JSON",
        `Engine sent a line that is not JSON: ${JSON.stringify(text.slice(0, 120))}`,
      );
    }
    if (this.#errorLines && value !== null && typeof value === "object") {
      const { error, errorDetail } = value as { error?: unknown; errorDetail?: unknown };
      if (typeof error === "string" || (errorDetail !== null && typeof errorDetail === "object")) {
        const detail = errorDetail as { code?: number; message?: string } | undefined;
        throw new DockerStreamError(detail?.message ?? String(error), detail ?? undefined);
      }
    }
    out.push(value as T);
  }
}

/**
 * Decodes a byte stream of JSON lines into values, pull-based.
 *
 * @param body The byte stream.
 * @param options Line limit and error-line handling.
 * @returns The values; cancelling it cancels `body`.
 *
 * @example Decode progress lines
 * ```ts
 * import { jsonLinesStream } from "./json_lines.ts";
 *
 * const body = ReadableStream.from([new TextEncoder().encode('{"id":"1"}\n{"id":"2"}\n')]);
 * for await (const value of jsonLinesStream<{ id: string }>(body)) console.log(value.id);
 * ```
 */
export function jsonLinesStream<T>(
  body: ReadableStream<Uint8Array>,
  options?: JsonLinesDecoderOptions,
): ReadableStream<T> {
  const decoder = new JsonLinesDecoder<T>(options);
  const reader = body.getReader();
  return new ReadableStream<T>({
    pull: async (controller) => {
      const out: T[] = [];
      while (out.length === 0) {
        const { done, value } = await reader.read();
        if (done) {
          decoder.finish(out);
          for (const item of out) controller.enqueue(item);
          controller.close();
          return;
        }
        decoder.push(value, out);
      }
      for (const item of out) controller.enqueue(item);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}
