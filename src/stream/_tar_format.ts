/**
 * Tar format internals shared by the writer and the reader of `tar.ts`:
 * header fields (octal and GNU base-256 numbers, checksum), PAX records,
 * and a pull-based byte source for exact-size reads.
 *
 * @module
 */

import { DockerProtocolError } from "../errors.ts";

/** Size of a tar block. */
export const BLOCK = 512;
/** An empty chunk. */
export const EMPTY: Uint8Array = new Uint8Array(0);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Zero bytes after `size` bytes of data, up to the next block. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** The fields of one ustar header, strings already encoded and cut to fit. */
export interface HeaderFields {
  /** Name, at most 100 bytes. */
  name: Uint8Array;
  /** Mode bits. */
  mode: number;
  /** Owner user id. */
  uid: number;
  /** Owner group id. */
  gid: number;
  /** Data size. */
  size: number;
  /** Modification time in seconds. */
  mtime: number;
  /** One-character type flag. */
  typeflag: string;
  /** Link target, at most 100 bytes. */
  linkname: Uint8Array;
  /** Owner user name, at most 32 bytes. */
  uname: Uint8Array;
  /** Owner group name, at most 32 bytes. */
  gname: Uint8Array;
  /** Major device number (character and block devices), at most 0o7777777. @default 0 */
  devmajor?: number;
  /** Minor device number (character and block devices), at most 0o7777777. @default 0 */
  devminor?: number;
}

/** Whether every byte is 7-bit ASCII. */
export function isAscii(bytes: Uint8Array): boolean {
  for (const byte of bytes) if (byte >= 0x80) return false;
  return true;
}

/** Writes `value` as a NUL-terminated octal field, or base-256 when it does not fit. */
export function writeNumber(
  block: Uint8Array,
  offset: number,
  length: number,
  value: number,
): void {
  if (Number.isInteger(value) && value >= 0 && value < 8 ** (length - 1)) {
    const text = value.toString(8).padStart(length - 1, "0");
    for (let i = 0; i < text.length; i++) block[offset + i] = text.charCodeAt(i);
    block[offset + length - 1] = 0;
    return;
  }
  // GNU base-256: high bit set, big-endian two's complement in the field.
  let big = BigInt(Math.trunc(value));
  if (big < 0n) big += 1n << BigInt(8 * length);
  for (let i = length - 1; i >= 1; i--) {
    block[offset + i] = Number(big & 0xffn);
    big >>= 8n;
  }
  block[offset] = value < 0 ? 0xff : 0x80;
}

/** Whether `value` fits a NUL-terminated octal field of `length` bytes. */
export function fitsOctal(value: number, length: number): boolean {
  return Number.isInteger(value) && value >= 0 && value < 8 ** (length - 1);
}

/** Writes one 512-byte ustar header, checksum included. */
export function writeHeader(block: Uint8Array, fields: HeaderFields): void {
  block.set(fields.name.subarray(0, 100), 0);
  writeNumber(block, 100, 8, fields.mode);
  writeNumber(block, 108, 8, fields.uid);
  writeNumber(block, 116, 8, fields.gid);
  writeNumber(block, 124, 12, fields.size);
  writeNumber(block, 136, 12, fields.mtime);
  block[156] = fields.typeflag.charCodeAt(0);
  block.set(fields.linkname.subarray(0, 100), 157);
  block.set([0x75, 0x73, 0x74, 0x61, 0x72, 0, 0x30, 0x30], 257); // "ustar\0" "00"
  block.set(fields.uname.subarray(0, 32), 265);
  block.set(fields.gname.subarray(0, 32), 297);
  writeNumber(block, 329, 8, fields.devmajor ?? 0);
  writeNumber(block, 337, 8, fields.devminor ?? 0);
  let sum = 8 * 0x20; // the checksum field counts as eight spaces
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += block[i]!;
  const text = sum.toString(8).padStart(6, "0");
  for (let i = 0; i < 6; i++) block[148 + i] = text.charCodeAt(i);
  block[154] = 0;
  block[155] = 0x20;
}

/** One `"<length> <key>=<value>\n"` record, the length counting itself. */
export function paxRecord(key: string, value: string): string {
  const rest = encoder.encode(` ${key}=${value}\n`).length;
  let digits = 1;
  while (String(rest + digits).length !== digits) digits = String(rest + digits).length;
  return `${rest + digits} ${key}=${value}\n`;
}

/** An ASCII stand-in of at most `max` bytes for a field carried by a PAX record. */
export function asciiStandIn(text: string, max: number): Uint8Array {
  return encoder.encode(text.replace(/[^\x20-\x7e]/g, "_").slice(0, max));
}

/** Pull-based reads of exact byte counts from a byte stream, zero-copy when possible. */
export class ByteSource {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #chunk: Uint8Array = EMPTY;
  #eof = false;
  /** Bytes consumed so far (for messages). */
  offset = 0;

  /**
   * Locks `stream` for reading.
   *
   * @param stream The input.
   */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** Makes `#chunk` non-empty; false at end of input. */
  async #fill(): Promise<boolean> {
    while (this.#chunk.length === 0) {
      if (this.#eof) return false;
      const { done, value } = await this.#reader.read();
      if (done) {
        this.#eof = true;
        return false;
      }
      if (!(value instanceof Uint8Array)) {
        throw new TypeError("A tar stream must yield Uint8Array chunks");
      }
      this.#chunk = value;
    }
    return true;
  }

  /** Up to `max` bytes (a view), or `null` at end of input. */
  async readSome(max: number): Promise<Uint8Array | null> {
    if (!(await this.#fill())) return null;
    const chunk = this.#chunk;
    const take = Math.min(max, chunk.length);
    this.#chunk = chunk.subarray(take);
    this.offset += take;
    return take === chunk.length ? chunk : chunk.subarray(0, take);
  }

  /**
   * Exactly `n` bytes (a view when they lie in one chunk, else a copy);
   * fewer when the input ends first, `null` when it ended before any byte.
   */
  async readExact(n: number): Promise<Uint8Array | null> {
    if (!(await this.#fill())) return null;
    if (this.#chunk.length >= n) return (await this.readSome(n))!;
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const part = await this.readSome(n - filled);
      if (part === null) return out.subarray(0, filled);
      out.set(part, filled);
      filled += part.length;
    }
    return out;
  }

  /** Skips `n` bytes; returns how many were skipped (fewer at end of input). */
  async skip(n: number): Promise<number> {
    let skipped = 0;
    while (skipped < n) {
      const part = await this.readSome(n - skipped);
      if (part === null) break;
      skipped += part.length;
    }
    return skipped;
  }

  /** Reads to the end of input, up to `limit` bytes; cancels the input past that. */
  async drain(limit: number): Promise<void> {
    const skipped = await this.skip(limit);
    if (skipped === limit) await this.cancel(undefined);
  }

  /** Stops reading and cancels the input. */
  async cancel(reason: unknown): Promise<void> {
    this.#eof = true;
    this.#chunk = EMPTY;
    await this.#reader.cancel(reason).catch(() => {});
  }
}

/** An `INVALID_TAR` error. */
export function invalid(message: string): DockerProtocolError {
  return new DockerProtocolError("INVALID_TAR", message);
}

/** A `PREMATURE_CLOSE` error. */
export function premature(message: string): DockerProtocolError {
  return new DockerProtocolError("PREMATURE_CLOSE", message);
}

/** A NUL-terminated string field, decoded as UTF-8. */
export function readString(block: Uint8Array, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return decoder.decode(end === -1 ? field : field.subarray(0, end));
}

/** Parses an octal (or GNU base-256) numeric field. */
export function readNumber(
  block: Uint8Array,
  offset: number,
  length: number,
  field: string,
  at: number,
): number {
  const first = block[offset]!;
  if (first & 0x80) {
    let value = 0n;
    for (let i = 1; i < length; i++) value = (value << 8n) | BigInt(block[offset + i]!);
    if (first === 0xff) value -= 1n << BigInt(8 * (length - 1));
    else value |= BigInt(first & 0x7f) << BigInt(8 * (length - 1));
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
      throw invalid(`Tar header at byte ${at}: ${field} field is out of range`);
    }
    return Number(value);
  }
  let i = offset;
  const end = offset + length;
  while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
  let value = 0;
  for (; i < end; i++) {
    const byte = block[i]!;
    if (byte === 0 || byte === 0x20) break;
    if (byte < 0x30 || byte > 0x37) {
      throw invalid(`Tar header at byte ${at}: ${field} field is not an octal number`);
    }
    value = value * 8 + (byte - 0x30);
  }
  return value;
}

/** Whether a block is all zeros (an end-of-archive block). */
export function isZeroBlock(block: Uint8Array): boolean {
  for (const byte of block) if (byte !== 0) return false;
  return true;
}

/** An `INVALID_TAR` error naming the compression whose magic bytes start the input, if any. */
export function notTar(first: Uint8Array): DockerProtocolError | null {
  let kind: string | null = null;
  if (first[0] === 0x1f && first[1] === 0x8b) kind = "gzip";
  else if (first[0] === 0x42 && first[1] === 0x5a && first[2] === 0x68) kind = "bzip2";
  else if (first[0] === 0xfd && first[1] === 0x37 && first[2] === 0x7a && first[3] === 0x58) {
    kind = "xz";
  } else if (first[0] === 0x28 && first[1] === 0xb5 && first[2] === 0x2f && first[3] === 0xfd) {
    kind = "zstd";
  }
  if (kind === null) return null;
  return invalid(
    `Tar input is ${kind}-compressed, not a tar archive: decompress it first (DecompressionStream)`,
  );
}

/** Whether the stored checksum matches the unsigned (or, for old writers, signed) sum. */
export function checksumMatches(block: Uint8Array, at: number): boolean {
  let stored: number;
  try {
    stored = readNumber(block, 148, 8, "checksum", at);
  } catch {
    return false; // not a number: as bad as a wrong one
  }
  let unsigned = 8 * 0x20;
  let signed = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) {
    if (i >= 148 && i < 156) continue;
    const byte = block[i]!;
    unsigned += byte;
    signed += byte >= 0x80 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

/** Parses PAX records into `into`; `""` values are kept (they mean "unset"). */
export function parsePax(data: Uint8Array, into: Map<string, string>, at: number): void {
  let i = 0;
  while (i < data.length) {
    if (data[i] === 0) break; // some writers pad the records with NULs
    let length = 0;
    let j = i;
    while (j < data.length && data[j]! >= 0x30 && data[j]! <= 0x39) {
      length = length * 10 + (data[j++]! - 0x30);
    }
    if (
      j === i || data[j] !== 0x20 || length <= j - i + 1 || i + length > data.length ||
      data[i + length - 1] !== 0x0a
    ) {
      throw invalid(`PAX header at byte ${at}: malformed record at offset ${i}`);
    }
    const record = decoder.decode(data.subarray(j + 1, i + length - 1));
    const equals = record.indexOf("=");
    if (equals <= 0) throw invalid(`PAX header at byte ${at}: record without a key at offset ${i}`);
    into.set(record.slice(0, equals), record.slice(equals + 1));
    i += length;
  }
}

/** Parses a PAX numeric value (`fractional` allows a sign and a fraction, as for `mtime`). */
export function paxNumber(value: string, key: string, at: number, fractional: boolean): number {
  const pattern = fractional ? /^-?\d+(\.\d+)?$/ : /^\d+$/;
  const number = Number(value);
  if (
    !pattern.test(value) || !Number.isFinite(number) || Math.abs(number) > Number.MAX_SAFE_INTEGER
  ) {
    throw invalid(
      `PAX header before byte ${at}: ${key} is not a valid number (${JSON.stringify(value)})`,
    );
  }
  return number;
}
