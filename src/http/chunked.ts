/**
 * Incremental decoder for HTTP/1.1 chunked bodies (RFC 9112 §7.1). Payload
 * comes out as views of the input (no copies); only the size lines and
 * trailers are looked at byte by byte.
 *
 * @module
 */

import { DockerProtocolError } from "../errors.ts";

/** Options of {@linkcode ChunkedDecoder}. */
export interface ChunkedDecoderOptions {
  /** Largest trailer section in bytes. @default 16384 */
  maxTrailerSize?: number;
  /** Longest chunk-size line (size and extensions) in bytes. @default 4096 */
  maxChunkExtensionSize?: number;
}

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;
const SEMICOLON = 59;

const SIZE = 0;
const SIZE_LF = 1;
const DATA = 2;
const DATA_CR = 3;
const DATA_LF = 4;
const TRAILER_START = 5;
const TRAILER_LINE = 6;
const TRAILER_LF = 7;
const FINAL_LF = 8;
const DONE = 9;

/** The value of a hex digit byte, or -1. */
function hexValue(byte: number): number {
  if (byte >= 48 && byte <= 57) return byte - 48;
  const lower = byte | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

/**
 * Decodes a chunked body fed in pieces of any size, split anywhere.
 *
 * @example Decode a body split in two
 * ```ts
 * import { ChunkedDecoder } from "./chunked.ts";
 *
 * const bytes = new TextEncoder().encode("5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n");
 * const decoder = new ChunkedDecoder();
 * const out: Uint8Array[] = [];
 * decoder.decode(bytes.subarray(0, 9), out);
 * decoder.decode(bytes.subarray(9), out);
 * console.log(decoder.done, out.map((p) => new TextDecoder().decode(p)).join("")); // true "hello world"
 * ```
 */
export class ChunkedDecoder {
  readonly #maxTrailerSize: number;
  readonly #maxLineSize: number;
  #state = SIZE;
  #size = 0;
  #sawDigit = false;
  #afterSize = false;
  #inExtension = false;
  #lineLength = 0;
  #remaining = 0;
  #trailerSize = 0;

  /** @param options Limits on size lines and trailers. */
  constructor(options: ChunkedDecoderOptions = {}) {
    this.#maxTrailerSize = options.maxTrailerSize ?? 16_384;
    this.#maxLineSize = options.maxChunkExtensionSize ?? 4096;
  }

  /** Whether the last chunk and the trailer section have been consumed. */
  get done(): boolean {
    return this.#state === DONE;
  }

  /**
   * Decodes the next piece of the body.
   *
   * @param input The next bytes from the connection.
   * @param out Receives payload views (subarrays of `input`).
   * @returns Bytes of `input` consumed: all of them, unless the body ended
   *   inside `input` (the rest belongs to whatever follows).
   * @throws {DockerProtocolError} `INVALID_CHUNK_SIZE`,
   *   `CHUNK_SIZE_TOO_LARGE`, `INVALID_CHUNK_DELIMITER` or
   *   `TRAILERS_TOO_LARGE` on malformed input.
   */
  decode(input: Uint8Array, out: Uint8Array[]): number {
    const length = input.length;
    let i = 0;
    while (i < length) {
      switch (this.#state) {
        case DATA: {
          const take = Math.min(this.#remaining, length - i);
          out.push(input.subarray(i, i + take));
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = DATA_CR;
          break;
        }
        case SIZE:
          this.#sizeByte(input[i++]!);
          break;
        case SIZE_LF:
          this.#expect(input[i++]!, LF, "after a chunk size");
          if (this.#size === 0) {
            this.#state = TRAILER_START;
          } else {
            this.#remaining = this.#size;
            this.#state = DATA;
          }
          this.#resetSizeLine();
          break;
        case DATA_CR:
          this.#expect(input[i++]!, CR, "after chunk data");
          this.#state = DATA_LF;
          break;
        case DATA_LF:
          this.#expect(input[i++]!, LF, "after chunk data");
          this.#state = SIZE;
          break;
        case TRAILER_START: {
          const byte = input[i++]!;
          if (byte === CR) {
            this.#state = FINAL_LF;
          } else {
            this.#countTrailer();
            this.#state = byte === LF ? this.#bareLf("in the trailer section") : TRAILER_LINE;
          }
          break;
        }
        case TRAILER_LINE: {
          const byte = input[i++]!;
          this.#countTrailer();
          if (byte === CR) this.#state = TRAILER_LF;
          else if (byte === LF) this.#bareLf("in a trailer field");
          break;
        }
        case TRAILER_LF:
          this.#expect(input[i++]!, LF, "after a trailer field");
          this.#state = TRAILER_START;
          break;
        case FINAL_LF:
          this.#expect(input[i++]!, LF, "at the end of the chunked body");
          this.#state = DONE;
          return i;
        default:
          return i;
      }
    }
    return i;
  }

  #sizeByte(byte: number): void {
    if (++this.#lineLength > this.#maxLineSize) {
      throw new DockerProtocolError(
        "INVALID_CHUNK_SIZE",
        `Chunk size line exceeds ${this.#maxLineSize} bytes`,
      );
    }
    if (byte === CR) {
      if (!this.#sawDigit) {
        throw new DockerProtocolError("INVALID_CHUNK_SIZE", "Chunk size line has no size");
      }
      this.#state = SIZE_LF;
      return;
    }
    if (this.#inExtension) {
      if (byte === LF) this.#bareLf("in a chunk extension");
      return;
    }
    const digit = hexValue(byte);
    if (digit !== -1 && !this.#afterSize) {
      if (this.#size > (Number.MAX_SAFE_INTEGER - digit) / 16) {
        throw new DockerProtocolError("CHUNK_SIZE_TOO_LARGE", "Chunk size exceeds 2^53 - 1");
      }
      this.#size = this.#size * 16 + digit;
      this.#sawDigit = true;
      return;
    }
    if ((byte === SP || byte === HTAB) && this.#sawDigit) {
      this.#afterSize = true;
      return;
    }
    if (byte === SEMICOLON && this.#sawDigit) {
      this.#inExtension = true;
      return;
    }
    if (byte === LF) this.#bareLf("after a chunk size");
    throw new DockerProtocolError(
      "INVALID_CHUNK_SIZE",
      `Unexpected byte 0x${byte.toString(16).padStart(2, "0")} in a chunk size`,
    );
  }

  #resetSizeLine(): void {
    this.#size = 0;
    this.#sawDigit = false;
    this.#afterSize = false;
    this.#inExtension = false;
    this.#lineLength = 0;
  }

  #countTrailer(): void {
    if (++this.#trailerSize > this.#maxTrailerSize) {
      throw new DockerProtocolError(
        "TRAILERS_TOO_LARGE",
        `Trailer section exceeds ${this.#maxTrailerSize} bytes`,
      );
    }
  }

  #expect(byte: number, wanted: number, where: string): void {
    if (byte !== wanted) {
      throw new DockerProtocolError(
        "INVALID_CHUNK_DELIMITER",
        `Expected ${wanted === CR ? "CR" : "LF"} ${where}, got 0x${byte.toString(16).padStart(2, "0")}`,
      );
    }
  }

  #bareLf(where: string): never {
    throw new DockerProtocolError("INVALID_CHUNK_DELIMITER", `Bare LF ${where}`);
  }
}
