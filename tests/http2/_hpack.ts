/**
 * HPACK (RFC 7541) written here from the RFC, for the HTTP/2 tests: the
 * encoding of integers and string literals (Huffman-coded or not), the
 * static table, and a random encoder that uses every representation and
 * keeps its own dynamic table. Only the Huffman code table comes from
 * `src/http2`, so that the tests check the decoder against an independent
 * reading of the RFC.
 *
 * @module
 */

import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from "../../src/http2/_huffman_table.ts";
import { type Random, sameBytes } from "../_fuzz.ts";
import { type Fields, utf8 } from "./_client.ts";

/**
 * An integer with an N-bit prefix (§5.1), `flags` in the first byte's high bits.
 *
 * @param flags The first byte's bits above the prefix.
 * @param prefixBits The prefix's width.
 * @param value The integer.
 * @returns The bytes.
 */
export function hpackInteger(flags: number, prefixBits: number, value: number): number[] {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) return [flags | value];
  const out = [flags | mask];
  value -= mask;
  while (value >= 128) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/**
 * Huffman-codes octets with the table the decoder uses (Appendix B),
 * padded with the high bits of EOS (all ones).
 *
 * @param octets The string's octets.
 * @returns The code.
 */
export function huffmanEncode(octets: Uint8Array): number[] {
  const out: number[] = [];
  let byte = 0;
  let bits = 0;
  for (const symbol of octets) {
    const code = HUFFMAN_CODES[symbol]!;
    for (let shift = HUFFMAN_LENGTHS[symbol]! - 1; shift >= 0; shift--) {
      byte = (byte << 1) | ((code >>> shift) & 1);
      if (++bits === 8) {
        out.push(byte);
        byte = 0;
        bits = 0;
      }
    }
  }
  if (bits > 0) out.push((byte << (8 - bits)) | ((1 << (8 - bits)) - 1));
  return out;
}

/**
 * A string literal (§5.2), raw or Huffman-coded.
 *
 * @param text The string (as UTF-8), or its octets.
 * @param huffman Whether to Huffman-code it.
 * @returns The bytes.
 */
export function hpackString(text: string | Uint8Array, huffman = false): number[] {
  const octets = typeof text === "string" ? utf8.encode(text) : text;
  if (!huffman) return [...hpackInteger(0x00, 7, octets.length), ...octets];
  const coded = huffmanEncode(octets);
  return [...hpackInteger(0x80, 7, coded.length), ...coded];
}

/** RFC 7541 Appendix A, copied here on purpose: the tests' own reference, not the decoder's table. */
export const STATIC: readonly (readonly [string, string])[] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ...[
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "accept",
    "access-control-allow-origin",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-range",
    "content-type",
    "cookie",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "link",
    "location",
    "max-forwards",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "refresh",
    "retry-after",
    "server",
    "set-cookie",
    "strict-transport-security",
    "transfer-encoding",
    "user-agent",
    "vary",
    "via",
    "www-authenticate",
  ].map((name) => [name, name === "accept-encoding" ? "gzip, deflate" : ""] as const),
];

/** A dynamic table entry: name and value as octets (sizes count octets, §4.1). */
export interface TableEntry {
  name: Uint8Array;
  value: Uint8Array;
}

/** The dynamic table of RFC 7541 §2.3.2 and §4, newest entry first. */
export class DynamicTable {
  entries: TableEntry[] = [];
  size = 0;
  capacity: number;

  /** @param capacity The table's size to start with. */
  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** Sets the capacity (a size update), evicting what no longer fits. */
  resize(capacity: number): void {
    this.capacity = capacity;
    this.#evict(capacity);
  }

  /** Adds an entry (§4.4): an entry larger than the table empties it. */
  insert(entry: TableEntry): void {
    const size = entry.name.length + entry.value.length + 32;
    if (size > this.capacity) {
      this.#evict(0);
      return;
    }
    this.#evict(this.capacity - size);
    this.entries.unshift(entry);
    this.size += size;
  }

  #evict(target: number): void {
    while (this.size > target) {
      const old = this.entries.pop()!;
      this.size -= old.name.length + old.value.length + 32;
    }
  }
}

/** A string's UTF-8 octets. */
export const octetsOf = (text: string): Uint8Array => utf8.encode(text);
/** The static table as octets. */
export const STATIC_OCTETS: readonly TableEntry[] = STATIC.map(([name, value]) => ({
  name: octetsOf(name),
  value: octetsOf(value),
}));

/**
 * An HPACK encoder that picks a random representation for each field
 * (indexed, literal with incremental indexing, without indexing, never
 * indexed; names indexed or literal; strings raw or Huffman-coded) and
 * random dynamic table size updates, keeping its own copy of the table.
 */
export class RandomEncoder {
  readonly table: DynamicTable;
  readonly #max: number;

  /** @param max The decoder's SETTINGS_HEADER_TABLE_SIZE. */
  constructor(max: number) {
    this.#max = max;
    this.table = new DynamicTable(max);
  }

  /**
   * Encodes one header block.
   *
   * @param random The random source.
   * @param fields The fields.
   * @returns The block.
   */
  encode(random: Random, fields: Fields): number[] {
    const out: number[] = [];
    // Up to two size updates at the start of the block (§4.2).
    for (let n = random.int(5) === 0 ? 1 + random.int(2) : 0; n > 0; n--) {
      const size = random.pick([0, this.#max, random.int(this.#max + 1)]);
      out.push(...hpackInteger(0x20, 5, size));
      this.table.resize(size);
    }
    for (const [nameText, valueText] of fields) {
      const name = octetsOf(nameText);
      const value = octetsOf(valueText);
      const exact = this.#find(name, value);
      if (exact !== undefined && random.next() < 0.6) {
        out.push(...hpackInteger(0x80, 7, exact));
        continue;
      }
      const kind = random.int(3); // 0: incremental indexing, 1: without, 2: never indexed.
      const [flags, prefix] = kind === 0 ? [0x40, 6] : kind === 1 ? [0x00, 4] : [0x10, 4];
      const nameIndex = random.next() < 0.7 ? this.#findName(name) : undefined;
      if (nameIndex !== undefined) out.push(...hpackInteger(flags, prefix, nameIndex));
      else out.push(flags, ...hpackString(name, random.next() < 0.5));
      out.push(...hpackString(value, random.next() < 0.5));
      if (kind === 0) this.table.insert({ name, value });
    }
    return out;
  }

  #find(name: Uint8Array, value: Uint8Array): number | undefined {
    const candidates: number[] = [];
    STATIC_OCTETS.forEach((entry, i) => {
      if (sameBytes(entry.name, name) && sameBytes(entry.value, value)) candidates.push(i + 1);
    });
    this.table.entries.forEach((entry, i) => {
      if (sameBytes(entry.name, name) && sameBytes(entry.value, value)) {
        candidates.push(STATIC.length + 1 + i);
      }
    });
    return candidates.length === 0 ? undefined : candidates[candidates.length - 1];
  }

  #findName(name: Uint8Array): number | undefined {
    const at = STATIC_OCTETS.findIndex((entry) => sameBytes(entry.name, name));
    if (at >= 0) return at + 1;
    const dynamic = this.table.entries.findIndex((entry) => sameBytes(entry.name, name));
    return dynamic >= 0 ? STATIC.length + 1 + dynamic : undefined;
  }
}

/** Characters field values are made of: ASCII, two-, three- and four-byte UTF-8. */
const VALUE_CHARS = [..."abcXYZ0189 -_/.:;=,\"'é日本😀"];
/** Names: some static, some gRPC, some made up. */
const NAME_POOL = [
  ":authority",
  ":method",
  ":path",
  ":scheme",
  "content-type",
  "user-agent",
  "accept-encoding",
  "te",
  "grpc-timeout",
  "grpc-accept-encoding",
  "x-docker-expose-session-uuid",
];

/**
 * A random header list: names from the pool or made up, values from the
 * static table, random text, sometimes long, sometimes repeated.
 *
 * @param random The random source.
 * @param count How many fields.
 * @returns The fields.
 */
export function randomFields(random: Random, count: number): Fields {
  const out: Fields = [];
  for (let i = 0; i < count; i++) {
    if (out.length > 0 && random.int(5) === 0) {
      out.push([...random.pick(out)]);
      continue;
    }
    const name = random.next() < 0.6
      ? random.pick(NAME_POOL)
      : Array.from({ length: 1 + random.int(20) }, () =>
        "abcdefghijklmnopqrstuvwxyz0123456789-"[random.int(37)]).join("");
    let value: string;
    const shape = random.int(6);
    if (shape === 0) value = random.pick(STATIC)[1];
    else if (shape === 1) value = "v".repeat(100 + random.int(300)); // Multi-byte lengths.
    else value = Array.from({ length: random.int(24) }, () => random.pick(VALUE_CHARS)).join("");
    out.push([name, value]);
  }
  return out;
}
