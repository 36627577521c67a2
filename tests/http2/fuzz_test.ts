/**
 * Seeded fuzz tests of the HTTP/2 side of the BuildKit session, whose bytes
 * all come from the engine: the HPACK decoder against an encoder and a
 * reference decoder written here from RFC 7541, and serveHttp2 driven with
 * random valid frame sequences cut at random offsets, damaged copies of
 * them, and hostile frames. `BERTH_FUZZ_SEED` and `BERTH_FUZZ_CASES` (see
 * `tests/_fuzz.ts`) replay a failure or run longer.
 */

import assert from "node:assert/strict";
import { DockerProtocolError } from "../../src/errors.ts";
import { encodeHeaderBlock, HpackDecoder } from "../../src/http2/hpack.ts";
import type {
  Http2Request,
  Http2ServerOptions,
  Http2StreamHandler,
} from "../../src/http2/server.ts";
import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from "../../src/http2/_huffman_table.ts";
import { fuzzCases, fuzzSeed, mutate, Random, randomSplit } from "../_fuzz.ts";
import {
  ACK,
  CANCEL,
  COMPRESSION_ERROR,
  concat,
  connect,
  CONTINUATION,
  DATA,
  END_HEADERS,
  END_STREAM,
  type FakeClient,
  type Fields,
  FLOW_CONTROL_ERROR,
  frame,
  FRAME_SIZE_ERROR,
  GOAWAY,
  HEADERS,
  INTERNAL_ERROR,
  NO_ERROR,
  PADDED,
  PING,
  PREFACE,
  PRIORITY,
  PRIORITY_FLAG,
  PROTOCOL_ERROR,
  PUSH_PROMISE,
  REFUSED_STREAM,
  requestFields,
  RST_STREAM,
  SETTINGS,
  SETTINGS_ENABLE_PUSH,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_CONCURRENT_STREAMS,
  SETTINGS_MAX_FRAME_SIZE,
  SETTINGS_MAX_HEADER_LIST_SIZE,
  settingsFrame,
  start,
  stop,
  u32,
  utf8,
  WINDOW_UPDATE,
  windowUpdate,
} from "./_client.ts";

/** Error code STREAM_CLOSED (RFC 9113 §7). */
const STREAM_CLOSED = 0x5;
/** Setting SETTINGS_HEADER_TABLE_SIZE. */
const SETTINGS_HEADER_TABLE_SIZE = 0x1;
/** Largest integer the decoder takes (RFC 7541 leaves the limit to it). */
const MAX_INTEGER = 0xffff_ffff;

// ---------------------------------------------------------------------------
// Shared helpers

/**
 * Names a failing case so it replays: seed, case index and the input,
 * hex-escaped and cut to its first 96 bytes.
 *
 * @param seed The seed the case's random source started from.
 * @param index The case's index.
 * @param input The bytes the case sent.
 * @returns The description.
 */
function describe(seed: number, index: number, input: Uint8Array): string {
  const more = input.length > 96 ? `… (${input.length} bytes)` : "";
  return `seed ${seed}, case ${index}, input ${input.subarray(0, 96).toHex()}${more}`;
}

/**
 * Settles like `promise`, or rejects when it takes longer than `ms`: a hang
 * becomes a failure that names the case.
 *
 * @param promise What to wait for.
 * @param ms The time allowed.
 * @param what The case, for the message.
 * @returns What `promise` resolved with.
 */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no progress within ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------
// HPACK (RFC 7541), written here from the RFC: the static table, an encoder
// that uses every representation, and a reference decoder.

/** RFC 7541 Appendix A. */
const STATIC: readonly (readonly [string, string])[] = [
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
interface TableEntry {
  name: Uint8Array;
  value: Uint8Array;
}

/** The dynamic table of RFC 7541 §2.3.2 and §4, newest entry first. */
class DynamicTable {
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

const octetsOf = (text: string): Uint8Array => utf8.encode(text);
/** The static table as octets. */
const STATIC_OCTETS: readonly TableEntry[] = STATIC.map(([name, value]) => ({
  name: octetsOf(name),
  value: octetsOf(value),
}));
const sameOctets = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((byte, i) => byte === b[i]);

/** An integer with an N-bit prefix (§5.1), `flags` in the first byte's high bits. */
function hpackInteger(flags: number, prefixBits: number, value: number): number[] {
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

/** Huffman-codes octets (Appendix B), padded with the high bits of EOS. */
function huffman(octets: Uint8Array): number[] {
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

/** A string literal (§5.2), raw or Huffman-coded. */
function hpackString(octets: Uint8Array, coded: boolean): number[] {
  if (!coded) return [...hpackInteger(0x00, 7, octets.length), ...octets];
  const bytes = huffman(octets);
  return [...hpackInteger(0x80, 7, bytes.length), ...bytes];
}

/**
 * An HPACK encoder that picks a random representation for each field
 * (indexed, literal with incremental indexing, without indexing, never
 * indexed; names indexed or literal; strings raw or Huffman-coded) and
 * random dynamic table size updates, keeping its own copy of the table.
 */
class RandomEncoder {
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
      if (sameOctets(entry.name, name) && sameOctets(entry.value, value)) candidates.push(i + 1);
    });
    this.table.entries.forEach((entry, i) => {
      if (sameOctets(entry.name, name) && sameOctets(entry.value, value)) {
        candidates.push(STATIC.length + 1 + i);
      }
    });
    return candidates.length === 0 ? undefined : candidates[candidates.length - 1];
  }

  #findName(name: Uint8Array): number | undefined {
    const at = STATIC_OCTETS.findIndex((entry) => sameOctets(entry.name, name));
    if (at >= 0) return at + 1;
    const dynamic = this.table.entries.findIndex((entry) => sameOctets(entry.name, name));
    return dynamic >= 0 ? STATIC.length + 1 + dynamic : undefined;
  }
}

/** The Huffman code as a map from `code + 2^length` to symbol, for the reference decoder. */
const HUFFMAN_BY_CODE = new Map<number, number>(
  HUFFMAN_CODES.map((code, symbol) => [code + 2 ** HUFFMAN_LENGTHS[symbol]!, symbol]),
);

/** A failure of the reference decoder. */
class ReferenceError extends Error {}

/**
 * A straightforward HPACK decoder from RFC 7541, with the limits berth
 * documents: integers above 2^32 - 1 or with more than 5 continuation bytes
 * fail; Huffman padding is at most 7 bits, all ones; EOS fails; a size
 * update comes before the first field and is at most the maximum.
 */
class ReferenceDecoder {
  readonly table: DynamicTable;
  readonly #max: number;
  #bytes: Uint8Array = new Uint8Array(0);
  #at = 0;

  /** @param max The SETTINGS_HEADER_TABLE_SIZE announced. */
  constructor(max: number) {
    this.#max = max;
    this.table = new DynamicTable(max);
  }

  /**
   * Decodes a block, returning its fields and header list size (§4.1).
   *
   * @throws {ReferenceError} When the block is malformed.
   */
  decode(block: Uint8Array): { fields: Fields; listSize: number } {
    this.#bytes = block;
    this.#at = 0;
    const fields: Fields = [];
    let listSize = 0;
    const text = new TextDecoder();
    while (this.#at < block.length) {
      const first = block[this.#at]!;
      let name: Uint8Array;
      let value: Uint8Array;
      if (first & 0x80) {
        ({ name, value } = this.#entry(this.#integer(7)));
      } else if ((first & 0xe0) === 0x20) {
        const size = this.#integer(5);
        if (fields.length > 0) throw new ReferenceError("size update after a field");
        if (size > this.#max) throw new ReferenceError("size update too large");
        this.table.resize(size);
        continue;
      } else {
        const indexing = (first & 0xc0) === 0x40;
        const index = this.#integer(indexing ? 6 : 4);
        name = index === 0 ? this.#string() : this.#entry(index).name;
        value = this.#string();
        if (indexing) this.table.insert({ name, value });
      }
      listSize += name.length + value.length + 32;
      fields.push([text.decode(name), text.decode(value)]);
    }
    return { fields, listSize };
  }

  #byte(): number {
    if (this.#at >= this.#bytes.length) throw new ReferenceError("truncated");
    return this.#bytes[this.#at++]!;
  }

  #integer(prefixBits: number): number {
    const mask = (1 << prefixBits) - 1;
    let value = this.#byte() & mask;
    if (value < mask) return value;
    for (let i = 0; i < 5; i++) {
      const byte = this.#byte();
      value += (byte & 0x7f) * 128 ** i;
      if (byte < 0x80) {
        if (value > MAX_INTEGER) throw new ReferenceError("integer too large");
        return value;
      }
    }
    throw new ReferenceError("integer too long");
  }

  #entry(index: number): TableEntry {
    if (index === 0) throw new ReferenceError("index 0");
    if (index <= STATIC.length) return STATIC_OCTETS[index - 1]!;
    const entry = this.table.entries[index - STATIC.length - 1];
    if (entry === undefined) throw new ReferenceError("index past the tables");
    return entry;
  }

  #string(): Uint8Array {
    const coded = (this.#bytes[this.#at] ?? 0) & 0x80;
    const length = this.#integer(7);
    if (length > this.#bytes.length - this.#at) throw new ReferenceError("string past the end");
    const raw = this.#bytes.slice(this.#at, this.#at + length);
    this.#at += length;
    if (!coded) return raw;
    const out: number[] = [];
    let code = 0;
    let bits = 0;
    for (const byte of raw) {
      for (let shift = 7; shift >= 0; shift--) {
        code = code * 2 + ((byte >>> shift) & 1);
        bits++;
        const symbol = HUFFMAN_BY_CODE.get(code + 2 ** bits);
        if (symbol === 256) throw new ReferenceError("EOS");
        if (symbol !== undefined) {
          out.push(symbol);
          code = 0;
          bits = 0;
        } else if (bits > 30) throw new ReferenceError("no such code");
      }
    }
    if (bits > 7 || code !== 2 ** bits - 1) throw new ReferenceError("bad padding");
    return Uint8Array.from(out);
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
function randomFields(random: Random, count: number): Fields {
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

/**
 * Asserts that `run` throws the HPACK decoder's documented error.
 *
 * @param run The decode.
 * @param what The case, for the message.
 */
function assertHpackError(run: () => unknown, what: string): void {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof DockerProtocolError, `${what}: threw ${error}`);
    assert.equal(error.code, "INVALID_HTTP2", what);
    return;
  }
  assert.fail(`${what}: decoded`);
}

Deno.test("HpackDecoder decodes random valid header blocks of every representation exactly", () => {
  const seed = fuzzSeed();
  const random = new Random(seed);
  const cases = fuzzCases(300);
  for (let index = 0; index < cases; index++) {
    const max = random.pick([0, 64, 256, 4096, 65_536]);
    const encoder = new RandomEncoder(max);
    const decoder = new HpackDecoder(max);
    const reference = new ReferenceDecoder(max);
    for (let b = 1 + random.int(6); b > 0; b--) {
      const fields = randomFields(random, random.int(14));
      const block = Uint8Array.from(encoder.encode(random, fields));
      const what = describe(seed, index, block);
      let decoded: Fields;
      try {
        decoded = decoder.decode(block, Infinity);
      } catch (error) {
        assert.fail(`${what}: ${error}`);
      }
      assert.deepEqual(decoded, fields, what);
      assert.deepEqual(reference.decode(block).fields, fields, `reference: ${what}`);
    }
    // Every dynamic entry is where the encoder put it.
    const probe = encoder.table.entries.flatMap((_, i) => hpackInteger(0x80, 7, 62 + i));
    const expected = encoder.table.entries.map((e): [string, string] => [
      new TextDecoder().decode(e.name),
      new TextDecoder().decode(e.value),
    ]);
    assert.deepEqual(
      decoder.decode(Uint8Array.from(probe), Infinity),
      expected,
      `seed ${seed}, case ${index}: the dynamic tables differ`,
    );
  }
});

Deno.test("HpackDecoder agrees with a reference decoder on damaged header blocks", () => {
  const seed = fuzzSeed();
  const random = new Random(seed ^ 0x4a11);
  const cases = fuzzCases(2000);
  let failures = 0;
  for (let index = 0; index < cases; index++) {
    const max = random.pick([0, 256, 4096]);
    const encoder = new RandomEncoder(max);
    const decoder = new HpackDecoder(max);
    const reference = new ReferenceDecoder(max);
    // A valid block first, so the dynamic table has entries to point at.
    const first = Uint8Array.from(encoder.encode(random, randomFields(random, random.int(6))));
    decoder.decode(first, Infinity);
    reference.decode(first);
    const valid = Uint8Array.from(encoder.encode(random, randomFields(random, 1 + random.int(8))));
    const block = mutate(random, valid, [0x00, 0x0f, 0x10, 0x1f, 0x3f, 0x40, 0x7f, 0x80, 0xff]);
    const what = describe(seed, index, block);
    let expected: Fields | undefined;
    let listSize = 0;
    try {
      ({ fields: expected, listSize } = reference.decode(block));
    } catch (error) {
      if (!(error instanceof ReferenceError)) throw error;
    }
    if (expected === undefined) {
      failures++;
      assertHpackError(() => decoder.decode(block, Infinity), what);
      // The table is in an unknown state now: every later block is refused.
      assertHpackError(() => decoder.decode(Uint8Array.of(0x82), Infinity), `after ${what}`);
      continue;
    }
    // A list-size limit below the list's size fails; the size itself passes.
    if (random.int(4) === 0 && listSize > 0) {
      assertHpackError(() => new HpackDecoder(max).decode(block, listSize - 1), `limit: ${what}`);
    }
    let decoded: Fields;
    try {
      decoded = decoder.decode(block, random.int(2) === 0 ? Infinity : listSize);
    } catch (error) {
      assert.fail(`${what}: the reference decodes it, HpackDecoder threw ${error}`);
    }
    assert.deepEqual(decoded, expected, what);
    const probe = reference.table.entries.flatMap((_, i) => hpackInteger(0x80, 7, 62 + i));
    assert.deepEqual(
      decoder.decode(Uint8Array.from(probe), Infinity),
      reference.decode(Uint8Array.from(probe)).fields,
      `the dynamic tables differ after ${what}`,
    );
  }
  // Both outcomes were exercised.
  assert.ok(failures > cases / 10 && failures < cases * 0.9, `${failures} of ${cases} failed`);
});

Deno.test("HpackDecoder rejects hostile header blocks with DockerProtocolError and no allocation from a declared length", () => {
  const name = [...hpackString(octetsOf("x-a"), false)];
  const hostile: [string, number[]][] = [
    ["index 0", [0x80]],
    ["an index past the static table", hpackInteger(0x80, 7, 62)],
    ["an index of 2^32 - 1", hpackInteger(0x80, 7, MAX_INTEGER)],
    ["an indexed name past the tables", [...hpackInteger(0x40, 6, 70), 0x00]],
    ["an index of 2^32", hpackInteger(0x80, 7, 2 ** 32)],
    ["an integer of 6 continuation bytes", [0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]],
    ["an integer of endless continuation bytes", [0xff, ...new Array(1000).fill(0xff)]],
    ["an integer that stops in the middle", [0xff, 0x80, 0x80]],
    ["a 4-bit prefix integer over 2^32 - 1", [0x0f, 0xff, 0xff, 0xff, 0xff, 0x7f]],
    ["a name of 2^32 - 1 octets", [0x00, ...hpackInteger(0x00, 7, MAX_INTEGER), 0x61]],
    ["a Huffman name of 2^32 - 1 octets", [0x00, ...hpackInteger(0x80, 7, MAX_INTEGER), 0x61]],
    ["a value of 2^31 octets", [0x00, ...name, ...hpackInteger(0x00, 7, 2 ** 31), 0x61]],
    ["a value cut short", [0x00, ...name, 0x05, 0x61, 0x62]],
    ["a name missing", [0x00]],
    ["a value missing", [0x00, ...name]],
    ["Huffman padding of zeros", [0x00, ...name, 0x81, 0x00]], // "0" is 00000: 3 zero bits.
    ["Huffman padding of 8 ones", [0x00, ...name, 0x82, 0x07, 0xff]], // "0" then 3 + 8 ones.
    ["Huffman padding of 32 ones (EOS and more)", [0x00, ...name, 0x84, 0xff, 0xff, 0xff, 0xff]],
    ["EOS inside a Huffman string", [0x00, ...name, 0x85, 0xff, 0xff, 0xff, 0xfc, 0x00]],
    ["a size update over the maximum", hpackInteger(0x20, 5, 4097)],
    ["a size update of 2^32 - 1", hpackInteger(0x20, 5, MAX_INTEGER)],
    ["a size update after a field", [0x82, 0x20]],
  ];
  for (const [what, bytes] of hostile) {
    const block = Uint8Array.from(bytes);
    const started = performance.now();
    assertHpackError(() => new HpackDecoder().decode(block), `${what}: ${block.toHex()}`);
    assertHpackError(() => new HpackDecoder().decode(block, 100), `${what} (limit 100)`);
    assert.ok(performance.now() - started < 50, `${what} took ${performance.now() - started} ms`);
  }
  // Every cut of a valid block decodes (cut between fields) or throws.
  const seed = fuzzSeed();
  const random = new Random(seed ^ 0xc07);
  for (let index = 0; index < fuzzCases(30); index++) {
    const block = Uint8Array.from(new RandomEncoder(4096).encode(random, randomFields(random, 6)));
    for (let cut = 0; cut < block.length; cut++) {
      const part = block.subarray(0, cut);
      try {
        new HpackDecoder().decode(part, Infinity);
      } catch (error) {
        assert.ok(error instanceof DockerProtocolError, `${describe(seed, index, part)}: ${error}`);
      }
    }
  }
});

// ---------------------------------------------------------------------------
// serveHttp2

/** A request the script sends, and what the server should hand its handler. */
interface PlannedStream {
  id: number;
  fields: Fields;
  body: Uint8Array;
  streamed: boolean;
  /** `mid`: reset before END_STREAM (never handled); `end`: reset after it (answer may be lost). */
  reset: "mid" | "end" | undefined;
}

/** A piece of the script: frames that go out together (a header block is never cut). */
type Unit = { stream: number; opens: boolean; build: () => Uint8Array[] };

/** The client's side of a random valid session. */
interface Script {
  bytes: Uint8Array;
  streams: PlannedStream[];
  pings: Uint8Array[];
  settings: number;
  options: Http2ServerOptions;
}

/**
 * A header block as HEADERS (maybe padded, maybe with priority fields)
 * and CONTINUATION frames, cut at random points (empty fragments too).
 */
function headerFrames(random: Random, id: number, block: Uint8Array, endStream: boolean) {
  const cuts = randomSplit(random, block, 4);
  const fragments = cuts.length === 0 ? [block] : cuts;
  if (random.int(4) === 0) {
    fragments.splice(random.int(fragments.length + 1), 0, block.subarray(0, 0));
  }
  const frames: Uint8Array[] = [];
  fragments.forEach((fragment, i) => {
    const last = i === fragments.length - 1 ? END_HEADERS : 0;
    if (i > 0) {
      frames.push(frame(CONTINUATION, last, id, fragment));
      return;
    }
    let flags = last | (endStream ? END_STREAM : 0);
    let payload = fragment;
    if (random.int(3) === 0) {
      // Exclusive bit, a dependency (never the stream itself), a weight: all ignored.
      flags |= PRIORITY_FLAG;
      payload = concat(
        u32(random.int(2) * 0x8000_0000 + id + 2 * random.int(5) + 2),
        Uint8Array.of(16),
        payload,
      );
    }
    if (random.int(3) === 0) {
      const pad = random.int(40);
      flags |= PADDED;
      payload = concat(Uint8Array.of(pad), payload, new Uint8Array(pad));
    }
    frames.push(frame(HEADERS, flags, id, payload));
  });
  return frames;
}

/**
 * A random valid client session: the preface, SETTINGS, then up to six
 * streams (unary and streamed, with bodies in padded DATA frames, some
 * with trailers, some reset) interleaved with one another and with PING,
 * PRIORITY, SETTINGS, WINDOW_UPDATE and unknown frames. Header blocks are
 * encoded in wire order with a dynamic table, so the server's decoder must
 * stay in step. Everything fits the server's windows without its updates.
 */
function randomScript(random: Random): Script {
  const options: Http2ServerOptions = {};
  const window = random.pick([undefined, 1000, 256 * 1024]);
  if (window !== undefined) options.initialWindowSize = window;
  const encoder = new RandomEncoder(4096);
  const pings: Uint8Array[] = [];
  let settings = 1;
  // The client's own windows: maybe tiny; each stream and the connection get 1 MiB on top.
  const clientWindow = random.pick([0, 1, 100, 65_535, 1 << 20]);
  const first: [number, number][] = [[SETTINGS_INITIAL_WINDOW_SIZE, clientWindow]];
  if (random.int(2)) first.push([SETTINGS_MAX_FRAME_SIZE, random.pick([16_384, 16_777_215])]);
  if (random.int(2)) first.push([SETTINGS_ENABLE_PUSH, random.int(2)]);
  if (random.int(2)) first.push([SETTINGS_HEADER_TABLE_SIZE, random.int(2 ** 32)]);
  if (random.int(2)) first.push([SETTINGS_MAX_CONCURRENT_STREAMS, random.int(2 ** 32)]);
  if (random.int(2)) first.push([0x99, random.int(2 ** 32)]); // Unknown: ignored.
  const head = [PREFACE, settingsFrame(first), windowUpdate(0, 1 << 20)];

  const streams: PlannedStream[] = [];
  const lanes: Unit[][] = [];
  let id = -1;
  let budget = 60_000; // DATA bytes, padding included, within the connection window.
  for (let n = 1 + random.int(6); n > 0; n--) {
    id += 2 * (1 + random.int(3));
    const streamed = random.int(3) === 0;
    const path = `${streamed ? "/s/" : "/u/"}${id}`;
    const extra = randomFields(random, random.int(5)).filter(([name]) => !name.startsWith(":"));
    const fields = requestFields(path, random.pick(["POST", "GET", "PUT"]), extra);
    const chunks: Uint8Array[] = [];
    for (let c = random.int(4); c > 0; c--) {
      const size = Math.min(random.pick([0, 1, 100, 3000]), budget);
      budget -= size;
      chunks.push(random.bytes(size));
    }
    const trailers = random.int(4) === 0;
    const noBody = chunks.length === 0 && !trailers;
    // Reset before END_STREAM, or after it; a request of one frame only after.
    const reset = random.int(8) === 0
      ? noBody ? "end" : random.pick(["mid", "end"] as const)
      : undefined;
    const plan: PlannedStream = { id, fields, body: concat(...chunks), streamed, reset };
    streams.push(plan);
    const lane: Unit[] = [];
    const streamId = id;
    lane.push({
      stream: streamId,
      opens: true,
      build: () => [
        ...headerFrames(random, streamId, Uint8Array.from(encoder.encode(random, fields)), noBody),
        windowUpdate(streamId, 1 << 20),
      ],
    });
    chunks.forEach((chunk, i) => {
      const last = i === chunks.length - 1 && !trailers;
      lane.push({
        stream: streamId,
        opens: false,
        build: () => {
          const pad = random.int(3) === 0 ? Math.min(random.int(64), budget) : -1;
          if (pad < 0) return [frame(DATA, last ? END_STREAM : 0, streamId, chunk)];
          budget -= pad + 1;
          const padded = concat(Uint8Array.of(pad), chunk, new Uint8Array(pad));
          return [frame(DATA, PADDED | (last ? END_STREAM : 0), streamId, padded)];
        },
      });
    });
    if (trailers) {
      const fields = randomFields(random, 1 + random.int(3)).filter(([n]) => !n.startsWith(":"));
      lane.push({
        stream: streamId,
        opens: false,
        build: () =>
          headerFrames(random, streamId, Uint8Array.from(encoder.encode(random, fields)), true),
      });
    }
    const rst = {
      stream: streamId,
      opens: false,
      build: () => [frame(RST_STREAM, 0, streamId, u32(CANCEL))],
    };
    if (reset === "mid") lane.splice(1 + random.int(lane.length - 1), lane.length, rst);
    else if (reset === "end") lane.push(rst);
    lanes.push(lane);
  }

  // Interleave: any lane's next unit, but streams open in id order.
  const out: Uint8Array[] = [...head];
  const opened = new Set<number>();
  const extras = (): Uint8Array[] => {
    switch (random.int(12)) {
      case 0: {
        const payload = random.bytes(8);
        pings.push(payload);
        return [frame(PING, 0, 0, payload)];
      }
      case 1:
        return [frame(PING, ACK, 0, random.bytes(8))]; // An ACK: not answered.
      case 2:
        return [
          // On any stream, open or idle, depending on stream 0.
          frame(PRIORITY, 0, 1 + 2 * random.int(20), concat(u32(0), Uint8Array.of(7))),
        ];
      case 3:
        settings++;
        return [
          settingsFrame(random.int(2) ? [] : [[SETTINGS_MAX_HEADER_LIST_SIZE, random.int(1e6)]]),
        ];
      case 4:
        return [frame(SETTINGS, ACK, 0)];
      case 5:
        return [windowUpdate(0, 1 + random.int(1000))];
      case 6:
        return [
          frame(
            0xa + random.int(200),
            random.int(256),
            random.int(9),
            random.bytes(random.int(20)),
          ),
        ];
      default:
        return [];
    }
  };
  for (;;) {
    const ready = lanes.filter((lane) =>
      lane.length > 0 &&
      (!lane[0]!.opens || lanes.every((other) =>
        other === lane || other.length === 0 || !other[0]!.opens ||
        other[0]!.stream > lane[0]!.stream
      ))
    );
    if (ready.length === 0) break;
    const unit = random.pick(ready).shift()!;
    if (unit.opens) opened.add(unit.stream);
    out.push(...unit.build(), ...extras());
  }
  out.push(frame(GOAWAY, 0, 0, u32(0, NO_ERROR)));
  return { bytes: concat(...out), streams, pings, settings, options };
}

/**
 * A streamed request's handler: reads the body, records the request,
 * writes the body back and ends with a trailer.
 *
 * @param requests Where to record it.
 * @returns The handler.
 */
function echoStreamed(requests: Http2Request[]): Http2StreamHandler {
  return async (exchange) => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of exchange.body) chunks.push(chunk);
    const { streamId, method, path, headers } = exchange;
    requests.push({ streamId, method, path, headers, body: concat(...chunks) });
    await exchange.write(concat(...chunks));
    await exchange.end([["x-t", "1"]]);
  };
}

/** Known RST_STREAM and GOAWAY codes, for answers to damaged input. */
const CODES = new Set([
  NO_ERROR,
  PROTOCOL_ERROR,
  INTERNAL_ERROR,
  FLOW_CONTROL_ERROR,
  STREAM_CLOSED,
  FRAME_SIZE_ERROR,
  REFUSED_STREAM,
  CANCEL,
  COMPRESSION_ERROR,
]);

/**
 * Runs a script against a fresh server, the bytes cut at random offsets.
 * Paths under `/s/` are streamed (echoed by {@linkcode echoStreamed} unless
 * `options` says otherwise), the others unary (echoed too).
 *
 * @returns The client, the server and the requests its handlers saw.
 */
function run(random: Random, bytes: Uint8Array, options: Http2ServerOptions) {
  const requests: Http2Request[] = [];
  const echo = echoStreamed(requests);
  options = { streaming: (path) => path.startsWith("/s/") ? echo : undefined, ...options };
  const { client, server } = start((request) => {
    requests.push(request);
    return {
      headers: [["x-n", String(request.body.length)]],
      body: request.body,
      trailers: [["x-t", "1"]],
    };
  }, options);
  for (const piece of randomSplit(random, bytes, 16)) client.send(piece);
  return { client, server, requests };
}

/** The RST_STREAM codes the server sent. */
function resets(client: FakeClient): number[] {
  return client.frames.filter((f) => f.type === RST_STREAM).map((f) =>
    new DataView(f.payload.buffer).getUint32(0)
  );
}

Deno.test("serveHttp2 answers random valid frame sequences cut at random offsets", async () => {
  const seed = fuzzSeed();
  const random = new Random(seed ^ 0x5e55);
  const cases = fuzzCases(300);
  for (let index = 0; index < cases; index++) {
    const script = randomScript(random);
    const what = describe(seed, index, script.bytes);
    const { client, server, requests } = run(random, script.bytes, script.options);
    try {
      for (const plan of script.streams) {
        if (plan.reset !== undefined) continue;
        const view = await within(client.response(plan.id), 2000, `stream ${plan.id}: ${what}`);
        assert.equal(view.reset, undefined, `stream ${plan.id} reset: ${what}`);
        assert.deepEqual(
          view.headers,
          plan.streamed
            ? [[":status", "200"]]
            : [[":status", "200"], ["x-n", String(plan.body.length)]],
          what,
        );
        assert.deepEqual(view.body, plan.body, `stream ${plan.id} body: ${what}`);
        assert.deepEqual(view.trailers, [["x-t", "1"]], what);
      }
      await within(client.sync(), 2000, what);
      for (const plan of script.streams) {
        const seen = requests.filter((r) => r.streamId === plan.id);
        if (plan.reset === "mid") {
          if (!plan.streamed) assert.equal(seen.length, 0, `stream ${plan.id} handled: ${what}`);
          continue;
        }
        assert.equal(seen.length, 1, `stream ${plan.id} handled ${seen.length} times: ${what}`);
        const request = seen[0]!;
        assert.deepEqual(request.headers, plan.fields, `stream ${plan.id} headers: ${what}`);
        assert.equal(request.method, plan.fields[0]![1], what);
        assert.equal(request.path, plan.fields[2]![1], what);
        assert.deepEqual(request.body, plan.body, `stream ${plan.id} request body: ${what}`);
      }
      const acks = client.frames.filter((f) => f.type === PING && f.flags === ACK);
      assert.deepEqual(
        acks.slice(0, script.pings.length).map((f) => f.payload),
        script.pings,
        what,
      );
      const settingsAcks = client.frames.filter((f) => f.type === SETTINGS && f.flags === ACK);
      assert.equal(settingsAcks.length, script.settings, what);
      assert.equal(client.goaway(), undefined, what);
      assert.ok(resets(client).every((code) => code === CANCEL || code === NO_ERROR), what);
    } finally {
      await stop(client, server);
    }
  }
});

Deno.test("serveHttp2 answers damaged frame sequences with GOAWAY or RST_STREAM, or ends quietly", async () => {
  const seed = fuzzSeed();
  const random = new Random(seed ^ 0xbad);
  const cases = fuzzCases(400);
  const outcomes = new Map<string, number>();
  for (let index = 0; index < cases; index++) {
    const script = randomScript(random);
    // Damage after the preface now and then, so more gets past it.
    const keep = random.int(2) === 0 ? PREFACE.length : 0;
    const damaged = concat(
      script.bytes.subarray(0, keep),
      mutate(random, script.bytes.subarray(keep), [0x00, 0x01, 0x04, 0x08, 0x09, 0x40, 0xff]),
    );
    const what = describe(seed, index, damaged);
    const { client, server } = run(random, damaged, script.options);
    client.end();
    let failure: unknown;
    try {
      await within(server.done, 2000, what);
    } catch (error) {
      failure = error;
    }
    assert.ok(client.closed, `the connection is still open: ${what}`);
    const goaways = client.frames.filter((f) => f.type === GOAWAY);
    assert.ok(goaways.length <= 1, `${goaways.length} GOAWAY frames: ${what}`);
    if (failure !== undefined) {
      assert.ok(failure instanceof DockerProtocolError, `done rejected with ${failure}: ${what}`);
      assert.equal(failure.code, "INVALID_HTTP2", what);
      const goaway = client.goaway();
      assert.ok(goaway !== undefined && goaway.code !== NO_ERROR, `no GOAWAY error: ${what}`);
      assert.ok(CODES.has(goaway.code), `GOAWAY code ${goaway.code}: ${what}`);
      outcomes.set(`goaway ${goaway.code}`, (outcomes.get(`goaway ${goaway.code}`) ?? 0) + 1);
    } else {
      assert.equal(client.goaway(), undefined, `GOAWAY but done resolved: ${what}`);
      outcomes.set("ended", (outcomes.get("ended") ?? 0) + 1);
    }
    for (const code of resets(client)) assert.ok(CODES.has(code), `RST code ${code}: ${what}`);
  }
  // The damage reached more than the preface.
  assert.ok(outcomes.size >= 4, `outcomes: ${[...outcomes]}`);
});

/** A hostile frame sequence and the answer RFC 9113 asks for. */
interface Hostile {
  name: string;
  /** What follows the preface and an empty SETTINGS. */
  frames: () => Uint8Array[];
  /** A connection error with this code, or a stream error on `stream`. */
  expect: { goaway: number } | { rst: number; stream: number };
  options?: Http2ServerOptions;
  /** For a stream error: frames to send before the request that shows the connection works. */
  then?: () => Uint8Array[];
}

/** A header block for the hostile cases (static table only). */
const encode = (fields: Fields): Uint8Array => encodeHeaderBlock(fields);
/** Opens stream 1, streamed, without ending it. */
const open1 = () => frame(HEADERS, END_HEADERS, 1, encode(requestFields("/s/1")));
/** A streamed handler that never reads: the body just queues until the stream ends. */
const neverReads: Http2StreamHandler = (exchange) =>
  new Promise<void>((resolve) => exchange.signal.addEventListener("abort", () => resolve()));
/** Paths under `/s/` go to {@linkcode neverReads}. */
const streamingOnly: Http2ServerOptions = {
  streaming: (path) => path.startsWith("/s/") ? neverReads : undefined,
};

const HOSTILE: Hostile[] = [
  {
    name: "a frame over 16384 bytes",
    frames: () => [frame(DATA, 0, 1, new Uint8Array(16_385))],
    expect: { goaway: FRAME_SIZE_ERROR },
  },
  {
    name: "a frame length of 2^24 - 1, header only",
    frames: () => [Uint8Array.of(0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1)],
    expect: { goaway: FRAME_SIZE_ERROR },
  },
  {
    name: "HEADERS on stream 0",
    frames: () => [frame(HEADERS, END_HEADERS, 0, encode(requestFields("/")))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "HEADERS on an even stream",
    frames: () => [frame(HEADERS, END_HEADERS, 2, encode(requestFields("/")))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "HEADERS on a stream below the last one",
    frames: () => [
      open1(),
      frame(HEADERS, END_HEADERS, 5, encode(requestFields("/"))),
      frame(HEADERS, END_HEADERS, 3, encode(requestFields("/"))),
    ],
    expect: { goaway: STREAM_CLOSED },
    options: streamingOnly,
  },
  {
    name: "CONTINUATION without HEADERS",
    frames: () => [frame(CONTINUATION, END_HEADERS, 1, encode(requestFields("/")))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "CONTINUATION on another stream",
    frames:
      () => [frame(HEADERS, 0, 1, encode(requestFields("/"))), frame(CONTINUATION, END_HEADERS, 3)],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "PING inside a header block",
    frames: () => [
      frame(HEADERS, 0, 1, encode(requestFields("/"))),
      frame(PING, 0, 0, new Uint8Array(8)),
    ],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "HEADERS of another stream inside a header block",
    frames: () => [
      frame(HEADERS, 0, 1, encode(requestFields("/"))),
      frame(HEADERS, END_HEADERS, 3, encode(requestFields("/"))),
    ],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "endless CONTINUATION frames past twice the header list limit",
    frames: () => [
      frame(HEADERS, 0, 1),
      ...Array.from({ length: 10 }, () => frame(CONTINUATION, 0, 1, new Uint8Array(16_384))),
    ],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "DATA on stream 0",
    frames: () => [frame(DATA, 0, 0, Uint8Array.of(1))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "DATA on an idle stream",
    frames: () => [frame(DATA, END_STREAM, 1, Uint8Array.of(1))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "DATA padding as long as the payload",
    frames: () => [open1(), frame(DATA, PADDED, 1, Uint8Array.of(3, 0, 0))],
    expect: { goaway: PROTOCOL_ERROR },
    options: streamingOnly,
  },
  {
    name: "DATA after END_STREAM",
    frames: () => [
      frame(HEADERS, END_HEADERS | END_STREAM, 1, encode(requestFields("/s/1"))),
      frame(DATA, 0, 1, Uint8Array.of(1)),
    ],
    expect: { rst: STREAM_CLOSED, stream: 1 },
    options: streamingOnly,
  },
  {
    name: "DATA past the stream window to a handler that never reads",
    frames: () => [
      open1(),
      ...Array.from({ length: 5 }, () => frame(DATA, 0, 1, new Uint8Array(16_384))),
    ],
    expect: { rst: FLOW_CONTROL_ERROR, stream: 1 },
    options: streamingOnly,
  },
  {
    // The peer may go by the default window until it has the server's SETTINGS.
    name: "DATA past the default stream window, padding included",
    frames: () => [
      open1(),
      ...Array.from({ length: 4 }, () => frame(DATA, 0, 1, new Uint8Array(16_320))),
      frame(DATA, PADDED, 1, concat(Uint8Array.of(255), new Uint8Array(255))),
    ],
    expect: { rst: FLOW_CONTROL_ERROR, stream: 1 },
    options: { ...streamingOnly, initialWindowSize: 1000 },
  },
  {
    name: "a connection window over 2^31 - 1",
    frames: () => [windowUpdate(0, 2 ** 31 - 1)],
    expect: { goaway: FLOW_CONTROL_ERROR },
  },
  {
    name: "a stream window over 2^31 - 1",
    frames: () => [open1(), windowUpdate(1, 2 ** 31 - 1)],
    expect: { rst: FLOW_CONTROL_ERROR, stream: 1 },
    options: streamingOnly,
  },
  {
    name: "a zero connection window increment",
    frames: () => [windowUpdate(0, 0)],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "a zero stream window increment",
    frames: () => [open1(), windowUpdate(1, 0)],
    expect: { rst: PROTOCOL_ERROR, stream: 1 },
    options: streamingOnly,
  },
  {
    name: "a WINDOW_UPDATE of 3 bytes",
    frames: () => [frame(WINDOW_UPDATE, 0, 0, new Uint8Array(3))],
    expect: { goaway: FRAME_SIZE_ERROR },
  },
  {
    name: "WINDOW_UPDATE on an idle stream",
    frames: () => [windowUpdate(9, 1)],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "SETTINGS_INITIAL_WINDOW_SIZE of 2^31",
    frames: () => [settingsFrame([[SETTINGS_INITIAL_WINDOW_SIZE, 2 ** 31]])],
    expect: { goaway: FLOW_CONTROL_ERROR },
  },
  {
    name: "SETTINGS_INITIAL_WINDOW_SIZE that overflows an open stream's window",
    frames: () => [
      open1(),
      windowUpdate(1, 2 ** 31 - 65_536),
      settingsFrame([[SETTINGS_INITIAL_WINDOW_SIZE, 65_536]]),
    ],
    expect: { goaway: FLOW_CONTROL_ERROR },
    options: streamingOnly,
  },
  {
    name: "SETTINGS_MAX_FRAME_SIZE of 16383",
    frames: () => [settingsFrame([[SETTINGS_MAX_FRAME_SIZE, 16_383]])],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "SETTINGS_MAX_FRAME_SIZE of 2^24",
    frames: () => [settingsFrame([[SETTINGS_MAX_FRAME_SIZE, 2 ** 24]])],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "SETTINGS_ENABLE_PUSH of 2",
    frames: () => [settingsFrame([[SETTINGS_ENABLE_PUSH, 2]])],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "SETTINGS of 7 bytes",
    frames: () => [frame(SETTINGS, 0, 0, new Uint8Array(7))],
    expect: { goaway: FRAME_SIZE_ERROR },
  },
  {
    name: "SETTINGS on a stream",
    frames: () => [frame(SETTINGS, 0, 1)],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "a SETTINGS ACK with a payload",
    frames: () => [frame(SETTINGS, ACK, 0, new Uint8Array(6))],
    expect: { goaway: FRAME_SIZE_ERROR },
  },
  {
    name: "PING of 7 bytes",
    frames: () => [frame(PING, 0, 0, new Uint8Array(7))],
    expect: { goaway: FRAME_SIZE_ERROR },
  },
  {
    name: "PING on a stream",
    frames: () => [frame(PING, 0, 1, new Uint8Array(8))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "RST_STREAM on stream 0",
    frames: () => [frame(RST_STREAM, 0, 0, u32(0))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "RST_STREAM on an idle stream",
    frames: () => [frame(RST_STREAM, 0, 7, u32(0))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "RST_STREAM of 5 bytes",
    frames: () => [frame(RST_STREAM, 0, 1, new Uint8Array(5))],
    expect: { goaway: FRAME_SIZE_ERROR },
  },
  {
    name: "PUSH_PROMISE",
    frames: () => [frame(PUSH_PROMISE, END_HEADERS, 1, u32(2))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "GOAWAY on a stream",
    frames: () => [frame(GOAWAY, 0, 1, u32(0, 0))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "GOAWAY of 7 bytes",
    frames: () => [frame(GOAWAY, 0, 0, new Uint8Array(7))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "PRIORITY on stream 0",
    frames: () => [frame(PRIORITY, 0, 0, new Uint8Array(5))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "PRIORITY of 4 bytes",
    frames: () => [frame(PRIORITY, 0, 3, new Uint8Array(4))],
    expect: { rst: FRAME_SIZE_ERROR, stream: 3 },
  },
  {
    name: "HPACK index 0",
    frames: () => [frame(HEADERS, END_HEADERS | END_STREAM, 1, Uint8Array.of(0x80))],
    expect: { goaway: COMPRESSION_ERROR },
  },
  {
    name: "an HPACK string of 2^32 - 1 octets",
    frames: () => [
      frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        Uint8Array.of(0x00, 0x7f, 0x80, 0xff, 0xff, 0xff, 0x0f, 0x61),
      ),
    ],
    expect: { goaway: COMPRESSION_ERROR },
  },
  {
    name: "a header list over maxHeaderListSize",
    frames: () => [
      frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        encode([...requestFields("/"), ["x", "y".repeat(2000)]]),
      ),
    ],
    expect: { goaway: COMPRESSION_ERROR },
    options: { maxHeaderListSize: 1000 },
  },
  {
    name: "a stream past maxConcurrentStreams",
    frames: () => [open1(), frame(HEADERS, END_HEADERS, 3, encode(requestFields("/s/3")))],
    expect: { rst: REFUSED_STREAM, stream: 3 },
    options: { ...streamingOnly, maxConcurrentStreams: 1 },
    then: () => [frame(RST_STREAM, 0, 1, u32(CANCEL))],
  },
];

Deno.test("serveHttp2 answers hostile frames as RFC 9113 says, wherever the reads cut them", async () => {
  const seed = fuzzSeed();
  const random = new Random(seed ^ 0x7075);
  const rounds = fuzzCases(3);
  for (let round = 0; round < rounds; round++) {
    for (const [index, hostile] of HOSTILE.entries()) {
      const bytes = concat(PREFACE, settingsFrame(), ...hostile.frames());
      const what = `${hostile.name}, round ${round}: ${describe(seed, index, bytes)}`;
      const { client, server } = run(random, bytes, hostile.options ?? {});
      if ("goaway" in hostile.expect) {
        client.end();
        const error = await within(server.done.then(() => undefined, (e) => e), 2000, what);
        assert.ok(error instanceof DockerProtocolError, `done settled with ${error}: ${what}`);
        assert.equal(client.goaway()?.code, hostile.expect.goaway, what);
        assert.ok(client.closed, what);
        continue;
      }
      const { rst, stream } = hostile.expect;
      const view = await within(
        client.until(() => client.stream(stream).reset, `the reset of stream ${stream}`),
        2000,
        what,
      );
      assert.equal(view, rst, what);
      // A stream error leaves the connection working.
      client.send(
        ...hostile.then?.() ?? [],
        frame(HEADERS, END_HEADERS | END_STREAM, 21, encode(requestFields("/u/21"))),
      );
      const answer = await within(client.response(21), 2000, what);
      assert.equal(answer.reset, undefined, what);
      assert.deepEqual(answer.trailers, [["x-t", "1"]], what);
      assert.equal(client.goaway(), undefined, what);
      await stop(client, server);
    }
  }
});

// Regressions the fuzzing found.

Deno.test("serveHttp2 resets a streamed request whose DATA overruns its window instead of queueing it", async () => {
  let body: ReadableStream<Uint8Array> | undefined;
  const { client, server } = await connect(() => ({}), {
    streaming: () => (exchange) => {
      body = exchange.body;
      return neverReads(exchange);
    },
  });
  client.send(open1());
  // 80 KiB to a handler that reads nothing: the window is 64 KiB.
  for (let i = 0; i < 5; i++) client.send(frame(DATA, 0, 1, new Uint8Array(16_384)));
  const reset = await within(client.until(() => client.stream(1).reset, "a reset"), 2000, "reset");
  assert.equal(reset, FLOW_CONTROL_ERROR);
  // What arrived within the window is still there to read; then the body fails.
  const reader = body!.getReader();
  let read = 0;
  const error = await (async () => {
    try {
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        read += next.value.length;
      }
    } catch (error) {
      return error;
    }
  })();
  assert.equal(read, 3 * 16_384);
  assert.ok(error instanceof DockerProtocolError);
  assert.equal(client.goaway(), undefined);
  await stop(client, server);
});

Deno.test("serveHttp2 gives a window smaller than 16 KiB back once half of it is read", async (t) => {
  for (const streamed of [false, true]) {
    await t.step(streamed ? "a streamed request" : "a unary request", async () => {
      const requests: Http2Request[] = [];
      const { client, server } = await connect((request) => ({ body: request.body }), {
        initialWindowSize: 1000,
        streaming: (path) =>
          streamed && path.startsWith("/s/") ? echoStreamed(requests) : undefined,
      }, [[SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20]]);
      client.send(frame(HEADERS, END_HEADERS, 1, encode(requestFields("/s/1"))));
      // A client that keeps to the window the server announced (1000), as it is given back.
      const body = Uint8Array.from({ length: 5000 }, (_, i) => i % 251);
      let window = 1000;
      let sent = 0;
      let seen = 0;
      while (sent < body.length) {
        if (window === 0) {
          const updates = await within(
            client.until(() => {
              const all = client.windowUpdates(1);
              return all.length > seen ? all.slice(seen) : undefined;
            }, "a WINDOW_UPDATE"),
            2000,
            `a WINDOW_UPDATE after ${sent} bytes`,
          );
          seen += updates.length;
          window += updates.reduce((sum, n) => sum + n, 0);
          continue;
        }
        const size = Math.min(window, 300, body.length - sent);
        const last = sent + size === body.length;
        client.send(frame(DATA, last ? END_STREAM : 0, 1, body.subarray(sent, sent + size)));
        sent += size;
        window -= size;
      }
      const view = await within(client.response(1), 2000, "the response");
      assert.deepEqual(view.body, body);
      await stop(client, server);
    });
  }
});

Deno.test("serveHttp2 keeps memory flat under endless empty CONTINUATION frames", async () => {
  const { client, server } = await connect((request) => ({ body: utf8.encode(request.path) }));
  client.send(frame(HEADERS, END_STREAM, 1, encode(requestFields("/flood"))));
  const empty = new Uint8Array(9 * 10_000);
  for (let at = 0; at < empty.length; at += 9) empty.set(frame(CONTINUATION, 0, 1), at);
  const before = Deno.memoryUsage().heapUsed;
  // 200,000 frames of no bytes: a list of fragments grew by ~40 MB here.
  for (let i = 0; i < 20; i++) client.send(empty);
  await new Promise((resolve) => setTimeout(resolve, 0));
  const growth = Deno.memoryUsage().heapUsed - before;
  assert.ok(growth < 20e6, `the heap grew by ${growth} bytes`);
  client.send(frame(CONTINUATION, END_HEADERS, 1));
  const view = await within(client.response(1), 2000, "the response");
  assert.deepEqual(view.body, utf8.encode("/flood"));
  await stop(client, server);
});
