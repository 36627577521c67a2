/**
 * Helpers for the tar and extraction tests: raw header blocks (for archives
 * the writer refuses to make), byte collection and re-chunking.
 *
 * @module
 */

const encoder = new TextEncoder();

/** Fields of a hand-made header block. */
export interface RawHeader {
  name: string;
  typeflag?: string;
  size?: number;
  mode?: number;
  mtime?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  uname?: string;
  prefix?: string;
  /** Checksum to write instead of the right one. */
  checksum?: number;
  /** Magic and version: "ustar\000" (POSIX), "ustar  \0" (GNU) or "" (V7). */
  magic?: string;
}

function octal(block: Uint8Array, offset: number, length: number, value: number): void {
  block.set(encoder.encode(value.toString(8).padStart(length - 1, "0")), offset);
}

/** One 512-byte header block with a correct (or the given) checksum. */
export function rawHeader(fields: RawHeader): Uint8Array {
  const block = new Uint8Array(512);
  block.set(encoder.encode(fields.name).subarray(0, 100), 0);
  octal(block, 100, 8, fields.mode ?? 0o644);
  octal(block, 108, 8, fields.uid ?? 0);
  octal(block, 116, 8, fields.gid ?? 0);
  octal(block, 124, 12, fields.size ?? 0);
  octal(block, 136, 12, fields.mtime ?? 0);
  block[156] = (fields.typeflag ?? "0").charCodeAt(0);
  block.set(encoder.encode(fields.linkname ?? "").subarray(0, 100), 157);
  block.set(encoder.encode(fields.magic ?? "ustar\x0000"), 257);
  block.set(encoder.encode(fields.uname ?? ""), 265);
  block.set(encoder.encode(fields.prefix ?? ""), 345);
  let sum = 8 * 32;
  for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += block[i]!;
  octal(block, 148, 7, fields.checksum ?? sum);
  block[155] = 0x20;
  return block;
}

/** A PAX extended header (`x` or `g`) with its records, padded. */
export function paxHeader(typeflag: "x" | "g", records: Record<string, string>): Uint8Array {
  let text = "";
  for (const [key, value] of Object.entries(records)) {
    const rest = encoder.encode(` ${key}=${value}\n`).length;
    let digits = 1;
    while (String(rest + digits).length !== digits) digits = String(rest + digits).length;
    text += `${rest + digits} ${key}=${value}\n`;
  }
  const data = encoder.encode(text);
  return concat([rawHeader({ name: "pax", typeflag, size: data.length }), padded(data)]);
}

/** `data` followed by zeros up to a 512-byte boundary. */
export function padded(data: Uint8Array | string): Uint8Array {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  const out = new Uint8Array(Math.ceil(bytes.length / 512) * 512);
  out.set(bytes);
  return out;
}

/** The two zero blocks that end an archive. */
export const END = new Uint8Array(1024);

/** Joins byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Reads a byte stream to its end. */
export async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of stream) parts.push(part);
  return concat(parts);
}

/** A stream of `bytes` cut at the given offsets. */
export function splitAt(bytes: Uint8Array, ...offsets: number[]): ReadableStream<Uint8Array> {
  const parts: Uint8Array[] = [];
  let start = 0;
  for (const offset of [...offsets, bytes.length]) {
    parts.push(bytes.slice(start, offset));
    start = offset;
  }
  return ReadableStream.from(parts);
}

/** A stream of `bytes` in pieces of `size`. */
export function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.slice(i, i + size));
  return ReadableStream.from(parts);
}

/** A deterministic byte pattern of `size` bytes starting at `offset`. */
export function pattern(size: number, offset = 0): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = ((offset + i) * 31 + ((offset + i) >> 9)) & 0xff;
  return out;
}
