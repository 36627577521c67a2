/**
 * HPACK (RFC 7541), the header compression of HTTP/2, for berth's small
 * HTTP/2 server (the BuildKit session the engine opens to answer gRPC
 * calls).
 *
 * {@linkcode HpackDecoder} decodes everything a peer may send: the static
 * table, the dynamic table (incremental indexing, eviction, size updates)
 * and Huffman-coded strings. {@linkcode encodeHeaderBlock} encodes the
 * simple response headers berth sends without a dynamic table: indexed
 * static fields and literals without indexing, strings sent raw.
 *
 * Nothing here knows about frames: the caller joins the fragments of a
 * HEADERS frame and its CONTINUATION frames before decoding, and treats a
 * decoding error as a connection error of type COMPRESSION_ERROR.
 *
 * @module
 */

import { DockerProtocolError } from "../errors.ts";
import { HUFFMAN_CODES, HUFFMAN_EOS, HUFFMAN_LENGTHS, HUFFMAN_SYMBOLS } from "./_huffman_table.ts";

/** The static table (RFC 7541 Appendix A); index 1 is `STATIC_TABLE[0]`. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
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
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

/** Overhead the RFC adds to every entry's size and every field's list size (§4.1). */
const ENTRY_OVERHEAD = 32;
/** Largest integer accepted in a block: anything larger is no real length, index or size. */
const MAX_INTEGER = 0xffff_ffff;
/** Continuation bytes of an integer beyond its prefix: 5 × 7 bits cover 2^32 − 1. */
const MAX_CONTINUATION_BYTES = 5;
const DEFAULT_TABLE_SIZE = 4096;
const DEFAULT_LIST_SIZE = 1 << 20;

const utf8Decoder = new TextDecoder();
const utf8Encoder = new TextEncoder();

function invalid(message: string): DockerProtocolError {
  return new DockerProtocolError("INVALID_HTTP2", `Invalid HPACK header block: ${message}`);
}

/**
 * The Huffman code as a binary tree, built once: node `n` has its children
 * at `HUFFMAN_TREE[2n]` (bit 0) and `HUFFMAN_TREE[2n + 1]` (bit 1); a child
 * ≥ 0 is another node, a child < 0 is the leaf of symbol `-child - 1`.
 * The root is node 0. The code is complete, so no child is left unset.
 */
const HUFFMAN_TREE: Int32Array = (() => {
  const tree = new Int32Array(2 * (HUFFMAN_SYMBOLS - 1));
  let nodes = 1;
  for (let symbol = 0; symbol < HUFFMAN_SYMBOLS; symbol++) {
    const code = HUFFMAN_CODES[symbol]!;
    const length = HUFFMAN_LENGTHS[symbol]!;
    let node = 0;
    for (let bit = length - 1; bit > 0; bit--) {
      const slot = 2 * node + ((code >>> bit) & 1);
      if (tree[slot] === 0) tree[slot] = nodes++;
      node = tree[slot]!;
    }
    tree[2 * node + (code & 1)] = -symbol - 1;
  }
  return tree;
})();

/**
 * Decodes a Huffman-coded string (RFC 7541 §5.2), one bit at a time.
 * At most `limit` octets may come out.
 */
function huffmanDecode(bytes: Uint8Array, limit: number): Uint8Array {
  // Every code is at least 5 bits long.
  const out = new Uint8Array(Math.min(Math.floor((bytes.length * 8) / 5), limit + 1));
  let length = 0;
  let node = 0;
  // Bits read since the last symbol, and whether they were all ones.
  let pending = 0;
  let ones = true;
  for (const byte of bytes) {
    for (let shift = 7; shift >= 0; shift--) {
      const bit = (byte >>> shift) & 1;
      const next = HUFFMAN_TREE[2 * node + bit]!;
      pending++;
      if (bit === 0) ones = false;
      if (next >= 0) {
        node = next;
        continue;
      }
      const symbol = -next - 1;
      if (symbol === HUFFMAN_EOS) throw invalid("a Huffman-coded string contains EOS");
      if (length >= limit) {
        throw invalid(`a Huffman-coded string decodes to more than the ${limit} octets left`);
      }
      out[length++] = symbol;
      node = 0;
      pending = 0;
      ones = true;
    }
  }
  if (pending > 7) throw invalid(`a Huffman-coded string ends with ${pending} bits of padding`);
  if (!ones) throw invalid("the padding of a Huffman-coded string is not all ones");
  return out.subarray(0, length);
}

/** A header field as the tables keep it: text plus octet counts as received. */
interface Entry {
  name: string;
  value: string;
  /** Octets of the name as received. */
  nameOctets: number;
  /** Octets of the value as received. */
  valueOctets: number;
}

const STATIC_ENTRIES: readonly Entry[] = STATIC_TABLE.map(([name, value]) => ({
  name,
  value,
  nameOctets: name.length,
  valueOctets: value.length,
}));

/** A decoded string: its text and its octet count as received (after Huffman decoding). */
interface Octets {
  text: string;
  octets: number;
}

/** A cursor over one header block. */
class BlockReader {
  readonly #bytes: Uint8Array;
  #at = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  get done(): boolean {
    return this.#at >= this.#bytes.length;
  }

  get offset(): number {
    return this.#at;
  }

  /** The next byte, not consumed. */
  peek(): number {
    return this.#bytes[this.#at]!;
  }

  /** An integer with an N-bit prefix (RFC 7541 §5.1), starting at the current byte. */
  integer(prefixBits: number): number {
    const start = this.#at;
    const mask = (1 << prefixBits) - 1;
    let value = this.#byte(start) & mask;
    if (value < mask) return value;
    let scale = 1;
    for (let i = 0; i < MAX_CONTINUATION_BYTES; i++) {
      const byte = this.#byte(start);
      value += (byte & 0x7f) * scale;
      if (value > MAX_INTEGER) throw invalid(`the integer at byte ${start} exceeds 2^32 - 1`);
      if (byte < 0x80) return value;
      scale *= 128;
    }
    throw invalid(
      `the integer at byte ${start} has more than ${MAX_CONTINUATION_BYTES} continuation bytes`,
    );
  }

  /**
   * A string literal (RFC 7541 §5.2), Huffman-coded or raw, of at most
   * `limit` octets once decoded.
   */
  string(limit: number): Octets {
    const start = this.#at;
    if (this.done) throw invalid(`a string is missing at byte ${start}`);
    const huffman = (this.peek() & 0x80) !== 0;
    const length = this.integer(7);
    if (length > this.#bytes.length - this.#at) {
      throw invalid(
        `the string at byte ${start} is ${length} octets long but only ${
          this.#bytes.length - this.#at
        } remain`,
      );
    }
    const raw = this.#bytes.subarray(this.#at, this.#at + length);
    this.#at += length;
    if (!huffman) {
      if (length > limit) {
        throw invalid(
          `the string at byte ${start} is ${length} octets long, more than the ${limit} left`,
        );
      }
      return { text: utf8Decoder.decode(raw), octets: length };
    }
    const decoded = huffmanDecode(raw, limit);
    return { text: utf8Decoder.decode(decoded), octets: decoded.length };
  }

  #byte(start: number): number {
    if (this.done) throw invalid(`the integer at byte ${start} runs past the end of the block`);
    return this.#bytes[this.#at++]!;
  }
}

/**
 * Decodes the header blocks of one HTTP/2 connection, in the order they
 * arrive, keeping the dynamic table between blocks (RFC 7541). Accepts
 * every representation a peer may use: indexed fields, literals with or
 * without indexing or never indexed, raw or Huffman-coded strings, and
 * dynamic table size updates at the start of a block.
 *
 * A block that fails to decode leaves the dynamic table in an unknown
 * state, so the decoder refuses every later block: the connection must
 * end (a connection error of type COMPRESSION_ERROR).
 *
 * @example Decode the first request of RFC 7541 Appendix C.3
 * ```ts
 * import assert from "node:assert/strict";
 * import { HpackDecoder } from "./hpack.ts";
 *
 * const decoder = new HpackDecoder();
 * const block = Uint8Array.fromHex("828684410f7777772e6578616d706c652e636f6d");
 * assert.deepEqual(decoder.decode(block), [
 *   [":method", "GET"],
 *   [":scheme", "http"],
 *   [":path", "/"],
 *   [":authority", "www.example.com"],
 * ]);
 * // The next block refers to ":authority" through the dynamic table (index 62).
 * assert.deepEqual(decoder.decode(Uint8Array.fromHex("be")), [[":authority", "www.example.com"]]);
 * ```
 */
export class HpackDecoder {
  readonly #maxTableSize: number;
  /** The table size the peer chose (at most `#maxTableSize`). */
  #capacity: number;
  /** Dynamic table, oldest first from `#head`: index 62 is the last element. */
  #entries: Entry[] = [];
  #head = 0;
  /** Sum of the entries' sizes, in octets. */
  #size = 0;
  #failed = false;

  /**
   * Creates a decoder with an empty dynamic table.
   *
   * @param maxTableSize The SETTINGS_HEADER_TABLE_SIZE we announced: the
   *   dynamic table's size to start with, and the largest a size update
   *   may ask for. Defaults to 4096, the value of HTTP/2 when none is
   *   announced.
   * @throws {RangeError} When `maxTableSize` is not an integer from 0 to 2^32 - 1.
   */
  constructor(maxTableSize: number = DEFAULT_TABLE_SIZE) {
    if (!Number.isInteger(maxTableSize) || maxTableSize < 0 || maxTableSize > MAX_INTEGER) {
      throw new RangeError(
        `Cannot create an HPACK decoder: maxTableSize ${maxTableSize} is not ` +
          "an integer from 0 to 2^32 - 1",
      );
    }
    this.#maxTableSize = maxTableSize;
    this.#capacity = maxTableSize;
  }

  /**
   * Decodes one complete header block: the fragments of a HEADERS frame
   * and its CONTINUATION frames, joined. Updates the dynamic table as the
   * block says.
   *
   * @param block The header block.
   * @param maxListSize Limit on the block's header list size: the sum of
   *   name octets + value octets + 32 over its fields (the
   *   SETTINGS_MAX_HEADER_LIST_SIZE we announced). Defaults to 1 MiB.
   * @returns The fields in order, names as sent (lowercase in HTTP/2);
   *   names and values are decoded as UTF-8, invalid sequences replaced.
   * @throws {DockerProtocolError} With code `INVALID_HTTP2` when the block
   *   is malformed (truncated, an integer beyond 2^32 - 1, an index of 0 or
   *   past the tables, a size update too large or after a field, bad
   *   Huffman padding or EOS), when it exceeds `maxListSize`, or when an
   *   earlier block failed.
   * @throws {RangeError} When `maxListSize` is negative or not a number.
   */
  decode(
    block: Uint8Array,
    maxListSize: number = DEFAULT_LIST_SIZE,
  ): [name: string, value: string][] {
    if (!(maxListSize >= 0)) {
      throw new RangeError(
        `Cannot decode an HPACK header block: maxListSize ${maxListSize} is not ≥ 0`,
      );
    }
    if (this.#failed) throw invalid("an earlier block of this connection failed to decode");
    try {
      return this.#decode(block, maxListSize);
    } catch (error) {
      this.#failed = true;
      throw error;
    }
  }

  #decode(block: Uint8Array, maxListSize: number): [name: string, value: string][] {
    const reader = new BlockReader(block);
    const fields: [name: string, value: string][] = [];
    let listSize = 0;
    const left = () => Math.max(0, maxListSize - listSize - ENTRY_OVERHEAD);
    while (!reader.done) {
      const start = reader.offset;
      const first = reader.peek();
      let entry: Entry;
      let index = false;
      if (first >= 0x80) {
        // Indexed header field (§6.1).
        entry = this.#lookup(reader.integer(7), start);
      } else if ((first & 0xe0) === 0x20) {
        // Dynamic table size update (§6.3), only before the first field (§4.2).
        const size = reader.integer(5);
        if (fields.length > 0) {
          throw invalid(`a dynamic table size update at byte ${start} follows a header field`);
        }
        if (size > this.#maxTableSize) {
          throw invalid(
            `a dynamic table size update at byte ${start} asks for ${size} octets, ` +
              `more than the ${this.#maxTableSize} allowed`,
          );
        }
        this.#capacity = size;
        this.#evict(size);
        continue;
      } else {
        // Literal header field (§6.2): with incremental indexing (01, 6-bit
        // prefix), without indexing (0000) or never indexed (0001, 4-bit prefix).
        index = first >= 0x40;
        const nameIndex = reader.integer(index ? 6 : 4);
        let name: Octets;
        if (nameIndex === 0) {
          name = reader.string(left());
        } else {
          const named = this.#lookup(nameIndex, start);
          name = { text: named.name, octets: named.nameOctets };
        }
        const value = reader.string(Math.max(0, left() - name.octets));
        entry = {
          name: name.text,
          value: value.text,
          nameOctets: name.octets,
          valueOctets: value.octets,
        };
      }
      listSize += entry.nameOctets + entry.valueOctets + ENTRY_OVERHEAD;
      if (listSize > maxListSize) {
        throw invalid(`the header list exceeds ${maxListSize} octets at byte ${start}`);
      }
      fields.push([entry.name, entry.value]);
      if (index) this.#insert(entry);
    }
    return fields;
  }

  /** The entry at an index of the static and dynamic tables (§2.3.3). */
  #lookup(index: number, start: number): Entry {
    if (index === 0) throw invalid(`index 0 at byte ${start}`);
    if (index <= STATIC_ENTRIES.length) return STATIC_ENTRIES[index - 1]!;
    const count = this.#entries.length - this.#head;
    const position = index - STATIC_ENTRIES.length;
    if (position > count) {
      throw invalid(
        `index ${index} at byte ${start} is past the static and dynamic tables (${
          STATIC_ENTRIES.length + count
        } entries)`,
      );
    }
    return this.#entries[this.#entries.length - position]!;
  }

  /** Adds an entry, evicting the oldest ones to make room (§4.4). */
  #insert(entry: Entry): void {
    const size = entry.nameOctets + entry.valueOctets + ENTRY_OVERHEAD;
    if (size > this.#capacity) {
      // An entry larger than the table empties it and is not added.
      this.#evict(0);
      return;
    }
    this.#evict(this.#capacity - size);
    this.#entries.push(entry);
    this.#size += size;
  }

  /** Evicts the oldest entries until the table's size is at most `target`. */
  #evict(target: number): void {
    while (this.#size > target) {
      const oldest = this.#entries[this.#head]!;
      this.#size -= oldest.nameOctets + oldest.valueOctets + ENTRY_OVERHEAD;
      this.#head++;
    }
    if (this.#head === this.#entries.length) {
      this.#entries = [];
      this.#head = 0;
    } else if (this.#head > 64 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }
}

/** Static index of each name (its first entry) and of each name and value. */
const STATIC_NAMES = new Map<string, number>();
const STATIC_FIELDS = new Map<string, Map<string, number>>();
STATIC_TABLE.forEach(([name, value], i) => {
  if (!STATIC_NAMES.has(name)) STATIC_NAMES.set(name, i + 1);
  let values = STATIC_FIELDS.get(name);
  if (values === undefined) {
    values = new Map();
    STATIC_FIELDS.set(name, values);
  }
  values.set(value, i + 1);
});

/** Appends an integer with an N-bit prefix (§5.1); `flags` fills the prefix byte's high bits. */
function pushInteger(out: number[], flags: number, prefixBits: number, value: number): void {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out.push(flags | value);
    return;
  }
  out.push(flags | mask);
  value -= mask;
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
}

/** Appends a raw (not Huffman-coded) string literal (§5.2). */
function pushString(out: number[], text: string): void {
  const octets = utf8Encoder.encode(text);
  pushInteger(out, 0x00, 7, octets.length);
  for (const octet of octets) out.push(octet);
}

/**
 * Encodes a header block without touching any dynamic table, so the
 * peer's decoder state never depends on ours: a field whose name and value
 * are both in the static table becomes an indexed field (`[":status",
 * "200"]` → `0x88`); a field whose name is in the static table becomes a
 * literal without indexing with an indexed name; any other becomes a
 * literal without indexing with a new name. Strings are sent raw (no
 * Huffman), encoded as UTF-8.
 *
 * @param fields The fields in order, as `[name, value]` pairs; names must
 *   be lowercase, as HTTP/2 requires.
 * @returns The header block, to send in a HEADERS frame (and CONTINUATION
 *   frames if it does not fit in one).
 * @throws {TypeError} When a name or value is not a string, or a name has
 *   an uppercase letter.
 *
 * @example Encode the headers of a gRPC response
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeHeaderBlock, HpackDecoder } from "./hpack.ts";
 *
 * const fields: [string, string][] = [[":status", "200"], ["content-type", "application/grpc"]];
 * const block = encodeHeaderBlock(fields);
 * assert.equal(block[0], 0x88); // ":status: 200" is static index 8
 * assert.deepEqual(new HpackDecoder().decode(block), fields);
 * ```
 */
export function encodeHeaderBlock(fields: readonly (readonly [string, string])[]): Uint8Array {
  const out: number[] = [];
  for (const [name, value] of fields) {
    if (typeof name !== "string" || typeof value !== "string") {
      throw new TypeError(
        `Cannot encode header field ${String(name)}: names and values must be strings`,
      );
    }
    if (/[A-Z]/.test(name)) {
      throw new TypeError(
        `Cannot encode header field "${name}": HTTP/2 field names must be lowercase`,
      );
    }
    const indexed = STATIC_FIELDS.get(name)?.get(value);
    if (indexed !== undefined) {
      pushInteger(out, 0x80, 7, indexed);
      continue;
    }
    const nameIndex = STATIC_NAMES.get(name);
    if (nameIndex !== undefined) {
      pushInteger(out, 0x00, 4, nameIndex);
    } else {
      out.push(0x00);
      pushString(out, name);
    }
    pushString(out, value);
  }
  return new Uint8Array(out);
}
