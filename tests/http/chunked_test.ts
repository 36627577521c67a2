import assert from "node:assert/strict";
import { DockerProtocolError, type DockerProtocolErrorCode } from "../../src/errors.ts";
import { ChunkedDecoder, type ChunkedDecoderOptions } from "../../src/http/chunked.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

function concat(parts: Uint8Array[]): Uint8Array {
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

/** Feeds `pieces` in order; returns the payload, bytes consumed per piece and whether it ended. */
function decodePieces(
  pieces: Uint8Array[],
  options?: ChunkedDecoderOptions,
): { payload: Uint8Array; consumed: number[]; done: boolean; outputs: Uint8Array[] } {
  const chunked = new ChunkedDecoder(options);
  const outputs: Uint8Array[] = [];
  const consumed = pieces.map((piece) => chunked.decode(piece, outputs));
  return { payload: concat(outputs), consumed, done: chunked.done, outputs };
}

/** Expects decoding `pieces` to fail with `code`; returns the error. */
function decodeFails(
  pieces: Uint8Array[],
  code: DockerProtocolErrorCode,
  options?: ChunkedDecoderOptions,
): DockerProtocolError {
  let caught: unknown;
  try {
    decodePieces(pieces, options);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof DockerProtocolError, `expected ${code}, got ${caught}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

// A realistic body: lower and upper case hex, leading zeros, an extension
// with a quoted value, whitespace before `;`, a chunk of 0x1A bytes, two
// trailer fields, then the next response's bytes.
const PAYLOAD = "hello, world! " + "x".repeat(26) + "ünïcödé";
const PAYLOAD_BYTES = bytes(PAYLOAD);
const BODY_TEXT = [
  "5\r\n",
  "hello\r\n",
  '0008;name=value;q="a b"\r\n',
  ", world!\r\n",
  "1 \t;ext\r\n",
  " \r\n",
  "1A\r\n",
  "x".repeat(26) + "\r\n",
  `${bytes("ünïcödé").length.toString(16).toUpperCase()}\r\n`,
  "ünïcödé\r\n",
  "0;last\r\n",
  "Expires: never\r\n",
  "X-Checksum: abc\r\n",
  "\r\n",
].join("");
const BODY = bytes(BODY_TEXT);
const NEXT = bytes("HTTP/1.1 200 OK\r\n");
const BODY_AND_NEXT = concat([BODY, NEXT]);

Deno.test("ChunkedDecoder decodes a realistic body in one piece and reports where it ends", () => {
  const { payload, consumed, done } = decodePieces([BODY_AND_NEXT]);
  assert.equal(decoder.decode(payload), PAYLOAD);
  assert.deepEqual(payload, PAYLOAD_BYTES);
  assert.deepEqual(consumed, [BODY.length]);
  assert.equal(done, true);
});

Deno.test("ChunkedDecoder decodes a body split at every offset", () => {
  for (let split = 0; split <= BODY_AND_NEXT.length; split++) {
    const first = BODY_AND_NEXT.subarray(0, split);
    const second = BODY_AND_NEXT.subarray(split);
    const { payload, consumed, done } = decodePieces([first, second]);
    assert.deepEqual(payload, PAYLOAD_BYTES, `split at ${split}`);
    assert.equal(done, true, `split at ${split}`);
    if (split <= BODY.length) {
      assert.deepEqual(consumed, [split, BODY.length - split], `split at ${split}`);
    } else {
      assert.deepEqual(consumed, [BODY.length, 0], `split at ${split}`);
    }
  }
});

Deno.test("ChunkedDecoder decodes a body split at every pair of offsets", () => {
  for (let a = 0; a <= BODY.length; a++) {
    for (let b = a; b <= BODY.length; b++) {
      const pieces = [BODY.subarray(0, a), BODY.subarray(a, b), BODY.subarray(b)];
      const { payload, consumed, done } = decodePieces(pieces);
      assert.deepEqual(payload, PAYLOAD_BYTES, `split at ${a}, ${b}`);
      assert.deepEqual(consumed, [a, b - a, BODY.length - b]);
      assert.equal(done, true);
    }
  }
});

Deno.test("ChunkedDecoder decodes a body fed one byte at a time", () => {
  const pieces = Array.from(BODY_AND_NEXT, (_, i) => BODY_AND_NEXT.subarray(i, i + 1));
  const { payload, consumed, done } = decodePieces(pieces);
  assert.deepEqual(payload, PAYLOAD_BYTES);
  assert.equal(done, true);
  assert.equal(consumed.reduce((sum, n) => sum + n, 0), BODY.length);
  // Every byte up to the final LF is consumed; none after it.
  assert.deepEqual(consumed.slice(BODY.length), new Array(NEXT.length).fill(0));
});

Deno.test("ChunkedDecoder outputs views of the input, not copies, and no empty views", () => {
  const input = bytes("3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
  const out: Uint8Array[] = [];
  new ChunkedDecoder().decode(input, out);
  assert.equal(out.length, 2);
  for (const view of out) assert.equal(view.buffer, input.buffer);
  assert.equal(out[0]!.byteOffset, 3);
  assert.equal(out[1]!.byteOffset, 11);
  assert.equal(decoder.decode(out[1]), "defg");

  // A piece that is all payload comes back as one view covering all of it.
  const chunked = new ChunkedDecoder();
  const parts: Uint8Array[] = [];
  chunked.decode(bytes("100000\r\n"), parts);
  const data = new Uint8Array(65536).fill(7);
  chunked.decode(data, parts);
  assert.equal(parts.length, 1);
  assert.equal(parts[0]!.buffer, data.buffer);
  assert.equal(parts[0]!.length, 65536);
  // Size lines and delimiters alone produce nothing.
  const none: Uint8Array[] = [];
  new ChunkedDecoder().decode(bytes("5;a=b\r\n"), none);
  assert.deepEqual(none, []);
});

Deno.test("ChunkedDecoder passes a 1 MiB chunk through in views of each piece", () => {
  const size = 1 << 20;
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = i % 251;
  const body = concat([bytes(`${size.toString(16)}\r\n`), data, bytes("\r\n0\r\n\r\n")]);
  const pieces: Uint8Array[] = [];
  for (let offset = 0; offset < body.length; offset += 65536) {
    pieces.push(body.subarray(offset, offset + 65536));
  }
  const { payload, outputs, done } = decodePieces(pieces);
  assert.equal(done, true);
  assert.deepEqual(payload, data);
  // The data spans 17 pieces (the size line shifts it by 8 bytes): one view each.
  assert.equal(outputs.length, 17);
  for (const view of outputs) assert.equal(view.buffer, body.buffer);
});

Deno.test("ChunkedDecoder returns the consumed count when bytes follow the terminator", () => {
  // Terminator and next bytes in one piece.
  const chunked = new ChunkedDecoder();
  const input = bytes("2\r\nok\r\n0\r\n\r\nHTTP/1.1");
  assert.equal(chunked.decode(input, []), input.length - 8);
  assert.equal(chunked.done, true);
  // Once done, nothing more is consumed.
  assert.equal(chunked.decode(bytes("more"), []), 0);
  assert.equal(chunked.decode(new Uint8Array(0), []), 0);

  // The final CRLF split from the trailers, next bytes after it.
  const split = new ChunkedDecoder();
  assert.equal(split.decode(bytes("0\r\nA: b\r\n\r"), []), 10);
  assert.equal(split.done, false);
  assert.equal(split.decode(bytes("\nNEXT"), []), 1);
  assert.equal(split.done, true);
});

Deno.test("ChunkedDecoder accepts hex in either case, leading zeros, extensions and BWS", () => {
  const cases: [string, string][] = [
    ["a\r\n0123456789\r\n0\r\n\r\n", "0123456789"],
    ["A\r\n0123456789\r\n0\r\n\r\n", "0123456789"],
    ["0000000000000000000000000000001\r\nz\r\n0\r\n\r\n", "z"],
    ["1;a\r\nz\r\n0\r\n\r\n", "z"],
    ["1 ;a=b\r\nz\r\n0\r\n\r\n", "z"],
    ['1\t \t;a="quoted; value"\r\nz\r\n0\r\n\r\n', "z"],
    ["1 \r\nz\r\n0\r\n\r\n", "z"],
    ["1;a ; b = c\r\nz\r\n00;last\r\n\r\n", "z"],
  ];
  for (const [body, expected] of cases) {
    const { payload, done, consumed } = decodePieces([bytes(body)]);
    assert.equal(decoder.decode(payload), expected, JSON.stringify(body));
    assert.equal(done, true);
    assert.deepEqual(consumed, [body.length]);
  }
});

Deno.test("ChunkedDecoder accepts a size of 2^53 - 1 and rejects 2^53", () => {
  const largest = new ChunkedDecoder();
  largest.decode(bytes("1FFFFFFFFFFFFF\r\nabc"), []);
  assert.equal(largest.done, false);
  decodeFails([bytes("20000000000000\r\n")], "CHUNK_SIZE_TOO_LARGE");
});

Deno.test("ChunkedDecoder counts extensions against maxChunkExtensionSize", () => {
  const line = `1;${"e".repeat(98)}`; // 100 bytes without the CRLF
  const body = bytes(`${line}\r\nz\r\n0\r\n\r\n`);
  assert.equal(decoder.decode(decodePieces([body], { maxChunkExtensionSize: 100 }).payload), "z");
  decodeFails([body], "INVALID_CHUNK_SIZE", { maxChunkExtensionSize: 99 });
  // The same byte by byte: the limit holds across pieces.
  const pieces = Array.from(body, (_, i) => body.subarray(i, i + 1));
  decodeFails(pieces, "INVALID_CHUNK_SIZE", { maxChunkExtensionSize: 99 });
  // Leading zeros count too, so an endless size line cannot go unbounded.
  decodeFails([bytes("0".repeat(5000))], "INVALID_CHUNK_SIZE");
});

Deno.test("ChunkedDecoder counts trailers against maxTrailerSize", () => {
  const trailer = "A: 12345\r\n"; // 10 bytes with its CRLF
  const body = bytes(`0\r\n${trailer}${trailer}\r\n`);
  assert.equal(decodePieces([body], { maxTrailerSize: 20 }).done, true);
  decodeFails([body], "TRAILERS_TOO_LARGE", { maxTrailerSize: 19 });
  const pieces = Array.from(body, (_, i) => body.subarray(i, i + 1));
  decodeFails(pieces, "TRAILERS_TOO_LARGE", { maxTrailerSize: 19 });
  decodeFails([bytes(`0\r\n${"A".repeat(20000)}`)], "TRAILERS_TOO_LARGE");
});

const MALFORMED: [name: string, body: string, code: DockerProtocolErrorCode, found?: string][] = [
  ["a size that is not hex", "zz\r\nhello\r\n", "INVALID_CHUNK_SIZE", "0x7a"],
  ["a size with a sign", "-5\r\nhello\r\n", "INVALID_CHUNK_SIZE", "0x2d"],
  ["a size with a 0x prefix", "0x5\r\nhello\r\n", "INVALID_CHUNK_SIZE", "0x78"],
  ["an empty size line", "\r\nhello\r\n", "INVALID_CHUNK_SIZE"],
  ["an extension without a size", ";a=b\r\nhello\r\n", "INVALID_CHUNK_SIZE", "0x3b"],
  ["whitespace before the size", " 5\r\nhello\r\n", "INVALID_CHUNK_SIZE", "0x20"],
  ["hex digits after whitespace", "5 5\r\nhello\r\n", "INVALID_CHUNK_SIZE", "0x35"],
  ["a control byte in an extension", "5;a=\x00\r\nhello\r\n", "INVALID_CHUNK_SIZE", "0x00"],
  ["2^53 as size", "20000000000000\r\n", "CHUNK_SIZE_TOO_LARGE"],
  ["17 significant hex digits", "10000000000000000\r\n", "CHUNK_SIZE_TOO_LARGE"],
  ["a bare LF after the size", "5\nhello\r\n", "INVALID_CHUNK_DELIMITER"],
  ["a bare LF after an extension", "5;a\nhello\r\n", "INVALID_CHUNK_DELIMITER"],
  ["CR and garbage after the size", "5\rXhello\r\n", "INVALID_CHUNK_DELIMITER", "0x58"],
  ["data longer than its size", "5\r\nhelloXX\r\n0\r\n\r\n", "INVALID_CHUNK_DELIMITER", "0x58"],
  ["a bare LF after data", "5\r\nhello\n0\r\n\r\n", "INVALID_CHUNK_DELIMITER", "0x0a"],
  ["CR and garbage after data", "5\r\nhello\rX0\r\n\r\n", "INVALID_CHUNK_DELIMITER", "0x58"],
  ["a bare LF in a trailer", "0\r\nA: b\n\r\n", "INVALID_CHUNK_DELIMITER"],
  ["CR and garbage in a trailer", "0\r\nA: b\rX\r\n", "INVALID_CHUNK_DELIMITER", "0x58"],
  ["a bare LF as final line", "0\r\n\n", "INVALID_CHUNK_DELIMITER"],
  ["CR and garbage as final line", "0\r\n\rX", "INVALID_CHUNK_DELIMITER", "0x58"],
];

for (const [name, body, code, found] of MALFORMED) {
  Deno.test(`ChunkedDecoder rejects ${name} with ${code}, however it is split`, () => {
    const input = bytes(body);
    const whole = decodeFails([input], code);
    if (found !== undefined) assert.match(whole.message, new RegExp(found), whole.message);
    // Never dump payload into the message.
    assert.doesNotMatch(whole.message, /hello/);
    for (let split = 0; split <= input.length; split++) {
      decodeFails([input.subarray(0, split), input.subarray(split)], code);
    }
    decodeFails(Array.from(input, (_, i) => input.subarray(i, i + 1)), code);
  });
}

Deno.test("ChunkedDecoder keeps failing with the same error after one", () => {
  const chunked = new ChunkedDecoder();
  let first: unknown;
  try {
    chunked.decode(bytes("5\nx"), []);
  } catch (error) {
    first = error;
  }
  assert.ok(first instanceof DockerProtocolError);
  assert.throws(() => chunked.decode(bytes("0\r\n\r\n"), []), (error) => error === first);
  assert.equal(chunked.done, false);
});

Deno.test("ChunkedDecoder rejects invalid limits with a RangeError", () => {
  assert.throws(() => new ChunkedDecoder({ maxTrailerSize: -1 }), RangeError);
  assert.throws(() => new ChunkedDecoder({ maxChunkExtensionSize: 1.5 }), RangeError);
  assert.throws(() => new ChunkedDecoder({ maxChunkExtensionSize: Number.NaN }), RangeError);
});
