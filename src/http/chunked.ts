/**
 * Incremental decoder for HTTP/1.1 chunked bodies (RFC 9112 §7.1).
 *
 * Payload comes out as views of the input (never copied); only size lines,
 * delimiters and trailers are looked at byte by byte, so the cost is per
 * chunk, not per payload byte.
 *
 * @module
 */

import { DockerProtocolError } from "../errors.ts";

/** Options of {@linkcode ChunkedDecoder}. */
export interface ChunkedDecoderOptions {
  /**
   * Largest trailer section in bytes (the field lines after the last chunk,
   * their CRLFs included, the final empty line excluded).
   *
   * @default 16384
   */
  maxTrailerSize?: number;
  /**
   * Longest chunk-size line in bytes: the hex size, whitespace and
   * extensions, the CRLF excluded.
   *
   * @default 4096
   */
  maxChunkExtensionSize?: number;
}

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const SEMICOLON = 59;
const DEL = 127;

/** Parser states. */
const SIZE = 0; // hex digits of a size line (also the start of one)
const SIZE_WS = 1; // whitespace after the size, before `;` or CR
const EXTENSION = 2; // inside chunk extensions, until CR
const SIZE_LF = 3; // LF ending a size line
const DATA = 4; // chunk payload
const DATA_CR = 5; // CR after the payload
const DATA_LF = 6; // LF after the payload
const TRAILER_START = 7; // start of a trailer field line, or the final CRLF
const TRAILER_LINE = 8; // inside a trailer field line, until CR
const TRAILER_LF = 9; // LF ending a trailer field line
const FINAL_LF = 10; // LF of the final empty line
const DONE = 11;

/** Value of each byte as a hex digit, or -1. */
const HEX = (() => {
  const table = new Int8Array(256).fill(-1);
  for (let digit = 0; digit < 10; digit++) table[48 + digit] = digit;
  for (let digit = 0; digit < 6; digit++) {
    table[65 + digit] = 10 + digit;
    table[97 + digit] = 10 + digit;
  }
  return table;
})();

/** `0x4a`, for messages that name a byte without quoting payload. */
function showByte(byte: number): string {
  return `0x${byte.toString(16).padStart(2, "0")}`;
}

/** Throws a RangeError unless `value` is a non-negative safe integer. */
function checkLimit(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot create ChunkedDecoder: ${name} must be a non-negative integer, got ${value}`,
    );
  }
  return value;
}

/**
 * Decodes an HTTP/1.1 chunked body fed in pieces of any size, split at any
 * byte. Payload is pushed as `subarray` views of each input piece; nothing
 * is buffered across pieces except a few integers of state.
 *
 * After the first error the decoder is broken: every later call throws the
 * same error.
 *
 * @example Decode a body split in two, with an extension and a trailer
 * ```ts
 * import assert from "node:assert/strict";
 * import { ChunkedDecoder } from "./chunked.ts";
 *
 * const bytes = new TextEncoder().encode(
 *   "5\r\nhello\r\n6;name=value\r\n world\r\n0\r\nExpires: never\r\n\r\nNEXT",
 * );
 * const decoder = new ChunkedDecoder();
 * const out: Uint8Array[] = [];
 * assert.equal(decoder.decode(bytes.subarray(0, 9), out), 9);
 * assert.equal(decoder.decode(bytes.subarray(9), out), bytes.length - 9 - 4);
 * assert.equal(decoder.done, true);
 * assert.equal(out.map((part) => new TextDecoder().decode(part)).join(""), "hello world");
 * ```
 */
export class ChunkedDecoder {
  readonly #maxTrailerSize: number;
  readonly #maxLineSize: number;
  #state = SIZE;
  /** Size being parsed (size line) or of the current chunk. */
  #size = 0;
  /** Bytes of the current size line so far. */
  #lineLength = 0;
  /** Payload bytes of the current chunk still to come. */
  #remaining = 0;
  /** Bytes of the trailer section so far. */
  #trailerSize = 0;
  #failure: DockerProtocolError | undefined;

  /**
   * Creates a decoder at the start of a chunked body.
   *
   * @param options Limits on size lines and trailers.
   * @throws {RangeError} When a limit is not a non-negative integer.
   */
  constructor(options: ChunkedDecoderOptions = {}) {
    this.#maxTrailerSize = checkLimit("maxTrailerSize", options.maxTrailerSize ?? 16_384);
    this.#maxLineSize = checkLimit("maxChunkExtensionSize", options.maxChunkExtensionSize ?? 4096);
  }

  /**
   * Whether the body is complete: the last chunk, the trailer section and
   * the final CRLF have been consumed.
   *
   * @returns `true` once the body has ended.
   *
   * @example Check for the end of the body
   * ```ts
   * import assert from "node:assert/strict";
   * import { ChunkedDecoder } from "./chunked.ts";
   *
   * const decoder = new ChunkedDecoder();
   * decoder.decode(new TextEncoder().encode("0\r\n"), []);
   * assert.equal(decoder.done, false);
   * decoder.decode(new TextEncoder().encode("\r\n"), []);
   * assert.equal(decoder.done, true);
   * ```
   */
  get done(): boolean {
    return this.#state === DONE;
  }

  /**
   * Decodes the next piece of the body.
   *
   * @param input The next bytes read from the connection.
   * @param out Receives the payload found in `input`, as non-empty views
   *   (subarrays) of `input`, in order.
   * @returns How many bytes of `input` belong to the body: all of them,
   *   unless the body ends inside `input`, in which case the offset just
   *   after the final CRLF (the rest belongs to whatever follows). `0` once
   *   {@linkcode ChunkedDecoder.done} is true.
   * @throws {DockerProtocolError} `INVALID_CHUNK_SIZE` (size missing, not
   *   hex, or size line over `maxChunkExtensionSize`),
   *   `CHUNK_SIZE_TOO_LARGE` (over 2^53 - 1), `INVALID_CHUNK_DELIMITER`
   *   (anything but CRLF where one is due, bare LF) or `TRAILERS_TOO_LARGE`.
   *
   * @example Find where the body ends
   * ```ts
   * import assert from "node:assert/strict";
   * import { ChunkedDecoder } from "./chunked.ts";
   *
   * const input = new TextEncoder().encode("3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200 OK");
   * const out: Uint8Array[] = [];
   * const consumed = new ChunkedDecoder().decode(input, out);
   * assert.equal(new TextDecoder().decode(input.subarray(consumed)), "HTTP/1.1 200 OK");
   * assert.equal(out[0]!.buffer, input.buffer); // a view, not a copy
   * ```
   */
  decode(input: Uint8Array, out: Uint8Array[]): number {
    if (this.#failure !== undefined) throw this.#failure;
    try {
      return this.#decode(input, out);
    } catch (error) {
      if (error instanceof DockerProtocolError) this.#failure = error;
      throw error;
    }
  }

  #decode(input: Uint8Array, out: Uint8Array[]): number {
    const length = input.length;
    let state = this.#state;
    let i = 0;
    while (i < length) {
      switch (state) {
        case DATA: {
          const remaining = this.#remaining;
          const available = length - i;
          if (available < remaining) {
            out.push(i === 0 ? input : input.subarray(i));
            this.#remaining = remaining - available;
            i = length;
            break;
          }
          out.push(input.subarray(i, i + remaining));
          i += remaining;
          this.#remaining = 0;
          // The CRLF usually follows in the same piece.
          if (i + 1 < length && input[i] === CR && input[i + 1] === LF) {
            i += 2;
            state = SIZE;
          } else {
            state = DATA_CR;
          }
          break;
        }
        case SIZE: {
          let size = this.#size;
          let lineLength = this.#lineLength;
          let byte = 0;
          let digit = -1;
          while (i < length) {
            byte = input[i]!;
            digit = HEX[byte]!;
            if (digit < 0) break;
            if (size > (Number.MAX_SAFE_INTEGER - digit) / 16) {
              throw new DockerProtocolError(
                "CHUNK_SIZE_TOO_LARGE",
                "Chunk size exceeds 2^53 - 1 bytes (more than 13 significant hex digits)",
              );
            }
            size = size * 16 + digit;
            lineLength++;
            i++;
          }
          this.#size = size;
          this.#lineLength = lineLength;
          this.#checkLineLength();
          if (digit >= 0) break; // input ended inside the digits
          if (byte === CR) {
            if (lineLength === 0) {
              throw new DockerProtocolError("INVALID_CHUNK_SIZE", "Chunk size line is empty");
            }
            state = SIZE_LF;
          } else if (byte === SEMICOLON || byte === SP || byte === HTAB) {
            if (lineLength === 0) {
              throw new DockerProtocolError(
                "INVALID_CHUNK_SIZE",
                `Chunk size line starts with ${showByte(byte)} instead of a hex digit`,
              );
            }
            state = byte === SEMICOLON ? EXTENSION : SIZE_WS;
            this.#lineLength++;
            this.#checkLineLength();
          } else if (byte === LF) {
            throw new DockerProtocolError(
              "INVALID_CHUNK_DELIMITER",
              "Chunk size line ends in a bare LF (no CR)",
            );
          } else {
            throw new DockerProtocolError(
              "INVALID_CHUNK_SIZE",
              `Chunk size contains ${showByte(byte)}, which is not a hex digit`,
            );
          }
          i++;
          break;
        }
        case SIZE_WS: {
          const byte = input[i++]!;
          if (byte === CR) {
            state = SIZE_LF;
          } else if (byte === SP || byte === HTAB || byte === SEMICOLON) {
            if (byte === SEMICOLON) state = EXTENSION;
            this.#lineLength++;
            this.#checkLineLength();
          } else if (byte === LF) {
            throw new DockerProtocolError(
              "INVALID_CHUNK_DELIMITER",
              "Chunk size line ends in a bare LF (no CR)",
            );
          } else {
            throw new DockerProtocolError(
              "INVALID_CHUNK_SIZE",
              `Chunk size is followed by ${showByte(byte)} after whitespace instead of ';' or CRLF`,
            );
          }
          break;
        }
        case EXTENSION: {
          const start = i;
          let byte = 0;
          while (i < length) {
            byte = input[i]!;
            if ((byte < SP && byte !== HTAB) || byte === DEL) break;
            i++;
          }
          this.#lineLength += i - start;
          this.#checkLineLength();
          if (i === length) break;
          if (byte === CR) {
            state = SIZE_LF;
          } else if (byte === LF) {
            throw new DockerProtocolError(
              "INVALID_CHUNK_DELIMITER",
              "Chunk extension ends in a bare LF (no CR)",
            );
          } else {
            throw new DockerProtocolError(
              "INVALID_CHUNK_SIZE",
              `Chunk extension contains control byte ${showByte(byte)}`,
            );
          }
          i++;
          break;
        }
        case SIZE_LF: {
          const byte = input[i++]!;
          if (byte !== LF) {
            throw new DockerProtocolError(
              "INVALID_CHUNK_DELIMITER",
              `Chunk size line has CR followed by ${showByte(byte)} instead of LF`,
            );
          }
          if (this.#size === 0) {
            state = TRAILER_START;
          } else {
            this.#remaining = this.#size;
            state = DATA;
          }
          this.#size = 0;
          this.#lineLength = 0;
          break;
        }
        case DATA_CR:
        case DATA_LF: {
          const byte = input[i++]!;
          if (byte !== (state === DATA_CR ? CR : LF)) {
            const wanted = state === DATA_CR ? "CRLF" : "LF after CR";
            throw new DockerProtocolError(
              "INVALID_CHUNK_DELIMITER",
              `Chunk data is followed by ${showByte(byte)} instead of ${wanted}`,
            );
          }
          state = state === DATA_CR ? DATA_LF : SIZE;
          break;
        }
        case TRAILER_START: {
          const byte = input[i]!;
          if (byte === CR) {
            i++;
            state = FINAL_LF;
          } else if (byte === LF) {
            throw new DockerProtocolError(
              "INVALID_CHUNK_DELIMITER",
              "Chunked body ends in a bare LF (no CR)",
            );
          } else {
            state = TRAILER_LINE;
          }
          break;
        }
        case TRAILER_LINE: {
          const start = i;
          let byte = 0;
          while (i < length) {
            byte = input[i]!;
            if (byte === CR || byte === LF) break;
            i++;
          }
          this.#countTrailer(i - start + (i < length ? 1 : 0));
          if (i === length) break;
          if (byte === LF) {
            throw new DockerProtocolError(
              "INVALID_CHUNK_DELIMITER",
              "Trailer field line ends in a bare LF (no CR)",
            );
          }
          i++;
          state = TRAILER_LF;
          break;
        }
        case TRAILER_LF: {
          const byte = input[i++]!;
          if (byte !== LF) {
            throw new DockerProtocolError(
              "INVALID_CHUNK_DELIMITER",
              `Trailer field line has CR followed by ${showByte(byte)} instead of LF`,
            );
          }
          this.#countTrailer(1);
          state = TRAILER_START;
          break;
        }
        case FINAL_LF: {
          const byte = input[i++]!;
          if (byte !== LF) {
            throw new DockerProtocolError(
              "INVALID_CHUNK_DELIMITER",
              `Chunked body ends in CR followed by ${showByte(byte)} instead of LF`,
            );
          }
          this.#state = DONE;
          return i;
        }
        default: // DONE
          return 0;
      }
    }
    this.#state = state;
    return i;
  }

  #checkLineLength(): void {
    if (this.#lineLength > this.#maxLineSize) {
      throw new DockerProtocolError(
        "INVALID_CHUNK_SIZE",
        `Chunk size line exceeds ${this.#maxLineSize} bytes (size and extensions)`,
      );
    }
  }

  #countTrailer(bytes: number): void {
    this.#trailerSize += bytes;
    if (this.#trailerSize > this.#maxTrailerSize) {
      throw new DockerProtocolError(
        "TRAILERS_TOO_LARGE",
        `Trailer section exceeds ${this.#maxTrailerSize} bytes`,
      );
    }
  }
}
