import assert from "node:assert/strict";
import { DockerProtocolError } from "../../src/errors.ts";
import { encodeHeaderBlock, HpackDecoder } from "../../src/http2/hpack.ts";
import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from "../../src/http2/_huffman_table.ts";
import { hpackInteger, hpackString, huffmanEncode } from "./_hpack.ts";

type Fields = [string, string][];

const utf8 = new TextEncoder();

function hex(text: string): Uint8Array {
  return Uint8Array.fromHex(text.replaceAll(/\s/g, ""));
}

function assertInvalid(run: () => unknown, message?: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof DockerProtocolError, `expected DockerProtocolError, got ${error}`);
    assert.equal(error.code, "INVALID_HTTP2");
    assert.match(error.message, /^Invalid HPACK header block: /);
    if (message) assert.match(error.message, message);
    return true;
  });
}

/** A literal field without indexing, new name (§6.2.2). */
function literal(name: string, value: number[]): number[] {
  return [0x00, ...hpackString(name), ...value];
}

/** A small deterministic generator (xorshift32), so failures can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

Deno.test("HpackDecoder decodes the examples of RFC 7541 Appendix C", async (t) => {
  await t.step("C.2.1 literal with indexing adds the field to the dynamic table", () => {
    const decoder = new HpackDecoder();
    const block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
    assert.deepEqual(decoder.decode(block), [["custom-key", "custom-header"]]);
    assert.deepEqual(decoder.decode(hex("be")), [["custom-key", "custom-header"]]);
  });

  await t.step("C.2.2 literal without indexing leaves the table empty", () => {
    const decoder = new HpackDecoder();
    assert.deepEqual(decoder.decode(hex("040c 2f73 616d 706c 652f 7061 7468")), [
      [":path", "/sample/path"],
    ]);
    assertInvalid(() => decoder.decode(hex("be")), /index 62/);
  });

  await t.step("C.2.3 literal never indexed leaves the table empty", () => {
    const decoder = new HpackDecoder();
    assert.deepEqual(decoder.decode(hex("1008 7061 7373 776f 7264 0673 6563 7265 74")), [
      ["password", "secret"],
    ]);
    assertInvalid(() => decoder.decode(hex("be")), /index 62/);
  });

  await t.step("C.2.4 indexed field", () => {
    assert.deepEqual(new HpackDecoder().decode(hex("82")), [[":method", "GET"]]);
  });

  const requests: Fields[] = [
    [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"]],
    [
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
      ["cache-control", "no-cache"],
    ],
    [
      [":method", "GET"],
      [":scheme", "https"],
      [":path", "/index.html"],
      [":authority", "www.example.com"],
      ["custom-key", "custom-value"],
    ],
  ];
  const requestTable: Fields = [
    ["custom-key", "custom-value"],
    ["cache-control", "no-cache"],
    [":authority", "www.example.com"],
  ];

  await t.step("C.3 requests without Huffman coding", () => {
    const decoder = new HpackDecoder();
    assert.deepEqual(
      decoder.decode(hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d")),
      requests[0],
    );
    assert.deepEqual(decoder.decode(hex("8286 84be 5808 6e6f 2d63 6163 6865")), requests[1]);
    assert.deepEqual(
      decoder.decode(
        hex("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65"),
      ),
      requests[2],
    );
    assert.deepEqual(decoder.decode(hex("bebfc0")), requestTable);
    assertInvalid(() => decoder.decode(hex("c1")), /index 65 .*64 entries/);
  });

  await t.step("C.4 requests with Huffman coding", () => {
    const decoder = new HpackDecoder();
    assert.deepEqual(
      decoder.decode(hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff")),
      requests[0],
    );
    assert.deepEqual(decoder.decode(hex("8286 84be 5886 a8eb 1064 9cbf")), requests[1]);
    assert.deepEqual(
      decoder.decode(hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf")),
      requests[2],
    );
    assert.deepEqual(decoder.decode(hex("bebfc0")), requestTable);
    assertInvalid(() => decoder.decode(hex("c1")), /index 65/);
  });

  const responses: Fields[] = [
    [
      [":status", "302"],
      ["cache-control", "private"],
      ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
      ["location", "https://www.example.com"],
    ],
    [
      [":status", "307"],
      ["cache-control", "private"],
      ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
      ["location", "https://www.example.com"],
    ],
    [
      [":status", "200"],
      ["cache-control", "private"],
      ["date", "Mon, 21 Oct 2013 20:13:22 GMT"],
      ["location", "https://www.example.com"],
      ["content-encoding", "gzip"],
      ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"],
    ],
  ];
  // After C.5.1: [62] location, [63] date, [64] cache-control, [65] :status 302 (222 octets).
  const afterFirst: Fields = [
    ["location", "https://www.example.com"],
    ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
    ["cache-control", "private"],
    [":status", "302"],
  ];
  // After C.5.3 only three entries are left (215 octets).
  const afterThird: Fields = [
    ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"],
    ["content-encoding", "gzip"],
    ["date", "Mon, 21 Oct 2013 20:13:22 GMT"],
  ];

  await t.step("C.5 responses without Huffman coding evict from a 256-octet table", () => {
    const first = hex(`
      4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
      2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
      6c65 2e63 6f6d`);
    const second = hex("4803 3330 37c1 c0bf");
    const third = hex(`
      88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
      54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
      5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
      3d31`);
    let decoder = new HpackDecoder(256);
    assert.deepEqual(decoder.decode(first), responses[0]);
    assert.deepEqual(decoder.decode(hex("bebfc0c1")), afterFirst);
    assertInvalid(() => decoder.decode(hex("c2")), /index 66/);

    decoder = new HpackDecoder(256);
    assert.deepEqual(decoder.decode(first), responses[0]);
    assert.deepEqual(decoder.decode(second), responses[1]);
    assert.deepEqual(decoder.decode(third), responses[2]);
    assert.deepEqual(decoder.decode(hex("bebfc0")), afterThird);
    assertInvalid(() => decoder.decode(hex("c1")), /index 65/);
  });

  await t.step("C.6 responses with Huffman coding evict from a 256-octet table", () => {
    const first = hex(`
      4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
      2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`);
    const second = hex("4883 640e ffc1 c0bf");
    const third = hex(`
      88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
      77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
      9587 3160 65c0 03ed 4ee5 b106 3d50 07`);
    let decoder = new HpackDecoder(256);
    assert.deepEqual(decoder.decode(first), responses[0]);
    assert.deepEqual(decoder.decode(hex("bebfc0c1")), afterFirst);

    decoder = new HpackDecoder(256);
    assert.deepEqual(decoder.decode(first), responses[0]);
    assert.deepEqual(decoder.decode(second), responses[1]);
    assert.deepEqual(decoder.decode(third), responses[2]);
    assert.deepEqual(decoder.decode(hex("bebfc0")), afterThird);
    assertInvalid(() => decoder.decode(hex("c1")), /index 65/);
  });
});

Deno.test("HpackDecoder decodes Huffman-coded strings of every byte value", async (t) => {
  await t.step("the table is a complete canonical code", () => {
    assert.equal(HUFFMAN_CODES.length, 257);
    assert.equal(HUFFMAN_LENGTHS.length, 257);
    const order = [...HUFFMAN_CODES.keys()].sort((a, b) =>
      HUFFMAN_LENGTHS[a]! - HUFFMAN_LENGTHS[b]! || a - b
    );
    let code = 0;
    let length = HUFFMAN_LENGTHS[order[0]!]!;
    for (const [i, symbol] of order.entries()) {
      if (i > 0) {
        code = (code + 1) * 2 ** (HUFFMAN_LENGTHS[symbol]! - length);
        length = HUFFMAN_LENGTHS[symbol]!;
      }
      assert.equal(HUFFMAN_CODES[symbol], code, `code of symbol ${symbol}`);
    }
    // The last code is all ones: the code is complete.
    assert.equal(code, 2 ** length - 1);
    assert.equal(HUFFMAN_CODES[256], 0x3fffffff);
    assert.equal(HUFFMAN_LENGTHS[256], 30);
  });

  await t.step("the test encoder reproduces RFC 7541 C.4.1", () => {
    assert.deepEqual(huffmanEncode(utf8.encode("www.example.com")), [
      ...hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff"),
    ]);
  });

  await t.step("each byte value alone, as name and as value", () => {
    for (let byte = 0; byte < 256; byte++) {
      const octets = new Uint8Array([byte]);
      const text = new TextDecoder().decode(octets);
      const block = [0x00, ...hpackString(octets, true), ...hpackString(octets, true)];
      assert.deepEqual(new HpackDecoder().decode(new Uint8Array(block)), [[text, text]]);
    }
  });

  await t.step("all byte values in one string, in several orders", () => {
    const next = random(7);
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const orders = [all, all.toReversed(), all.toSorted(() => (next() & 1) - 0.5)];
    for (const octets of orders) {
      const block = new Uint8Array(literal("x", hpackString(octets, true)));
      assert.deepEqual(new HpackDecoder().decode(block), [["x", new TextDecoder().decode(octets)]]);
    }
  });

  await t.step("every byte value that UTF-8 text can hold, compared exactly", () => {
    // Code points 0–0x7f, 0x80–0x7ff, 0x800–0xffff and above use all bytes but
    // 0xc0, 0xc1 and 0xf5–0xff, which never appear in UTF-8.
    let text = "";
    for (let c = 0; c < 0x800; c++) text += String.fromCodePoint(c);
    for (let lead = 0xe0; lead <= 0xef; lead++) {
      text += new TextDecoder().decode(new Uint8Array([lead, lead === 0xe0 ? 0xa0 : 0x80, 0x80]));
    }
    for (let lead = 0xf0; lead <= 0xf4; lead++) {
      text += new TextDecoder().decode(
        new Uint8Array([lead, lead === 0xf0 ? 0x90 : 0x80, 0x80, 0x80]),
      );
    }
    const octets = utf8.encode(text);
    const present = new Set(octets);
    for (let byte = 0; byte < 256; byte++) {
      const impossible = byte === 0xc0 || byte === 0xc1 || byte >= 0xf5;
      assert.equal(present.has(byte), !impossible, `byte ${byte}`);
    }
    assert.ok(!text.includes("\ufffd"));
    const block = new Uint8Array([
      0x40,
      ...hpackString(octets, true),
      ...hpackString(octets, true),
      0xbe,
    ]);
    assert.deepEqual(new HpackDecoder(1 << 16).decode(block), [[text, text], [text, text]]);
  });

  await t.step("an empty Huffman-coded string", () => {
    assert.deepEqual(new HpackDecoder().decode(new Uint8Array(literal("x", [0x80]))), [["x", ""]]);
  });
});

Deno.test("HpackDecoder rejects malformed header blocks", async (t) => {
  const decode = (bytes: number[], maxListSize?: number, maxTableSize?: number) => () =>
    new HpackDecoder(maxTableSize).decode(new Uint8Array(bytes), maxListSize);

  await t.step("an integer beyond 2^32 - 1", () => {
    assertInvalid(decode([0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), /exceeds 2\^32 - 1/);
    assertInvalid(decode([0x3f, ...hpackInteger(0, 0, 2 ** 32).slice(1)]), /exceeds/);
    // 2^32 - 1 itself is read, then found past the tables.
    assertInvalid(decode(hpackInteger(0x80, 7, 2 ** 32 - 1)), /index 4294967295/);
  });

  await t.step("an integer with too many continuation bytes", () => {
    assertInvalid(decode([0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), /continuation bytes/);
    assertInvalid(decode([0xff, ...new Array(100_000).fill(0x80), 0x00]), /continuation bytes/);
  });

  await t.step("a truncated integer", () => {
    assertInvalid(decode([0xff]), /runs past the end/);
    assertInvalid(decode([0xff, 0x80]), /runs past the end/);
    assertInvalid(decode([0x40, 0x7f]), /runs past the end/);
    assertInvalid(decode([0x00, 0x01, 0x61, 0xff, 0xff]), /runs past the end/);
  });

  await t.step("a truncated or missing string", () => {
    assertInvalid(decode([0x40, 0x05, 0x61, 0x62]), /5 octets long but only 2 remain/);
    assertInvalid(decode([0x40]), /string is missing/);
    assertInvalid(decode([0x40, 0x01, 0x61]), /string is missing/);
    assertInvalid(decode([0x04]), /string is missing/);
    assertInvalid(decode([0x04, 0x83, 0xff]), /3 octets long but only 1 remain/);
  });

  await t.step("index 0", () => {
    assertInvalid(decode([0x80]), /index 0 at byte 0/);
    assertInvalid(decode([0x82, 0x80]), /index 0 at byte 1/);
  });

  await t.step("an index past the static and dynamic tables", () => {
    assertInvalid(decode([0xbe]), /index 62 at byte 0 is past .* \(61 entries\)/);
    assertInvalid(decode([0xff, 0x00]), /index 127/);
    assertInvalid(decode([0x7e, 0x00]), /index 62/); // indexed name, incremental indexing
    assertInvalid(decode([0x0f, 0x2f, 0x00]), /index 62/); // indexed name, without indexing
    assertInvalid(decode([0x1f, 0x2f, 0x00]), /index 62/); // indexed name, never indexed
    assertInvalid(decode([0x40, 0x01, 0x61, 0x00, 0xbf]), /index 63 .*62 entries/);
  });

  await t.step("a table size update larger than the announced size", () => {
    assertInvalid(decode(hpackInteger(0x20, 5, 4097)), /asks for 4097 octets, more than the 4096/);
    assertInvalid(decode(hpackInteger(0x20, 5, 257), undefined, 256), /more than the 256/);
    assertInvalid(decode([0x21], undefined, 0), /more than the 0/);
    // Up to the announced size is fine, several times at the start of a block.
    assert.deepEqual(decode([0x20, ...hpackInteger(0x20, 5, 4096), 0x82])(), [[":method", "GET"]]);
  });

  await t.step("a table size update after a field", () => {
    assertInvalid(decode([0x82, 0x20]), /size update at byte 1 follows a header field/);
    assertInvalid(decode([0x20, 0x82, 0x3f, 0xe1, 0x1f]), /follows a header field/);
  });

  await t.step("Huffman padding longer than 7 bits", () => {
    // "a" is 00011: then 3 + 8 bits of ones.
    assertInvalid(decode(literal("x", [0x82, 0x1f, 0xff])), /11 bits of padding/);
    assertInvalid(decode(literal("x", [0x81, 0xff])), /8 bits of padding/);
    assertInvalid(decode(literal("x", [0x83, 0xff, 0xff, 0xff])), /24 bits of padding/);
  });

  await t.step("Huffman padding that is not all ones", () => {
    assertInvalid(decode(literal("x", [0x81, 0x18])), /not all ones/); // 00011 000
    assertInvalid(decode(literal("x", [0x81, 0x1d])), /not all ones/); // 00011 101
    assertInvalid(decode(literal("x", [0x81, 0x00])), /not all ones/); // "0" 00000, then 000
  });

  await t.step("EOS inside a Huffman-coded string", () => {
    assertInvalid(decode(literal("x", [0x84, 0xff, 0xff, 0xff, 0xff])), /contains EOS/);
    // "a", then EOS, then padding.
    const bits = "00011" + "1".repeat(30) + "11111";
    const bytes = bits.match(/.{8}/g)!.map((byte) => parseInt(byte, 2));
    assertInvalid(decode(literal("x", [0x80 | bytes.length, ...bytes])), /contains EOS/);
  });

  await t.step("a string longer than the header list may hold", () => {
    // "x" + 20 octets + 32 = 53 octets.
    const field = literal("x", hpackString("a".repeat(20)));
    assert.deepEqual(decode(field, 53)(), [["x", "a".repeat(20)]]);
    assertInvalid(decode(field, 52), /20 octets long, more than the 19 left/);
    const huffman = literal("x", hpackString("a".repeat(20), true));
    assert.deepEqual(decode(huffman, 53)(), [["x", "a".repeat(20)]]);
    assertInvalid(decode(huffman, 52), /more than the 19 octets left/);
    assertInvalid(
      decode([0x00, ...hpackString("n".repeat(40)), 0x00], 60),
      /more than the 28 left/,
    );
    assertInvalid(decode([0x00, ...hpackString("n".repeat(40), true), 0x00], 60), /28 octets left/);
  });

  await t.step("a header list larger than the limit", () => {
    // ":method: GET" counts 7 + 3 + 32 = 42 octets.
    assert.deepEqual(decode([0x82, 0x82], 84)(), [[":method", "GET"], [":method", "GET"]]);
    assertInvalid(decode([0x82, 0x82], 83), /header list exceeds 83 octets at byte 1/);
    assertInvalid(decode([0x82], 0), /header list exceeds 0 octets/);
    // Large blocks of small fields stop at the default limit of 1 MiB.
    assertInvalid(decode(new Array(1 << 20).fill(0x82)), /header list exceeds 1048576/);
    assert.equal(decode(new Array(1 << 16).fill(0x82), Infinity)().length, 1 << 16);
  });

  await t.step("a decoder refuses blocks after one failed", () => {
    const decoder = new HpackDecoder();
    assertInvalid(() => decoder.decode(new Uint8Array([0x80])), /index 0/);
    assertInvalid(() => decoder.decode(new Uint8Array([0x82])), /earlier block/);
  });

  await t.step("bad arguments are RangeErrors", () => {
    assert.throws(() => new HpackDecoder(-1), RangeError);
    assert.throws(() => new HpackDecoder(1.5), RangeError);
    assert.throws(() => new HpackDecoder(2 ** 32), RangeError);
    assert.throws(() => new HpackDecoder().decode(new Uint8Array(), -1), RangeError);
    assert.throws(() => new HpackDecoder().decode(new Uint8Array(), NaN), RangeError);
  });

  await t.step("an empty block has no fields", () => {
    assert.deepEqual(new HpackDecoder().decode(new Uint8Array()), []);
  });
});

Deno.test("HpackDecoder keeps the dynamic table of RFC 7541 §4", async (t) => {
  const field = (name: string, value: string) =>
    new Uint8Array([0x40, ...hpackString(name), ...hpackString(value)]);

  await t.step("a field larger than the table empties it and is not added", () => {
    const decoder = new HpackDecoder(100);
    decoder.decode(field("a", "b")); // 34 octets
    decoder.decode(field("c", "d")); // 68 octets
    assert.deepEqual(decoder.decode(hex("bebf")), [["c", "d"], ["a", "b"]]);
    // 1 + 68 + 32 = 101 octets: emptied, yet returned.
    assert.deepEqual(decoder.decode(field("e", "f".repeat(68))), [["e", "f".repeat(68)]]);
    assertInvalid(() => decoder.decode(hex("be")), /index 62/);
  });

  await t.step("a field of exactly the table size fills it", () => {
    const decoder = new HpackDecoder(100);
    decoder.decode(field("a", "b"));
    decoder.decode(field("e", "f".repeat(67)));
    assert.deepEqual(decoder.decode(hex("be")), [["e", "f".repeat(67)]]);
    assertInvalid(() => decoder.decode(hex("bf")), /index 63/);
  });

  await t.step("eviction goes from the oldest entry", () => {
    const decoder = new HpackDecoder(102); // three entries of 34 octets
    for (const name of ["a", "b", "c", "d"]) decoder.decode(field(name, "v"));
    assert.deepEqual(decoder.decode(hex("bebfc0")), [["d", "v"], ["c", "v"], ["b", "v"]]);
  });

  await t.step("an entry can name the entry it evicts", () => {
    const decoder = new HpackDecoder(34);
    decoder.decode(field("a", "b"));
    // Literal with incremental indexing, name index 62 ("a"), which the insertion evicts.
    assert.deepEqual(decoder.decode(new Uint8Array([0x7e, ...hpackString("c")])), [["a", "c"]]);
    assert.deepEqual(decoder.decode(hex("be")), [["a", "c"]]);
  });

  await t.step("size updates evict, and later insertions respect the new size", () => {
    const decoder = new HpackDecoder(4096);
    for (const name of ["a", "b", "c"]) decoder.decode(field(name, "v"));
    assert.deepEqual(decoder.decode(new Uint8Array([0x3f, 0x2d, 0xbe, 0xbf])), [
      ["c", "v"],
      ["b", "v"],
    ]); // 0x3f 0x2d = size 76: two entries
    decoder.decode(field("d", "v"));
    assert.deepEqual(decoder.decode(hex("bebf")), [["d", "v"], ["c", "v"]]);
    assert.deepEqual(decoder.decode(new Uint8Array([0x20])), []);
    assertInvalid(() => decoder.decode(hex("be")), /index 62/);
  });

  await t.step("a size update to 0 and back, at the start of one block", () => {
    const decoder = new HpackDecoder(4096);
    decoder.decode(field("a", "v"));
    assert.deepEqual(decoder.decode(new Uint8Array([0x20, ...hpackInteger(0x20, 5, 4096), 0x82])), [
      [":method", "GET"],
    ]);
    assertInvalid(() => decoder.decode(hex("be")), /index 62/);
  });

  await t.step("sizes count octets of UTF-8, not characters", () => {
    // "é" is 2 octets and "日" 3: 1 + 5 + 32 = 38 octets each entry, not 35.
    const decoder = new HpackDecoder(3 * 37);
    for (const name of ["a", "b", "c"]) decoder.decode(field(name, "é日"));
    assert.deepEqual(decoder.decode(hex("bebf")), [["c", "é日"], ["b", "é日"]]);
    assertInvalid(() => decoder.decode(hex("c0")), /index 64/);
  });

  await t.step("invalid UTF-8 decodes with replacement, sized as received", () => {
    const decoder = new HpackDecoder(35);
    const octets = new Uint8Array([0xff, 0xfe]); // 2 octets, 2 replacement characters
    decoder.decode(new Uint8Array([0x40, ...hpackString("a"), ...hpackString(octets, true)]));
    assert.deepEqual(decoder.decode(hex("be")), [["a", "\ufffd\ufffd"]]);
  });

  await t.step("filling and evicting repeatedly matches a simple model", () => {
    for (const [seed, maxTableSize] of [[1, 256], [2, 4096], [3, 64], [4, 0], [5, 1000]] as const) {
      modelRun(seed, maxTableSize);
    }
  });
});

const STATIC_SAMPLE: [index: number, name: string, value: string][] = [
  [1, ":authority", ""],
  [2, ":method", "GET"],
  [4, ":path", "/"],
  [8, ":status", "200"],
  [16, "accept-encoding", "gzip, deflate"],
  [31, "content-type", ""],
  [58, "user-agent", ""],
  [61, "www-authenticate", ""],
];

/** Decodes random blocks that use the dynamic table and compares with a plain model of it. */
function modelRun(seed: number, maxTableSize: number): void {
  const next = random(seed);
  const below = (n: number) => next() % n;
  const octets = (text: string) => utf8.encode(text).length;
  const letters = "abcdefghijklmnopqrstuvwxyz-";
  const characters = "abcXYZ019 ;=/-é日🙂";
  const text = (alphabet: string, length: number) =>
    Array.from({ length }, () => [...alphabet][below([...alphabet].length)]!).join("");

  let capacity = maxTableSize;
  let table: [string, string][] = []; // newest first
  const sizeOf = ([name, value]: [string, string]) => octets(name) + octets(value) + 32;
  const used = () => table.reduce((sum, entry) => sum + sizeOf(entry), 0);
  const evict = (target: number) => {
    while (used() > target) table.pop();
  };
  const insert = (entry: [string, string]) => {
    if (sizeOf(entry) > capacity) {
      table = [];
      return;
    }
    evict(capacity - sizeOf(entry));
    table.unshift(entry);
  };

  const decoder = new HpackDecoder(maxTableSize);
  let inserts = 0;
  let evictions = 0;
  for (let round = 0; round < 300; round++) {
    const block: number[] = [];
    const expected: Fields = [];
    if (below(5) === 0) {
      for (let i = below(2); i >= 0; i--) {
        capacity = below(maxTableSize + 1);
        block.push(...hpackInteger(0x20, 5, capacity));
        evict(capacity);
      }
    }
    for (let count = 1 + below(12); count > 0; count--) {
      const kind = below(6);
      if (kind === 0) {
        const [index, name, value] = STATIC_SAMPLE[below(STATIC_SAMPLE.length)]!;
        block.push(...hpackInteger(0x80, 7, index));
        expected.push([name, value]);
        continue;
      }
      if (kind === 1 && table.length > 0) {
        const position = below(table.length);
        block.push(...hpackInteger(0x80, 7, 62 + position));
        expected.push([...table[position]!]);
        continue;
      }
      // A literal: with incremental indexing (mostly), without, or never indexed.
      const mode = below(4);
      const [flags, prefix] = mode <= 1 ? [0x40, 6] : mode === 2 ? [0x00, 4] : [0x10, 4];
      let name: string;
      const nameFrom = below(3);
      if (nameFrom === 0 && table.length > 0) {
        const position = below(table.length);
        name = table[position]![0];
        block.push(...hpackInteger(flags, prefix, 62 + position));
      } else if (nameFrom === 1) {
        const [index, staticName] = STATIC_SAMPLE[below(STATIC_SAMPLE.length)]!;
        name = staticName;
        block.push(...hpackInteger(flags, prefix, index));
      } else {
        name = text(letters, 1 + below(12));
        block.push(flags, ...hpackString(name, below(2) === 0));
      }
      const long = below(10) === 0;
      const value = text(characters, long ? below(400) : below(40));
      block.push(...hpackString(value, below(2) === 0));
      expected.push([name, value]);
      if (flags === 0x40) {
        const before = table.length;
        insert([name, value]);
        inserts++;
        if (table.length <= before) evictions++;
      }
    }
    assert.deepEqual(
      decoder.decode(new Uint8Array(block), Infinity),
      expected,
      `seed ${seed}, round ${round}`,
    );
  }
  // Every entry left must be where the model says.
  const probe = table.map((_, position) => hpackInteger(0x80, 7, 62 + position)).flat();
  assert.deepEqual(decoder.decode(new Uint8Array(probe), Infinity), table);
  assertInvalid(() => decoder.decode(new Uint8Array(hpackInteger(0x80, 7, 62 + table.length))));
  assert.ok(inserts > 100, `only ${inserts} insertions`);
  if (maxTableSize > 0) assert.ok(evictions > 20, `only ${evictions} evictions`);
}

Deno.test("HpackDecoder never hangs on random or hostile blocks", async (t) => {
  await t.step("200 blocks of 1 MiB of random bytes decode or throw DockerProtocolError", () => {
    const next = random(42);
    const block = new Uint8Array(1 << 20);
    const words = new Uint32Array(block.buffer);
    let decoded = 0;
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < words.length; i++) words[i] = next();
      // Every few rounds, start with a valid prefix so decoding gets further.
      if (round % 4 === 1) block.set([0x82, 0x86, 0x84, 0x41, 0x03, 0x61, 0x62, 0x63]);
      try {
        new HpackDecoder(round % 2 === 0 ? 4096 : 1 << 16).decode(block, Infinity);
        decoded++;
      } catch (error) {
        assert.ok(error instanceof DockerProtocolError, `round ${round}: ${error}`);
        assert.equal(error.code, "INVALID_HTTP2");
      }
    }
    assert.ok(decoded < 200);
  });

  await t.step("1 MiB worst cases decode in linear time", () => {
    // A Huffman-coded string of 1 MiB ("0" is 5 bits: 1677721 symbols and 3 bits of padding).
    const huffman = new Uint8Array(literal("x", hpackString("0".repeat(1677721), true)));
    assert.equal(new HpackDecoder().decode(huffman, Infinity)[0]![1].length, 1677721);
    // 1 MiB of minimal insertions into a table of 1 MiB (32768 entries), evicting one each.
    const insertions = new Uint8Array(3 * 350_000);
    for (let i = 0; i < insertions.length; i += 3) insertions.set([0x40, 0x00, 0x00], i);
    const decoder = new HpackDecoder(1 << 20);
    assert.equal(decoder.decode(insertions, Infinity).length, 350_000);
    const last = hpackInteger(0x80, 7, 61 + 32768);
    assert.deepEqual(decoder.decode(new Uint8Array(last)), [["", ""]]);
    assertInvalid(() => decoder.decode(new Uint8Array(hpackInteger(0x80, 7, 62 + 32768))));
  });
});

Deno.test("encodeHeaderBlock encodes without a dynamic table", async (t) => {
  await t.step("a field fully in the static table is indexed", () => {
    assert.deepEqual(encodeHeaderBlock([[":status", "200"]]), new Uint8Array([0x88]));
    assert.deepEqual(encodeHeaderBlock([[":method", "POST"]]), new Uint8Array([0x83]));
    assert.deepEqual(
      encodeHeaderBlock([["accept-encoding", "gzip, deflate"]]),
      new Uint8Array([0x90]),
    );
  });

  await t.step("a name in the static table is a literal without indexing, indexed name", () => {
    const block = encodeHeaderBlock([["content-type", "application/grpc"]]);
    assert.deepEqual(block, new Uint8Array([0x0f, 0x10, 0x10, ...utf8.encode("application/grpc")]));
    // The first entry of a name is used: ":status" is 8.
    assert.deepEqual(
      encodeHeaderBlock([[":status", "418"]]),
      new Uint8Array([0x08, 3, 52, 49, 56]),
    );
    // Index 15 needs a continuation byte of 0.
    assert.deepEqual(
      encodeHeaderBlock([["accept-charset", "utf-8"]]),
      new Uint8Array([0x0f, 0x00, 5, ...utf8.encode("utf-8")]),
    );
    // An empty value of a name whose static entry has an empty value is indexed.
    assert.deepEqual(encodeHeaderBlock([["accept-charset", ""]]), new Uint8Array([0x8f]));
  });

  await t.step("another name is a literal without indexing, new name", () => {
    const block = encodeHeaderBlock([["grpc-status", "0"]]);
    assert.deepEqual(block, new Uint8Array([0x00, 11, ...utf8.encode("grpc-status"), 1, 0x30]));
  });

  await t.step("long strings use continuation bytes for their length", () => {
    const value = "v".repeat(300);
    const block = encodeHeaderBlock([["grpc-message", value]]);
    assert.deepEqual([...block.subarray(0, 15)], [0x00, 12, ...utf8.encode("grpc-message"), 0x7f]);
    assert.deepEqual([...block.subarray(15, 17)], [0xad, 0x01]); // 300 = 127 + 173
    assert.deepEqual(new HpackDecoder().decode(block), [["grpc-message", value]]);
  });

  await t.step("blocks round trip through HpackDecoder and leave its table empty", () => {
    const fields: Fields = [
      [":status", "200"],
      ["content-type", "application/grpc"],
      ["grpc-status", "0"],
      ["grpc-message", "héllo wörld 日本"],
      ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
      ["x-empty", ""],
      [":status", "404"],
    ];
    const decoder = new HpackDecoder();
    assert.deepEqual(decoder.decode(encodeHeaderBlock(fields)), fields);
    assert.deepEqual(decoder.decode(encodeHeaderBlock(fields)), fields);
    assertInvalid(() => decoder.decode(hex("be")), /index 62/);
    assert.deepEqual(encodeHeaderBlock([]), new Uint8Array());
  });

  await t.step("an uppercase name is a TypeError", () => {
    assert.throws(() => encodeHeaderBlock([["Content-Type", "text/plain"]]), TypeError);
    assert.throws(() => encodeHeaderBlock([["grpc-Status", "0"]]), /must be lowercase/);
  });

  await t.step("a name or value that is not a string is a TypeError", () => {
    const bad = [["grpc-status", 0]] as unknown as [string, string][];
    assert.throws(() => encodeHeaderBlock(bad), TypeError);
  });
});
