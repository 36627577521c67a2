/**
 * Seeded fuzz tests of `HpackDecoder`: random valid header blocks of every
 * representation, from the encoder in `_hpack.ts`, must decode exactly;
 * damaged ones must be refused where a reference decoder written here from
 * RFC 7541 refuses them, and read the same where it reads them; hostile
 * ones must fail fast, with nothing allocated from a declared length.
 * `BERTH_FUZZ_SEED` and `BERTH_FUZZ_CASES` (see `tests/_fuzz.ts`) replay a
 * failure or run longer.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DockerProtocolError } from "../../src/errors.ts";
import { HpackDecoder } from "../../src/http2/hpack.ts";
import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from "../../src/http2/_huffman_table.ts";
import { fuzzCases, fuzzSource, hexCase, mutate } from "../_fuzz.ts";
import type { Fields } from "./_client.ts";
import {
  DynamicTable,
  hpackInteger,
  hpackString,
  octetsOf,
  RandomEncoder,
  randomFields,
  STATIC,
  STATIC_OCTETS,
  type TableEntry,
} from "./_hpack.ts";

/** Largest integer the decoder takes (RFC 7541 leaves the limit to it). */
const MAX_INTEGER = 0xffff_ffff;

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
  const { seed, random } = fuzzSource();
  const cases = fuzzCases(300);
  for (let index = 0; index < cases; index++) {
    const max = random.pick([0, 64, 256, 4096, 65_536]);
    const encoder = new RandomEncoder(max);
    const decoder = new HpackDecoder(max);
    const reference = new ReferenceDecoder(max);
    for (let b = 1 + random.int(6); b > 0; b--) {
      const fields = randomFields(random, random.int(14));
      const block = Uint8Array.from(encoder.encode(random, fields));
      const what = hexCase(seed, index, block);
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
  const { seed, random } = fuzzSource(0x4a11);
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
    const what = hexCase(seed, index, block);
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
  const { seed, random } = fuzzSource(0xc07);
  for (let index = 0; index < fuzzCases(30); index++) {
    const block = Uint8Array.from(new RandomEncoder(4096).encode(random, randomFields(random, 6)));
    for (let cut = 0; cut < block.length; cut++) {
      const part = block.subarray(0, cut);
      try {
        new HpackDecoder().decode(part, Infinity);
      } catch (error) {
        assert.ok(error instanceof DockerProtocolError, `${hexCase(seed, index, part)}: ${error}`);
      }
    }
  }
});
