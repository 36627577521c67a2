import assert from "node:assert/strict";
import { DockerStreamError } from "../../src/errors.ts";
import {
  JsonLinesDecoder,
  type JsonLinesDecoderOptions,
  jsonLinesStream,
} from "../../src/stream/json_lines.ts";
import { countingSource, fails } from "./_helpers.ts";

const encoder = new TextEncoder();

function decodePieces<T = unknown>(pieces: Uint8Array[], options?: JsonLinesDecoderOptions): T[] {
  const lines = new JsonLinesDecoder<T>(options);
  const out: T[] = [];
  for (const piece of pieces) lines.push(piece, out);
  lines.finish(out);
  return out;
}

// A realistic pull progress stream: CRLF and LF endings, a blank line,
// multi-byte characters (2, 3 and 4 bytes), nested objects, and a last line
// without its newline.
const VALUES = [
  { status: "Pulling from library/busybox", id: "latest" },
  {
    status: "Downloading",
    progressDetail: { current: 1024, total: 2_000_000 },
    id: "9ad63333ebc9",
  },
  { status: "Extracting ünïcödé — ✓ 🐳", id: "9ad63333ebc9" },
  [1, "two", null, true],
  "a string line",
  42,
  { status: "Digest: sha256:" + "0".repeat(64) },
  { status: "Status: Downloaded newer image for busybox:latest" },
];
const TEXT = [
  JSON.stringify(VALUES[0]) + "\r\n",
  JSON.stringify(VALUES[1]) + "\n",
  "\n",
  "   \r\n",
  JSON.stringify(VALUES[2]) + "\n",
  JSON.stringify(VALUES[3]) + "\n",
  JSON.stringify(VALUES[4]) + "\r\n",
  JSON.stringify(VALUES[5]) + "\n",
  JSON.stringify(VALUES[6]) + "\n",
  JSON.stringify(VALUES[7]),
].join("");
const BYTES = encoder.encode(TEXT);

Deno.test("JsonLinesDecoder decodes a realistic progress stream in one piece", () => {
  assert.deepEqual(decodePieces([BYTES]), VALUES);
});

Deno.test("JsonLinesDecoder decodes a stream split at every offset", () => {
  for (let split = 0; split <= BYTES.length; split++) {
    const values = decodePieces([BYTES.subarray(0, split), BYTES.subarray(split)]);
    assert.deepEqual(values, VALUES, `split at ${split}`);
  }
});

Deno.test("JsonLinesDecoder decodes a stream split at every pair of offsets", () => {
  for (let a = 0; a <= BYTES.length; a += 2) {
    for (let b = a; b <= BYTES.length; b += 5) {
      const pieces = [BYTES.subarray(0, a), BYTES.subarray(a, b), BYTES.subarray(b)];
      assert.deepEqual(decodePieces(pieces), VALUES, `split at ${a}, ${b}`);
    }
  }
});

Deno.test("JsonLinesDecoder decodes a stream fed one byte at a time", () => {
  assert.deepEqual(decodePieces(Array.from(BYTES, (_, i) => BYTES.subarray(i, i + 1))), VALUES);
});

Deno.test("JsonLinesDecoder keeps a UTF-8 multi-byte character split across pushes", () => {
  for (const char of ["é", "✓", "🐳"]) {
    const bytes = encoder.encode(`{"text":"a${char}b"}\n`);
    const start = bytes.indexOf(0x61) + 1; // first byte of the character
    const charLength = encoder.encode(char).length;
    for (let cut = start + 1; cut < start + charLength; cut++) {
      const values = decodePieces<{ text: string }>([bytes.subarray(0, cut), bytes.subarray(cut)]);
      assert.deepEqual(values, [{ text: `a${char}b` }], `${char} cut at ${cut}`);
    }
    // Every byte of the character in its own push.
    const bytewise = decodePieces(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)));
    assert.deepEqual(bytewise, [{ text: `a${char}b` }]);
  }
});

Deno.test("JsonLinesDecoder emits each value as soon as its newline arrives", () => {
  const lines = new JsonLinesDecoder<number>();
  const out: number[] = [];
  lines.push(encoder.encode("1\n2\n3"), out);
  assert.deepEqual(out, [1, 2]);
  lines.push(encoder.encode("4"), out);
  assert.deepEqual(out, [1, 2]);
  lines.push(encoder.encode("\n"), out);
  assert.deepEqual(out, [1, 2, 34]);
  lines.finish(out);
  lines.finish(out);
  assert.deepEqual(out, [1, 2, 34]);
});

Deno.test("JsonLinesDecoder parses a last line without a newline at finish", () => {
  assert.deepEqual(decodePieces([encoder.encode('{"a":1}\n{"b":'), encoder.encode("2}")]), [
    { a: 1 },
    { b: 2 },
  ]);
  assert.deepEqual(decodePieces([encoder.encode("7\r")]), [7]);
  assert.deepEqual(decodePieces([encoder.encode("  ")]), []);
});

Deno.test("JsonLinesDecoder skips blank lines and strips a trailing CR", () => {
  const text = "\n\r\n \t \n1\r\n\n\n2\n\r\n";
  assert.deepEqual(decodePieces([encoder.encode(text)]), [1, 2]);
});

Deno.test("JsonLinesDecoder copies a partial line, so reused input buffers are safe", () => {
  const lines = new JsonLinesDecoder<{ a: string }>();
  const out: { a: string }[] = [];
  const buffer = new Uint8Array(64);
  const first = encoder.encode('{"a":"he');
  buffer.set(first);
  lines.push(buffer.subarray(0, first.length), out);
  buffer.fill(0x7a); // the caller reuses its buffer
  const second = encoder.encode('llo"}\n');
  buffer.set(second);
  lines.push(buffer.subarray(0, second.length), out);
  assert.deepEqual(out, [{ a: "hello" }]);
});

Deno.test("JsonLinesDecoder throws INVALID_JSON quoting at most 120 characters of the line", () => {
  const long = "not json " + "y".repeat(500);
  const error = fails(() => decodePieces([encoder.encode(`1\n${long}\n2\n`)]), "INVALID_JSON");
  assert.ok(error.message.includes("not json yyy"), error.message);
  assert.ok(!error.message.includes("y".repeat(112)), error.message);
  assert.match(error.message, /509 bytes/);
  // Split across pushes and at finish alike.
  fails(() => decodePieces([encoder.encode('{"a":'), encoder.encode("}\n")]), "INVALID_JSON");
  fails(() => decodePieces([encoder.encode("{")]), "INVALID_JSON");
});

Deno.test("JsonLinesDecoder throws LINE_TOO_LONG for a line over maxLineSize", () => {
  const options = { maxLineSize: 10 };
  // Exactly at the limit is fine, complete or split.
  assert.deepEqual(decodePieces([encoder.encode('"12345678"\n')], options), ["12345678"]);
  assert.deepEqual(decodePieces([encoder.encode('"1234'), encoder.encode('5678"\n')], options), [
    "12345678",
  ]);
  // A partial line over the limit fails before its end arrives.
  const lines = new JsonLinesDecoder(options);
  lines.push(encoder.encode('"12345'), []);
  const error = fails(() => lines.push(encoder.encode("678901"), []), "LINE_TOO_LONG");
  assert.match(error.message, /10 bytes/);
  fails(() => decodePieces([encoder.encode('"123456789"')], options), "LINE_TOO_LONG");
  // Completed by the next push, or complete in one push: same limit.
  fails(
    () => decodePieces([encoder.encode('"1234'), encoder.encode('56789"\n')], options),
    "LINE_TOO_LONG",
  );
  fails(() => decodePieces([encoder.encode('"123456789"\n')], options), "LINE_TOO_LONG");
});

Deno.test("JsonLinesDecoder turns error lines into DockerStreamError with the engine's detail", () => {
  const cases: [line: unknown, message: string, detail: unknown][] = [
    [
      { errorDetail: { message: "manifest unknown" }, error: "manifest unknown" },
      "manifest unknown",
      { message: "manifest unknown" },
    ],
    [
      { errorDetail: { code: 1, message: "build step failed" }, error: "legacy text" },
      "build step failed",
      { code: 1, message: "build step failed" },
    ],
    [{ error: "only the string" }, "only the string", undefined],
    [{ errorDetail: { code: 7 }, error: "from error" }, "from error", { code: 7 }],
  ];
  for (const [line, message, detail] of cases) {
    const bytes = encoder.encode(`{"status":"ok"}\n${JSON.stringify(line)}\n{"status":"after"}\n`);
    const lines = new JsonLinesDecoder();
    const out: unknown[] = [];
    let caught: unknown;
    try {
      lines.push(bytes, out);
    } catch (error) {
      caught = error;
    }
    assert.ok(caught instanceof DockerStreamError, `${JSON.stringify(line)}: ${caught}`);
    assert.equal(caught.message, message);
    assert.deepEqual(caught.detail, detail);
    assert.deepEqual(out, [{ status: "ok" }], "values before the error line are delivered");
    // The decoder stays failed.
    assert.throws(() => lines.push(encoder.encode("1\n"), []), (error) => error === caught);
  }
  // Not error lines: a null error, a string errorDetail, a non-object value.
  const fine = decodePieces([encoder.encode('{"error":null}\n{"errorDetail":"x"}\n"error"\n')]);
  assert.equal(fine.length, 3);
});

Deno.test("JsonLinesDecoder passes error lines through when errorLines is false", () => {
  const bytes = encoder.encode('{"error":"boom","errorDetail":{"message":"boom"}}\n');
  assert.deepEqual(decodePieces([bytes], { errorLines: false }), [{
    error: "boom",
    errorDetail: { message: "boom" },
  }]);
});

Deno.test("JsonLinesDecoder rejects an invalid maxLineSize with a RangeError", () => {
  assert.throws(() => new JsonLinesDecoder({ maxLineSize: -5 }), RangeError);
  assert.throws(() => new JsonLinesDecoder({ maxLineSize: Infinity }), RangeError);
});

Deno.test("jsonLinesStream decodes lines split across pieces", async () => {
  const pieces: Uint8Array[] = [];
  for (let offset = 0; offset < BYTES.length; offset += 11) {
    pieces.push(BYTES.subarray(offset, offset + 11));
  }
  assert.deepEqual(await Array.fromAsync(jsonLinesStream(ReadableStream.from(pieces))), VALUES);
});

Deno.test("jsonLinesStream reads the source only as values are pulled", async () => {
  const source = countingSource([
    encoder.encode("1\n2\n"),
    encoder.encode("3"), // a read that completes no line
    encoder.encode("3\n"),
    encoder.encode("4\n"),
  ]);
  const values = jsonLinesStream<number>(source.body);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(source.pulls(), 0);
  const reader = values.getReader();
  assert.equal((await reader.read()).value, 1);
  assert.equal(source.pulls(), 1);
  assert.equal((await reader.read()).value, 2);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(source.pulls(), 1);
  assert.equal((await reader.read()).value, 33);
  assert.equal(source.pulls(), 3);
  assert.equal((await reader.read()).value, 4);
  assert.equal((await reader.read()).done, true);
});

Deno.test("jsonLinesStream propagates cancel to the body with its reason", async () => {
  const source = countingSource([encoder.encode("1\n"), encoder.encode("2\n")]);
  const reader = jsonLinesStream(source.body).getReader();
  await reader.read();
  const reason = new Error("stop");
  await reader.cancel(reason);
  assert.equal(source.cancelled(), reason);
});

Deno.test("jsonLinesStream delivers values before an error line, then the error, and cancels the body", async () => {
  const source = countingSource([
    encoder.encode('{"status":"Pulling"}\n{"errorDetail":{"message":"denied"},"error":"denied"}\n'),
    encoder.encode('{"status":"never"}\n'),
  ]);
  const reader = jsonLinesStream(source.body).getReader();
  assert.deepEqual((await reader.read()).value, { status: "Pulling" });
  await assert.rejects(
    reader.read(),
    (error) => error instanceof DockerStreamError && error.message === "denied",
  );
  assert.ok(source.cancelled() instanceof DockerStreamError);
  assert.equal(source.pulls(), 1);
});

Deno.test("jsonLinesStream passes source errors through unchanged", async () => {
  const failure = new Error("connection reset");
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode("1\n2"));
    },
    pull(controller) {
      controller.error(failure);
    },
  });
  const reader = jsonLinesStream(body).getReader();
  assert.equal((await reader.read()).value, 1);
  await assert.rejects(reader.read(), (error) => error === failure);
});
