/**
 * Seeded fuzz tests of the stream decoders (multiplexed frames, JSON lines,
 * WebSocket frames) and of the tar reader. Random valid inputs, split at
 * random offsets, must decode exactly as generated; damaged and hostile
 * inputs must fail with a `DockerError` subclass (the same one whatever the
 * split), without hanging and without allocating what a header merely
 * declares.
 *
 * A failure names the seed, the case and its input: rerun with
 * `BERTH_FUZZ_SEED=<seed>` to reproduce it, `BERTH_FUZZ_CASES=<n>` for n
 * times the cases.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DockerError, DockerProtocolError, DockerStreamError } from "../../src/errors.ts";
import { demuxStream, type Frame, FrameDecoder, type StreamName } from "../../src/stream/demux.ts";
import { JsonLinesDecoder, jsonLinesStream } from "../../src/stream/json_lines.ts";
import { readTar, type TarEntry, tarStream } from "../../src/stream/tar.ts";
import {
  type ByteDuplex,
  type WebSocketMessage,
  webSocketSession,
} from "../../src/stream/websocket.ts";
import { fuzzCases, fuzzSeed, mutate, Random, randomSplit } from "../_fuzz.ts";
import { countingSource } from "./_helpers.ts";
import { collect, concat, END, padded, paxHeader, rawHeader } from "./_tar.ts";

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

// ---------------------------------------------------------------------------
// Case runner
// ---------------------------------------------------------------------------

/** Records the input of the current case, for the failure message. */
type Note = (input: Uint8Array) => void;

/** The seed of case `index`: each case can be replayed without the ones before it. */
function caseSeed(seed: number, index: number): number {
  return (seed + Math.imul(index + 1, 0x9e3779b9)) >>> 0;
}

/**
 * `bytes` as printable ASCII with other bytes as `\xNN`, cut after `max`
 * bytes, for failure messages.
 */
function escaped(bytes: Uint8Array | undefined, max = 300): string {
  if (bytes === undefined) return "(not recorded)";
  let text = "";
  for (const byte of bytes.subarray(0, max)) {
    text += byte >= 0x20 && byte < 0x7f && byte !== 0x5c && byte !== 0x22
      ? String.fromCharCode(byte)
      : `\\x${byte.toString(16).padStart(2, "0")}`;
  }
  return bytes.length > max ? `"${text}"… (${bytes.length} bytes)` : `"${text}"`;
}

/**
 * Runs `count` cases, each with its own random source; a failure is
 * rethrown naming the seed, the case index and the input it noted.
 */
async function fuzz(
  count: number,
  run: (random: Random, note: Note) => void | Promise<void>,
): Promise<void> {
  const seed = fuzzSeed();
  for (let index = 0; index < count; index++) {
    let input: Uint8Array | undefined;
    try {
      await run(new Random(caseSeed(seed, index)), (bytes) => {
        input = bytes;
      });
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new Error(
        `Fuzz case failed (BERTH_FUZZ_SEED=${seed}, case ${index}): ${why}\n  input: ${
          escaped(input)
        }`,
        { cause: error },
      );
    }
  }
}

/** Whether two byte arrays hold the same bytes. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Random pieces of `bytes`: between one and many, some views of `bytes`,
 * some copies (so that a split item also meets pieces in other buffers).
 */
function pieces(random: Random, bytes: Uint8Array): Uint8Array[] {
  const most = random.pick([1, 2, 8, 64, 4096]);
  const copies = random.pick([0, 0.5, 1]);
  return randomSplit(random, bytes, most).map((piece) =>
    random.next() < copies ? piece.slice() : piece
  );
}

/** `error` as `Name:code:message`, for comparing failures. */
function describe(error: unknown): string {
  if (error === undefined) return "none";
  const code = error instanceof DockerProtocolError ? error.code : "";
  return `${error instanceof Error ? error.name : typeof error}:${code}:${
    error instanceof Error ? error.message : String(error)
  }`;
}

/** Fails unless `error` is absent or a `DockerError`. */
function assertTyped(error: unknown, what: string): void {
  if (error === undefined) return;
  assert.ok(
    error instanceof DockerError,
    `${what} threw ${error instanceof Error ? error.name : typeof error}, not a DockerError: ${
      error instanceof Error ? error.stack : error
    }`,
  );
}

// ---------------------------------------------------------------------------
// Multiplexed frames
// ---------------------------------------------------------------------------

const STREAM_NAMES: readonly StreamName[] = ["stdin", "stdout", "stderr", "system"];
/** Bytes a frame header is made of, for {@linkcode mutate}. */
const FRAME_BYTES = [0, 1, 2, 3, 4, 0x7f, 0x80, 0xff];

interface RawFrame {
  type: number;
  data: Uint8Array;
}

/** An 8-byte frame header. */
function frameHeader(type: number, size: number): Uint8Array {
  const out = new Uint8Array(8);
  out[0] = type;
  new DataView(out.buffer).setUint32(4, size);
  return out;
}

/** A payload: often empty or small, sometimes large, and sometimes holding header lookalikes. */
function framePayload(random: Random): Uint8Array {
  const roll = random.next();
  const size = roll < 0.15
    ? 0
    : roll < 0.6
    ? 1 + random.int(16)
    : roll < 0.9
    ? random.int(600)
    : roll < 0.985
    ? random.int(5000)
    : 65_536 + random.int(20_000);
  const data = random.bytes(size);
  for (let n = random.int(3); n > 0 && size >= 8; n--) {
    const size = random.pick([0, 1, 5, 0xffff_ffff, random.int(1 << 20)]);
    data.set(frameHeader(random.int(4), size), random.int(data.length - 7));
  }
  return data;
}

function randomFrames(random: Random): RawFrame[] {
  const frames: RawFrame[] = [];
  for (let n = random.int(12); n > 0; n--) {
    frames.push({ type: random.int(4), data: framePayload(random) });
  }
  return frames;
}

function encodeFrames(frames: RawFrame[]): Uint8Array {
  return concat(
    frames.flatMap((frame) => [frameHeader(frame.type, frame.data.length), frame.data]),
  );
}

/** What a whole-buffer decoder makes of `bytes`: the frames, and the error code it ends with. */
interface DemuxReference {
  frames: RawFrame[];
  error: "INVALID_FRAME" | "PREMATURE_CLOSE" | null;
  /** The frame the input ends inside, with its declared size. */
  partial?: RawFrame & { declared: number };
}

function referenceDemux(bytes: Uint8Array): DemuxReference {
  const frames: RawFrame[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let i = 0;
  while (i < bytes.length) {
    if (bytes.length - i < 8) return { frames, error: "PREMATURE_CLOSE" };
    const type = bytes[i]!;
    if (type > 3 || bytes[i + 1] !== 0 || bytes[i + 2] !== 0 || bytes[i + 3] !== 0) {
      return { frames, error: "INVALID_FRAME" };
    }
    const declared = view.getUint32(i + 4);
    const data = bytes.subarray(i + 8, i + 8 + declared);
    if (data.length < declared) {
      return { frames, error: "PREMATURE_CLOSE", partial: { type, data, declared } };
    }
    if (declared > 0) frames.push({ type, data });
    i += 8 + declared;
  }
  return { frames, error: null };
}

/**
 * Checks decoded frames against the reference: the same frames in order
 * (one piece each, or parts only for a frame over `maxFrameSize`), parts of
 * the frame the input ends inside only when it is over `maxFrameSize`, and
 * every frame a view of an input buffer or an exact-size assembly of at
 * most `maxFrameSize` bytes (so a declared size is never allocated).
 */
function checkFrames(
  frames: Frame[],
  expected: DemuxReference,
  maxFrameSize: number,
  buffers: Set<ArrayBufferLike>,
): void {
  for (const frame of frames) {
    assert.ok(frame.data.length > 0, "an empty frame came out");
    const view = buffers.has(frame.data.buffer);
    const assembled = frame.data.byteOffset === 0 &&
      frame.data.buffer.byteLength === frame.data.length && frame.data.length <= maxFrameSize;
    assert.ok(
      view || assembled,
      `a ${frame.data.length}-byte frame lies in a ${frame.data.buffer.byteLength}-byte buffer that is not an input (maxFrameSize ${maxFrameSize})`,
    );
  }
  let at = 0;
  const match = (want: RawFrame, label: string): number => {
    let got = 0;
    let parts = 0;
    while (got < want.data.length && at < frames.length) {
      const frame = frames[at]!;
      assert.equal(frame.stream, STREAM_NAMES[want.type], `${label}: stream`);
      assert.ok(
        sameBytes(frame.data, want.data.subarray(got, got + frame.data.length)),
        `${label}: bytes ${got}..${got + frame.data.length} differ`,
      );
      got += frame.data.length;
      parts++;
      at++;
    }
    return parts;
  };
  expected.frames.forEach((want, index) => {
    const label = `frame ${index} (${STREAM_NAMES[want.type]}, ${want.data.length} bytes)`;
    const parts = match(want, label);
    assert.ok(parts > 0, `${label} is missing`);
    assert.ok(
      parts === 1 || want.data.length > maxFrameSize,
      `${label} came in ${parts} parts, though maxFrameSize is ${maxFrameSize}`,
    );
  });
  if (expected.partial && at < frames.length) {
    const { declared } = expected.partial;
    assert.ok(
      declared > maxFrameSize,
      `bytes of a truncated ${declared}-byte frame came out (maxFrameSize ${maxFrameSize})`,
    );
    match(expected.partial, "the truncated frame");
  }
  assert.equal(at, frames.length, `${frames.length - at} frames too many`);
}

/** Decodes `parts` with a fresh decoder; checks that a decoder that failed stays failed. */
function decodeFrames(
  parts: Uint8Array[],
  maxFrameSize: number,
  stableInput: boolean,
): { frames: Frame[]; error: unknown } {
  const decoder = new FrameDecoder({ maxFrameSize, stableInput });
  const frames: Frame[] = [];
  for (const part of parts) {
    try {
      decoder.push(part, frames);
    } catch (error) {
      assert.throws(() => decoder.push(EMPTY, []), (again) => again === error);
      return { frames, error };
    }
  }
  try {
    decoder.finish();
  } catch (error) {
    return { frames, error };
  }
  return { frames, error: undefined };
}

/** A damaged frame stream: mutated, truncated, a bad stream byte, or a frame declaring ~4 GiB. */
function damagedFrames(random: Random): Uint8Array {
  const valid = encodeFrames(randomFrames(random));
  switch (random.int(4)) {
    case 0:
      return concat([
        valid,
        frameHeader(random.int(4), 0xffff_ffff - random.int(16)),
        random.bytes(random.int(3000)),
      ]);
    case 1:
      return concat([valid, Uint8Array.of(4 + random.int(252), 0, 0, 0, 0, 0, 0, 1, 65)]);
    case 2:
      return valid.subarray(0, random.int(valid.length + 1));
    default:
      return mutate(random, valid, FRAME_BYTES);
  }
}

/**
 * Decoder options; `maxFrameSize` is now and then the size of a frame of
 * `bytes` (or one off), to probe the boundary.
 */
function frameOptions(
  random: Random,
  bytes: Uint8Array,
): { maxFrameSize: number; stableInput: boolean } {
  let maxFrameSize = random.pick([0, 1, 64, 1024, 1_048_576, 1_048_576]);
  const { frames } = referenceDemux(bytes);
  if (frames.length > 0 && random.next() < 0.3) {
    maxFrameSize = Math.max(0, random.pick(frames).data.length + random.pick([-1, 0, 0, 1]));
  }
  return { maxFrameSize, stableInput: random.next() < 0.5 };
}

Deno.test("FrameDecoder decodes random valid frame sequences split anywhere exactly as generated", async () => {
  await fuzz(fuzzCases(400), (random, note) => {
    const generated = randomFrames(random);
    const bytes = encodeFrames(generated);
    note(bytes);
    const { maxFrameSize, stableInput } = frameOptions(random, bytes);
    const parts = pieces(random, bytes);
    const { frames, error } = decodeFrames(parts, maxFrameSize, stableInput);
    assert.equal(error, undefined, `valid input failed: ${error}`);
    const expected = { frames: generated.filter((frame) => frame.data.length > 0), error: null };
    checkFrames(frames, expected, maxFrameSize, new Set(parts.map((part) => part.buffer)));
    if (maxFrameSize >= 100_000) {
      assert.equal(frames.length, expected.frames.length, "frame boundaries as generated");
    }
  });
});

Deno.test("FrameDecoder fails damaged frame streams with DockerProtocolError only, after the frames before the damage", async () => {
  await fuzz(fuzzCases(400), (random, note) => {
    const bytes = damagedFrames(random);
    note(bytes);
    const { maxFrameSize, stableInput } = frameOptions(random, bytes);
    const parts = pieces(random, bytes);
    const { frames, error } = decodeFrames(parts, maxFrameSize, stableInput);
    const expected = referenceDemux(bytes);
    assertTyped(error, "FrameDecoder");
    if (expected.error === null) {
      assert.equal(error, undefined, `unexpected ${describe(error)}`);
    } else {
      assert.ok(error instanceof DockerProtocolError, `expected ${expected.error}, got ${error}`);
      assert.equal(error.code, expected.error, error.message);
    }
    checkFrames(frames, expected, maxFrameSize, new Set(parts.map((part) => part.buffer)));
  });
});

Deno.test("demuxStream delivers the frames before a damage, then the error, reading only as pulled", async () => {
  await fuzz(fuzzCases(150), async (random, note) => {
    const bytes = random.next() < 0.5 ? encodeFrames(randomFrames(random)) : damagedFrames(random);
    note(bytes);
    const parts = pieces(random, bytes);
    const source = countingSource(parts);
    const reader = demuxStream(source.body).getReader();
    const expected = referenceDemux(bytes);
    const frames: Frame[] = [];
    let error: unknown;
    let pullsForFirst = -1;
    try {
      while (true) {
        const next = await reader.read();
        if (next.done) break;
        if (frames.length === 0) pullsForFirst = source.pulls();
        frames.push(next.value);
      }
    } catch (caught) {
      error = caught;
    }
    // Pull-based: the first frame came after reading just the pieces up to its end.
    const first = expected.frames[0];
    if (first) {
      const end = first.data.byteOffset - bytes.byteOffset + first.data.length;
      let needed = 0;
      for (let offset = 0; offset < end; needed++) offset += parts[needed]!.length;
      assert.equal(pullsForFirst, needed, "pieces read before the first frame came out");
    }
    assertTyped(error, "demuxStream");
    const code = error instanceof DockerProtocolError ? error.code : null;
    assert.equal(code, expected.error, describe(error));
    checkFrames(frames, expected, 1_048_576, new Set(parts.map((part) => part.buffer)));
    if (expected.error === "INVALID_FRAME") {
      assert.equal(source.cancelled(), error, "the source is cancelled with the decoding error");
    } else {
      assert.equal(source.cancelled(), "not cancelled");
    }
  });
});

Deno.test("FrameDecoder passes a frame declaring 4 GiB on as views, allocating nothing", () => {
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  const chunk = new Uint8Array(65_536).fill(7);
  decoder.push(frameHeader(2, 0xffff_ffff), frames);
  for (let i = 0; i < 64; i++) decoder.push(chunk, frames);
  assert.equal(frames.length, 64);
  for (const frame of frames) assert.equal(frame.data.buffer, chunk.buffer);
  assert.throws(() => decoder.finish(), (error) => {
    assert.ok(error instanceof DockerProtocolError);
    assert.equal(error.code, "PREMATURE_CLOSE");
    assert.match(error.message, /4290772991 of 4294967295 bytes missing/);
    return true;
  });
});

// ---------------------------------------------------------------------------
// JSON lines
// ---------------------------------------------------------------------------

/** Pieces of strings: multi-byte characters (2, 3, 4 bytes), escapes, JSON syntax. */
const STRING_PIECES = [
  "a",
  "status",
  "Downloading",
  "é",
  "✓",
  "日本",
  "🐳",
  "\u2028",
  '"',
  "\\",
  "\n",
  "\r",
  "\t",
  "\u0000",
  " ",
  "{",
  "}",
  "[",
  ",",
  ":",
  "error",
];
/** Bytes JSON lines are made of, for {@linkcode mutate}. */
const JSON_BYTES = [10, 13, 32, 34, 44, 48, 58, 91, 92, 93, 123, 125, 0xc3, 0xa9, 0xf0, 0x9f];

function randomString(random: Random): string {
  let text = "";
  for (let n = random.int(6); n > 0; n--) text += random.pick(STRING_PIECES);
  return text;
}

function randomValue(random: Random, depth = 0): unknown {
  switch (random.int(depth > 2 ? 4 : 6)) {
    case 0:
      return randomString(random);
    case 1:
      return random.next() < 0.5 ? random.int(2_000_000) - 1_000_000 : random.int(1e9) / 7;
    case 2:
      return random.next() < 0.5;
    case 3:
      return null;
    case 4:
      return Array.from({ length: random.int(4) }, () => randomValue(random, depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      for (let n = random.int(4); n > 0; n--) {
        object[`k${randomString(random)}`] = randomValue(random, depth + 1);
      }
      return object;
    }
  }
}

/** A progress-like line value (never an error line). */
function randomLine(random: Random): unknown {
  if (random.next() < 0.3) return randomValue(random);
  const value: Record<string, unknown> = { status: randomString(random) };
  if (random.next() < 0.5) value.id = randomString(random);
  if (random.next() < 0.5) {
    value.progressDetail = { current: random.int(1e6), total: 1e6 };
  }
  if (random.next() < 0.3) value.nested = randomValue(random, 1);
  return value;
}

interface JsonPlan {
  bytes: Uint8Array;
  values: unknown[];
  /** The error line's message and detail, when the plan has one. */
  failure?: {
    message: string;
    detail: { code?: number; message?: string } | undefined;
    /** The error line's value, for `errorLines: false`. */
    value: unknown;
  };
}

/** Random lines: LF or CRLF, blank lines, padding, maybe a last line without newline or an error line. */
function randomJsonLines(random: Random): JsonPlan {
  const values: unknown[] = [];
  let text = "";
  let failure: JsonPlan["failure"];
  const count = random.int(10);
  for (let i = 0; i < count && failure === undefined; i++) {
    for (let n = random.int(3) === 0 ? 1 + random.int(2) : 0; n > 0; n--) {
      text += random.pick(["", "\r", " ", "\t \r"]) + "\n";
    }
    let line: string;
    if (random.next() < 0.08) {
      const message = randomString(random);
      const shape = random.int(3);
      if (shape === 0) {
        const value = { error: message };
        failure = { message, detail: undefined, value };
      } else if (shape === 1) {
        const detail = { code: 1, message };
        failure = { message, detail, value: { errorDetail: detail, error: `${message}!` } };
      } else {
        const detail = { code: 7 };
        const value = { errorDetail: detail };
        failure = { message: "Engine reported an error without a message", detail, value };
      }
      line = JSON.stringify(failure.value);
    } else {
      const value = randomLine(random);
      values.push(value);
      line = JSON.stringify(value);
    }
    if (random.next() < 0.2) line = ` ${line}\t`;
    const last = i === count - 1 || failure !== undefined;
    text += line + (last && random.next() < 0.3 ? "" : random.pick(["\n", "\r\n"]));
  }
  return { bytes: encoder.encode(text), values, ...(failure ? { failure } : {}) };
}

/** What a whole-buffer decoder makes of `bytes`, following the documented rules. */
function referenceJsonLines(
  bytes: Uint8Array,
  maxLineSize: number,
  errorLines: boolean,
): { values: unknown[]; error: string } {
  const values: unknown[] = [];
  const decoder = new TextDecoder();
  let start = 0;
  while (start < bytes.length) {
    let end = bytes.indexOf(10, start);
    if (end === -1) end = bytes.length;
    const line = bytes.subarray(start, end);
    start = end + 1;
    if (line.length > maxLineSize) return { values, error: "DockerProtocolError:LINE_TOO_LONG" };
    const content = line.at(-1) === 13 ? line.subarray(0, -1) : line;
    if (content.length === 0) continue;
    const text = decoder.decode(content);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      if (text.trim() === "") continue;
      return { values, error: "DockerProtocolError:INVALID_JSON" };
    }
    if (errorLines && typeof value === "object" && value !== null) {
      const { error, errorDetail } = value as { error?: unknown; errorDetail?: unknown };
      const detail = typeof errorDetail === "object" && errorDetail !== null
        ? errorDetail as { message?: unknown }
        : undefined;
      if (typeof error === "string" || detail) {
        const message = typeof detail?.message === "string"
          ? detail.message
          : typeof error === "string"
          ? error
          : "Engine reported an error without a message";
        return { values, error: `DockerStreamError::${message}` };
      }
    }
    values.push(value);
  }
  return { values, error: "none" };
}

/** Decodes `parts`; the error as `Name:code` (`Name::message` for a stream error). */
function decodeJsonLines(
  parts: Uint8Array[],
  maxLineSize: number,
  errorLines: boolean,
): { values: unknown[]; error: string; thrown: unknown } {
  const decoder = new JsonLinesDecoder({ maxLineSize, errorLines });
  const values: unknown[] = [];
  try {
    for (const part of parts) decoder.push(part, values);
    decoder.finish(values);
  } catch (thrown) {
    assertTyped(thrown, "JsonLinesDecoder");
    assert.throws(() => decoder.push(EMPTY, []), (again) => again === thrown);
    const error = thrown instanceof DockerProtocolError
      ? `DockerProtocolError:${thrown.code}`
      : thrown instanceof DockerStreamError
      ? `DockerStreamError::${thrown.message}`
      : describe(thrown);
    return { values, error, thrown };
  }
  return { values, error: "none", thrown: undefined };
}

Deno.test("JsonLinesDecoder decodes random valid lines split anywhere, multi-byte characters included, exactly", async () => {
  await fuzz(fuzzCases(500), (random, note) => {
    const plan = randomJsonLines(random);
    note(plan.bytes);
    const errorLines = random.next() < 0.85;
    // Split byte by byte now and then, so that every multi-byte character is cut.
    const parts = random.next() < 0.1 && plan.bytes.length < 400
      ? Array.from(plan.bytes, (_, i) => plan.bytes.subarray(i, i + 1))
      : pieces(random, plan.bytes);
    const { values, error, thrown } = decodeJsonLines(parts, 16_777_216, errorLines);
    if (plan.failure && errorLines) {
      assert.deepEqual(values, plan.values);
      assert.ok(thrown instanceof DockerStreamError, `expected DockerStreamError, got ${error}`);
      assert.equal(thrown.message, plan.failure.message);
      assert.deepEqual(thrown.detail, plan.failure.detail);
    } else {
      assert.equal(error, "none");
      assert.deepEqual(values, plan.failure ? [...plan.values, plan.failure.value] : plan.values);
    }
  });
});

Deno.test("JsonLinesDecoder fails damaged lines with DockerError subclasses only, the same whatever the split", async () => {
  await fuzz(fuzzCases(600), (random, note) => {
    const plan = randomJsonLines(random);
    const bytes = random.next() < 0.15
      ? random.bytes(random.int(300))
      : mutate(random, plan.bytes, JSON_BYTES);
    note(bytes);
    const maxLineSize = random.pick([0, 1, 40, 200, 16_777_216, 16_777_216]);
    const errorLines = random.next() < 0.85;
    const got = decodeJsonLines(pieces(random, bytes), maxLineSize, errorLines);
    const expected = referenceJsonLines(bytes, maxLineSize, errorLines);
    assert.equal(got.error, expected.error);
    assert.deepEqual(got.values, expected.values);
  });
});

Deno.test("JsonLinesDecoder fails an endless line at maxLineSize, on the push that crosses it", async () => {
  await fuzz(fuzzCases(100), (random, note) => {
    const maxLineSize = 1 + random.int(5000);
    const chunk = encoder.encode("x".repeat(1 + random.int(700)));
    note(chunk);
    const decoder = new JsonLinesDecoder({ maxLineSize });
    let total = 0;
    while (total + chunk.length <= maxLineSize) {
      decoder.push(chunk, []);
      total += chunk.length;
    }
    assert.throws(() => decoder.push(chunk, []), (error) => {
      assert.ok(error instanceof DockerProtocolError);
      assert.equal(error.code, "LINE_TOO_LONG");
      return true;
    });
  });
  // The default limit (16 MiB): the 17th MiB fails, and nothing beyond it is held.
  const decoder = new JsonLinesDecoder();
  const mebibyte = new Uint8Array(1 << 20).fill(0x20);
  for (let i = 0; i < 16; i++) decoder.push(mebibyte, []);
  assert.throws(
    () => decoder.push(mebibyte, []),
    /exceeds 16777216 bytes \(17825792 bytes so far\)/,
  );
});

Deno.test("jsonLinesStream delivers the values before a bad line, then its error, and cancels the source", async () => {
  await fuzz(fuzzCases(100), async (random, note) => {
    const plan = randomJsonLines(random);
    const bytes = random.next() < 0.5 ? plan.bytes : mutate(random, plan.bytes, JSON_BYTES);
    note(bytes);
    const source = countingSource(pieces(random, bytes));
    const values: unknown[] = [];
    let thrown: unknown;
    try {
      for await (const value of jsonLinesStream(source.body)) values.push(value);
    } catch (error) {
      thrown = error;
    }
    assertTyped(thrown, "jsonLinesStream");
    const expected = referenceJsonLines(bytes, 16_777_216, true);
    assert.deepEqual(values, expected.values);
    assert.equal(thrown === undefined, expected.error === "none", describe(thrown));
  });
});

// ---------------------------------------------------------------------------
// WebSocket frames
// ---------------------------------------------------------------------------

/** Bytes WebSocket headers are made of, for {@linkcode mutate}. */
const WS_BYTES = [
  0x00,
  0x01,
  0x02,
  0x03,
  0x7e,
  0x7f,
  0x80,
  0x81,
  0x82,
  0x88,
  0x89,
  0x8a,
  0xe8,
  0xff,
];

/** One server frame (unmasked unless `key` is given), with the shortest length form unless told. */
function wsFrame(
  b0: number,
  payload: Uint8Array,
  options: { key?: Uint8Array; form?: 7 | 16 | 64 } = {},
): Uint8Array {
  const length = payload.length;
  const form = options.form ?? (length < 126 ? 7 : length < 65_536 ? 16 : 64);
  const extra = form === 16 ? 2 : form === 64 ? 8 : 0;
  const key = options.key;
  const out = new Uint8Array(2 + extra + (key ? 4 : 0) + length);
  const view = new DataView(out.buffer);
  out[0] = b0;
  out[1] = (key ? 0x80 : 0) | (form === 7 ? length : form === 16 ? 126 : 127);
  if (form === 16) view.setUint16(2, length);
  if (form === 64) view.setBigUint64(2, BigInt(length));
  let at = 2 + extra;
  if (key) {
    out.set(key, at);
    at += 4;
  }
  for (let i = 0; i < length; i++) out[at + i] = payload[i]! ^ (key ? key[i & 3]! : 0);
  return out;
}

function wsPayload(random: Random): Uint8Array {
  const roll = random.next();
  const size = roll < 0.2
    ? 0
    : roll < 0.6
    ? random.int(126)
    : roll < 0.97
    ? 126 + random.int(3000)
    : 65_536 + random.int(5000);
  return random.bytes(size);
}

interface WsPlan {
  bytes: Uint8Array;
  messages: WebSocketMessage[];
  /** Ping payloads, in order: each must be answered by a pong. */
  pings: Uint8Array[];
  /** The close code sent (null: an empty close frame), or "eof" for none. */
  close: number | null | "eof";
  /** Offsets where frames start, and the end. */
  boundaries: number[];
}

/** Random server output: fragmented messages with control frames between, then a close frame or EOF. */
function randomWebSocket(random: Random): WsPlan {
  const frames: Uint8Array[] = [];
  const messages: WebSocketMessage[] = [];
  const pings: Uint8Array[] = [];
  const controls = () => {
    for (let n = random.int(4) === 0 ? 1 + random.int(2) : 0; n > 0; n--) {
      const payload = random.bytes(random.int(126));
      if (random.next() < 0.6) {
        pings.push(payload);
        frames.push(wsFrame(0x89, payload));
      } else {
        frames.push(wsFrame(0x8a, payload));
      }
    }
  };
  for (let n = random.int(6); n > 0; n--) {
    const type = random.next() < 0.5 ? "text" : "binary";
    const data = wsPayload(random);
    messages.push({ type, data });
    const cuts = Array.from({ length: random.int(4) }, () => random.int(data.length + 1));
    const bounds = [0, ...cuts.sort((a, b) => a - b), data.length];
    for (let i = 0; i + 1 < bounds.length; i++) {
      const opcode = i === 0 ? (type === "text" ? 1 : 2) : 0;
      const fin = i + 2 === bounds.length ? 0x80 : 0;
      controls();
      frames.push(wsFrame(fin | opcode, data.subarray(bounds[i], bounds[i + 1])));
    }
  }
  controls();
  const close = random.next() < 0.15
    ? "eof"
    : random.pick([null, 1000, 1000, 1001, 1011, 3000, 4999] as const);
  if (close === null) frames.push(wsFrame(0x88, EMPTY));
  else if (close !== "eof") {
    const reason = random.next() < 0.5 ? encoder.encode(random.pick(["bye", "done ✓"])) : EMPTY;
    frames.push(wsFrame(0x88, concat([Uint8Array.of(close >> 8, close & 0xff), reason])));
  }
  const boundaries = [0];
  for (const frame of frames) boundaries.push(boundaries.at(-1)! + frame.length);
  return { bytes: concat(frames), messages, pings, close, boundaries };
}

interface ClientFrame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  payload: Uint8Array;
}

/** Parses (and unmasks) the frames the client wrote. */
function parseClientFrames(bytes: Uint8Array): ClientFrame[] {
  const frames: ClientFrame[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i]!;
    const b1 = bytes[i + 1]!;
    let length = b1 & 0x7f;
    i += 2;
    if (length === 126) {
      length = view.getUint16(i);
      i += 2;
    } else if (length === 127) {
      length = Number(view.getBigUint64(i));
      i += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    const key = masked ? bytes.subarray(i, i + 4) : new Uint8Array(4);
    if (masked) i += 4;
    const payload = bytes.slice(i, i + length);
    for (let j = 0; j < payload.length; j++) payload[j] = payload[j]! ^ key[j & 3]!;
    assert.equal(payload.length, length, "a client frame is cut short");
    frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, masked, payload });
    i += length;
  }
  return frames;
}

/** Runs a session over `parts`; what it read, how it ended, what it wrote. */
async function runWebSocket(parts: Uint8Array[], maxMessageSize?: number): Promise<{
  messages: WebSocketMessage[];
  error: unknown;
  written: ClientFrame[];
  closed: boolean;
}> {
  let next = 0;
  let closed = false;
  const written: Uint8Array[] = [];
  const duplex: ByteDuplex = {
    read: () => Promise.resolve(closed ? null : parts[next++] ?? null),
    write: (bytes) => {
      if (closed) return Promise.reject(new Error("write after close"));
      written.push(bytes.slice());
      return Promise.resolve();
    },
    close: () => {
      closed = true;
    },
  };
  const session = webSocketSession(duplex, maxMessageSize ? { maxMessageSize } : {});
  const messages: WebSocketMessage[] = [];
  let error: unknown;
  try {
    for await (const message of session.readable) {
      messages.push({ type: message.type, data: message.data.slice() });
    }
  } catch (caught) {
    error = caught;
  }
  const wasClosed = closed;
  await session.close();
  return { messages, error, written: parseClientFrames(concat(written)), closed: wasClosed };
}

type WsOutcome = { kind: "end" } | { kind: "protocol"; code: string } | {
  kind: "stream";
  code: number;
};

/** What a whole-buffer reader makes of server bytes, following RFC 6455 as documented. */
function referenceWebSocket(
  bytes: Uint8Array,
  maxMessageSize: number,
): { messages: WebSocketMessage[]; outcome: WsOutcome } {
  const messages: WebSocketMessage[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (code: string) => ({ messages, outcome: { kind: "protocol", code } as const });
  let i = 0;
  let type: "text" | "binary" | null = null;
  let parts: Uint8Array[] = [];
  let total = 0;
  while (true) {
    if (bytes.length - i < 2) return fail("PREMATURE_CLOSE");
    const b0 = bytes[i]!;
    const b1 = bytes[i + 1]!;
    i += 2;
    if (b0 & 0x70 || b1 & 0x80) return fail("INVALID_WEBSOCKET_FRAME");
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    let length = b1 & 0x7f;
    if (length === 126) {
      if (bytes.length - i < 2) return fail("PREMATURE_CLOSE");
      length = view.getUint16(i);
      i += 2;
    } else if (length === 127) {
      if (bytes.length - i < 8) return fail("PREMATURE_CLOSE");
      if (bytes[i]! & 0x80) return fail("INVALID_WEBSOCKET_FRAME");
      length = Number(view.getBigUint64(i));
      i += 8;
    }
    if (opcode >= 8) {
      if (opcode > 10 || !fin || length > 125) return fail("INVALID_WEBSOCKET_FRAME");
      if (bytes.length - i < length) return fail("PREMATURE_CLOSE");
      const payload = bytes.subarray(i, i + length);
      i += length;
      if (opcode !== 8) continue;
      if (payload.length === 1) return fail("INVALID_WEBSOCKET_FRAME");
      if (payload.length === 0) return { messages, outcome: { kind: "end" } };
      const code = (payload[0]! << 8) | payload[1]!;
      const valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
        (code >= 3000 && code <= 4999);
      if (!valid) return fail("INVALID_WEBSOCKET_FRAME");
      if (code === 1000 || code === 1001) return { messages, outcome: { kind: "end" } };
      return { messages, outcome: { kind: "stream", code } };
    }
    if (opcode > 2) return fail("INVALID_WEBSOCKET_FRAME");
    if (opcode === 0 && type === null) return fail("INVALID_WEBSOCKET_FRAME");
    if (opcode !== 0 && type !== null) return fail("INVALID_WEBSOCKET_FRAME");
    if (opcode !== 0) type = opcode === 1 ? "text" : "binary";
    if (total + length > maxMessageSize) return fail("WEBSOCKET_MESSAGE_TOO_LARGE");
    if (bytes.length - i < length) return fail("PREMATURE_CLOSE");
    parts.push(bytes.subarray(i, i + length));
    total += length;
    i += length;
    if (fin) {
      messages.push({ type: type!, data: concat(parts) });
      type = null;
      parts = [];
      total = 0;
    }
  }
}

/** Hostile frames a broken or malicious server might send. */
function hostileWebSocketFrame(random: Random): Uint8Array {
  const some = random.bytes(random.int(40));
  switch (random.int(12)) {
    case 0:
      return wsFrame(0x81, some, { key: random.bytes(4) }); // masked
    case 1:
      return wsFrame(random.pick([0xc1, 0xa2, 0x91, 0xf8]), some); // reserved bits
    case 2:
      return wsFrame(0x80 | random.pick([3, 4, 7, 0xb, 0xf]), some); // reserved opcodes
    case 3:
      return wsFrame(random.pick([0x08, 0x09, 0x0a]), some); // fragmented control
    case 4:
      return wsFrame(0x89, random.bytes(random.pick([126, 127 + random.int(200)]))); // control over 125 bytes
    case 5: // 64-bit length with the top bit set
      return concat([Uint8Array.of(0x82, 127, 0x80 | random.int(128), 0, 0, 0, 0, 0, 0, 1), some]);
    case 6: { // declares 2^48 bytes or more, sends a few
      const header = Uint8Array.of(
        0x82,
        127,
        random.int(64),
        1 + random.int(255),
        0,
        0,
        0,
        0,
        0,
        0,
      );
      return concat([header, some]);
    }
    case 7:
      return wsFrame(0x80, some); // continuation without a message
    case 8:
      return concat([wsFrame(0x01, some), wsFrame(0x81, some)]); // data inside a fragmented message
    case 9:
      return wsFrame(0x88, Uint8Array.of(random.int(256))); // 1-byte close payload
    case 10: {
      const code = random.pick([0, 999, 1004, 1005, 1006, 1015, 2999, 5000, 65535]);
      return wsFrame(0x88, Uint8Array.of(code >> 8, code & 0xff));
    }
    default:
      return wsFrame(0x82, random.bytes(random.int(300)), { form: random.pick([16, 64]) });
  }
}

Deno.test("webSocketSession reads random valid frames split anywhere as the messages sent, answering pings and the close", async () => {
  await fuzz(fuzzCases(250), async (random, note) => {
    const plan = randomWebSocket(random);
    note(plan.bytes);
    const run = await runWebSocket(pieces(random, plan.bytes));
    assert.equal(run.messages.length, plan.messages.length, `messages (${describe(run.error)})`);
    run.messages.forEach((message, index) => {
      const want = plan.messages[index]!;
      assert.equal(message.type, want.type, `message ${index} type`);
      assert.ok(sameBytes(message.data, want.data), `message ${index} bytes`);
    });
    if (plan.close === "eof") {
      assert.ok(
        run.error instanceof DockerProtocolError,
        `expected PREMATURE_CLOSE, got ${run.error}`,
      );
      assert.equal(run.error.code, "PREMATURE_CLOSE");
    } else if (plan.close === null || plan.close === 1000 || plan.close === 1001) {
      assert.equal(run.error, undefined, describe(run.error));
    } else {
      assert.ok(
        run.error instanceof DockerStreamError,
        `expected DockerStreamError, got ${run.error}`,
      );
      assert.equal(run.error.detail?.code, plan.close);
    }
    assert.ok(run.closed, "the connection is closed");
    for (const frame of run.written) {
      assert.ok(frame.masked && frame.fin, "client frames are masked, whole");
    }
    const pongs = run.written.filter((frame) => frame.opcode === 0xa);
    assert.equal(pongs.length, plan.pings.length, "one pong per ping");
    pongs.forEach((pong, index) =>
      assert.ok(sameBytes(pong.payload, plan.pings[index]!), `pong ${index}`)
    );
    const closes = run.written.filter((frame) => frame.opcode === 0x8);
    if (plan.close === "eof") assert.equal(closes.length, 0);
    else {
      assert.equal(closes.length, 1, "one close reply");
      const echo = plan.close === null ? EMPTY : Uint8Array.of(plan.close >> 8, plan.close & 0xff);
      assert.ok(sameBytes(closes[0]!.payload, echo), "the close reply echoes the code");
      assert.equal(run.written.at(-1)!.opcode, 0x8, "nothing is written after the close reply");
    }
  });
});

Deno.test("webSocketSession fails damaged and hostile frames with DockerError subclasses only, as the reference does", async () => {
  await fuzz(fuzzCases(500), async (random, note) => {
    const plan = randomWebSocket(random);
    let bytes: Uint8Array;
    const roll = random.next();
    if (roll < 0.4) bytes = mutate(random, plan.bytes, WS_BYTES);
    else if (roll < 0.9) {
      const cut = random.next() < 0.8
        ? random.pick(plan.boundaries)
        : random.int(plan.bytes.length + 1);
      bytes = concat([
        plan.bytes.subarray(0, cut),
        hostileWebSocketFrame(random),
        plan.bytes.subarray(cut),
      ]);
    } else bytes = random.bytes(random.int(200));
    note(bytes);
    let maxMessageSize = random.next() < 0.3 ? 1 + random.int(500) : 16 * 1024 * 1024;
    if (plan.messages.length > 0 && random.next() < 0.2) {
      // On the boundary: the size of a message, or one off.
      const size = random.pick(plan.messages).data.length + random.pick([-1, 0, 1]);
      maxMessageSize = Math.max(1, size);
    }
    const run = await runWebSocket(pieces(random, bytes), maxMessageSize);
    const expected = referenceWebSocket(bytes, maxMessageSize);
    assertTyped(run.error, "webSocketSession");
    assert.equal(
      run.messages.length,
      expected.messages.length,
      `messages (${describe(run.error)})`,
    );
    run.messages.forEach((message, index) => {
      const want = expected.messages[index]!;
      assert.equal(message.type, want.type, `message ${index} type`);
      assert.ok(sameBytes(message.data, want.data), `message ${index} bytes`);
    });
    const outcome = expected.outcome;
    if (outcome.kind === "end") assert.equal(run.error, undefined, describe(run.error));
    else if (outcome.kind === "stream") {
      assert.ok(
        run.error instanceof DockerStreamError,
        `expected close ${outcome.code}, got ${run.error}`,
      );
      assert.equal(run.error.detail?.code, outcome.code);
    } else {
      assert.ok(
        run.error instanceof DockerProtocolError,
        `expected ${outcome.code}, got ${run.error}`,
      );
      assert.equal(run.error.code, outcome.code, run.error.message);
      const last = run.written.at(-1);
      if (outcome.code === "PREMATURE_CLOSE") {
        assert.notEqual(last?.opcode, 0x8, "no close frame after an EOF");
      } else {
        const code = outcome.code === "WEBSOCKET_MESSAGE_TOO_LARGE" ? 1009 : 1002;
        assert.equal(last?.opcode, 0x8, "a close frame is sent on a protocol error");
        assert.ok(sameBytes(last.payload, Uint8Array.of(code >> 8, code & 0xff)), `close ${code}`);
      }
    }
    assert.ok(run.closed, "the connection is closed");
  });
});

Deno.test("webSocketSession writes random messages as masked frames with 7-, 16- and 64-bit lengths", async () => {
  await fuzz(fuzzCases(60), async (random, note) => {
    const sent: (string | Uint8Array)[] = [];
    for (let n = 1 + random.int(5); n > 0; n--) {
      sent.push(random.next() < 0.3 ? randomString(random) : wsPayload(random));
    }
    note(concat(sent.map((item) => typeof item === "string" ? encoder.encode(item) : item)));
    const written: Uint8Array[] = [];
    const session = webSocketSession({
      read: () => new Promise<null>(() => {}),
      write: (bytes) => Promise.resolve(void written.push(bytes.slice())),
      close: () => {},
    });
    const writer = session.writable.getWriter();
    for (const item of sent) await writer.write(item);
    await writer.close();
    await session.readable.cancel();
    const frames = parseClientFrames(concat(written));
    assert.equal(frames.length, sent.length + 1);
    sent.forEach((item, index) => {
      const frame = frames[index]!;
      assert.ok(frame.masked && frame.fin);
      assert.equal(frame.opcode, typeof item === "string" ? 1 : 2);
      const bytes = typeof item === "string" ? encoder.encode(item) : item;
      assert.ok(sameBytes(frame.payload, bytes), `message ${index} (${bytes.length} bytes)`);
    });
    assert.equal(frames.at(-1)!.opcode, 0x8);
  });
});

// ---------------------------------------------------------------------------
// Tar
// ---------------------------------------------------------------------------

/** An entry as the reader should report it. */
interface ExpectedEntry {
  name: string;
  type: "file" | "directory" | "symlink" | "hardlink" | "other";
  typeflag: string;
  size: number;
  mode: number;
  mtime: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  linkname: string;
  body: Uint8Array;
}

const NAME_SEGMENTS = ["a", "bin", "etc", "ünï", "日本語", "with space", ".hidden", "f.txt", "..."];

function tarName(random: Random): string {
  const segments: string[] = [];
  for (let n = 1 + random.int(random.next() < 0.1 ? 30 : 4); n > 0; n--) {
    segments.push(
      random.next() < 0.1 ? "s".repeat(1 + random.int(150)) : random.pick(NAME_SEGMENTS),
    );
  }
  return segments.join("/");
}

function tarBody(random: Random): Uint8Array {
  const roll = random.next();
  return random.bytes(
    roll < 0.2 ? 0 : roll < 0.8 ? random.int(1500) : roll < 0.97 ? 512 * random.int(8) : 70_000,
  );
}

/** A random entry for `tarStream`, with what `readTar` must report for it. */
function writerEntry(random: Random): { entry: TarEntry; expected: ExpectedEntry } {
  const type = random.pick(["file", "file", "file", "directory", "symlink", "hardlink"] as const);
  let name = tarName(random);
  const body = type === "file" ? tarBody(random) : EMPTY;
  const mode = random.next() < 0.5 ? 0o644 : random.int(0o10000000);
  const uid = random.pick([0, 1000, 0o7777777, 0o10000000, 2 ** 40, Number.MAX_SAFE_INTEGER]);
  const gid = random.pick([0, 50, 0o10000000]);
  let mtime: number | Date = random.pick([0, 1_700_000_000, -1, -(2 ** 40), 8 ** 11, 2 ** 45]);
  let expectedMtime: number = mtime;
  if (random.next() < 0.2) {
    const ms = random.int(4e12);
    mtime = new Date(ms);
    expectedMtime = Math.floor(ms / 1000);
  }
  const uname = random.pick(["", "root", "u".repeat(32), "u".repeat(33), "ünï"]);
  const linkname = type === "symlink" || type === "hardlink" ? tarName(random) : "";
  const entry: TarEntry = { name, type, mode, uid, gid, mtime, uname, gname: "g" };
  if (linkname) entry.linkname = linkname;
  if (type === "file") {
    const shape = random.int(3);
    if (shape === 0) {
      entry.body = body;
    } else if (shape === 1) {
      entry.body = ReadableStream.from(randomSplit(random, body, 6).map((part) => part.slice()));
      entry.size = body.length;
    } else {
      // A string body: its UTF-8 bytes are the expected data.
      entry.body = new TextDecoder().decode(body.map((byte) => byte & 0x7f));
    }
  }
  if (type === "directory" && !name.endsWith("/")) name += "/";
  const data = typeof entry.body === "string" ? encoder.encode(entry.body) : body;
  return {
    entry,
    expected: {
      name,
      type,
      typeflag: { file: "0", directory: "5", symlink: "2", hardlink: "1" }[type],
      size: data.length,
      mode,
      mtime: expectedMtime,
      uid,
      gid,
      uname,
      gname: "g",
      linkname,
      body: data,
    },
  };
}

/** `text` cut (at a character boundary) to at most `bytes` bytes of UTF-8. */
function fit(text: string, bytes: number): string {
  let out = text;
  while (encoder.encode(out).length > bytes) out = out.slice(0, -1);
  return out;
}

/** Rewrites the checksum of a header block (signed, as old writers did, when asked). */
function setChecksum(block: Uint8Array, signed = false): void {
  let sum = 8 * 0x20;
  for (let i = 0; i < 512; i++) {
    if (i >= 148 && i < 156) continue;
    const byte = block[i]!;
    sum += signed && byte >= 0x80 ? byte - 256 : byte;
  }
  block.set(encoder.encode(sum.toString(8).padStart(6, "0")), 148);
  block[154] = 0;
  block[155] = 0x20;
}

/** Writes a GNU base-256 number into a header field. */
function setBase256(block: Uint8Array, offset: number, length: number, value: number): void {
  let big = BigInt(value);
  if (big < 0n) big += 1n << BigInt(8 * length);
  for (let i = length - 1; i >= 0; i--) {
    block[offset + i] = Number(big & 0xffn);
    big >>= 8n;
  }
  block[offset] = value < 0 ? 0xff : 0x80;
}

/** A null-terminated block-padded GNU long-name (`L`) or long-link (`K`) header and data. */
function gnuLong(typeflag: "L" | "K", text: string): Uint8Array {
  const data = encoder.encode(`${text}\0`);
  return concat([
    rawHeader({ name: "././@LongLink", typeflag, size: data.length, magic: "ustar  \0" }),
    padded(data),
  ]);
}

/**
 * A random hand-made archive the writer would not make (ustar prefixes, GNU
 * long names and base-256 numbers, V7 headers, PAX global headers, signed
 * checksums, devices), with what `readTar` must report.
 */
function handArchive(random: Random): { bytes: Uint8Array; expected: ExpectedEntry[] } {
  const parts: Uint8Array[] = [];
  const expected: ExpectedEntry[] = [];
  let globalUname: string | undefined;
  for (let n = random.int(7); n > 0; n--) {
    const kind = random.int(9);
    const typeflag = random.pick(["0", "0", "5", "2", "1", "3", "6", "7", "\0", "S"]);
    const headerOnly = "123456".includes(typeflag);
    let body = headerOnly ? EMPTY : tarBody(random);
    let name = fit(tarName(random), 90);
    if (typeflag === "\0" && random.next() < 0.3) {
      name += "/";
      body = EMPTY;
    }
    let linkname = typeflag === "1" || typeflag === "2" ? fit(tarName(random), 90) : "";
    let uname = "user";
    let mtime = random.int(2 ** 33);
    let uid = random.int(0o7777777);
    let header: Uint8Array;
    let magic = "ustar\x0000";
    if (kind === 1) magic = "ustar  \0";
    if (kind === 2) magic = "";
    const fields = { name, typeflag, size: body.length, mtime, uid, linkname, uname, magic };
    if (kind === 3) {
      // ustar prefix: the name is prefix/name.
      const prefix = fit(tarName(random), 150);
      header = rawHeader({ ...fields, prefix });
      name = `${prefix}/${name}`;
    } else if (kind === 4) {
      // GNU long name and link.
      const long = `${"long/".repeat(30)}${name}`;
      parts.push(gnuLong("L", long));
      if (linkname) {
        linkname = `${"target/".repeat(20)}${linkname}`;
        parts.push(gnuLong("K", linkname));
      }
      header = rawHeader({ ...fields, magic: "ustar  \0" });
      name = long;
    } else if (kind === 5) {
      // PAX local records.
      const records: Record<string, string> = {
        path: `${name}/ünï/${"p".repeat(120)}`,
        mtime: "1700000000.5",
        uid: String(2 ** 40),
      };
      if (linkname) records.linkpath = `${linkname}/${"q".repeat(120)}`;
      if (random.next() < 0.5) records.uname = "pax-user";
      parts.push(paxHeader("x", records));
      header = rawHeader(fields);
      name = records.path!;
      linkname = records.linkpath ?? linkname;
      mtime = 1_700_000_000.5;
      uid = 2 ** 40;
      if (records.uname) uname = records.uname;
      else if (globalUname) uname = globalUname;
    } else if (kind === 6) {
      // PAX global records: set or unset uname for the entries that follow.
      globalUname = random.next() < 0.7 ? `global-${random.int(100)}` : undefined;
      parts.push(paxHeader("g", { uname: globalUname ?? "" }));
      header = rawHeader(fields);
      if (globalUname) uname = globalUname;
    } else if (kind === 7) {
      // GNU base-256 numbers.
      header = rawHeader(fields);
      mtime = -random.int(2 ** 40);
      uid = 2 ** 30 + random.int(2 ** 30);
      setBase256(header, 136, 12, mtime);
      setBase256(header, 108, 8, uid);
      if (!headerOnly) setBase256(header, 124, 12, body.length);
      setChecksum(header);
    } else {
      header = rawHeader({ ...fields, uname: kind === 8 ? "ü" : uname });
      if (kind === 8) {
        setChecksum(header, true); // old signed checksum
        uname = "ü";
      }
    }
    if (kind !== 5 && kind !== 6 && globalUname !== undefined) uname = globalUname;
    parts.push(header, padded(body));
    const type = typeflag === "0" || typeflag === "7"
      ? "file"
      : typeflag === "\0"
      ? (name.endsWith("/") ? "directory" : "file")
      : typeflag === "5"
      ? "directory"
      : typeflag === "2"
      ? "symlink"
      : typeflag === "1"
      ? "hardlink"
      : "other";
    expected.push({
      name,
      type,
      typeflag,
      size: body.length,
      mode: 0o644,
      mtime,
      uid,
      gid: 0,
      uname,
      gname: "",
      linkname,
      body,
    });
  }
  const end = random.int(4);
  if (end === 1) parts.push(END);
  else if (end === 2) parts.push(END, new Uint8Array(512 * random.int(20)));
  else if (end === 3) parts.push(new Uint8Array(512));
  return { bytes: concat(parts), expected };
}

/** How the consumer treats an entry's body. */
type BodyPlan = "read" | "skip" | "some" | "race";

/** What reading an archive gave: entries, bodies (or their errors), the final error. */
interface TarRun {
  entries: (Omit<ExpectedEntry, "body"> & { body: Uint8Array | string | null })[];
  error: unknown;
}

/**
 * Reads an archive, treating the body of entry `i` as `plans[i % length]`
 * says, and checks that every body chunk is a view of an input piece.
 */
async function readArchive(
  parts: Uint8Array[],
  plans: BodyPlan[],
  options: { maxEntries?: number; maxHeaderSize?: number } = {},
): Promise<TarRun> {
  const buffers = new Set(parts.map((part) => part.buffer));
  const entries: TarRun["entries"] = [];
  const reader = readTar(ReadableStream.from(parts), options).getReader();
  let race: Promise<unknown> | null = null;
  try {
    while (true) {
      const next = reader.read();
      if (race) {
        // The body read in flight as the next entry was asked for: it gets
        // a chunk or the "skipped" error, never anything else.
        await race.catch((error) => assertTyped(error, "a raced body read"));
        race = null;
      }
      const { done, value } = await next;
      if (done) break;
      const { body, ...fields } = value;
      const plan = plans[entries.length % plans.length]!;
      const item: TarRun["entries"][number] = { ...fields, body: null };
      entries.push(item);
      if (plan === "read") {
        const chunks: Uint8Array[] = [];
        try {
          for await (const chunk of body) chunks.push(chunk);
          item.body = concat(chunks);
        } catch (error) {
          assertTyped(error, "a tar body");
          item.body = describe(error);
        }
        for (const chunk of chunks) {
          assert.ok(buffers.has(chunk.buffer), "a body chunk is a copy, not a view of the input");
        }
      } else if (plan === "some") {
        await body.getReader().read().catch((error) => assertTyped(error, "a tar body"));
      } else if (plan === "race") {
        race = body.getReader().read();
      }
    }
  } catch (error) {
    await race?.catch(() => {});
    if (error instanceof assert.AssertionError) throw error; // a check above, not readTar
    assertTyped(error, "readTar");
    return { entries, error };
  }
  return { entries, error: undefined };
}

Deno.test("readTar reads random archives from tarStream split anywhere exactly as written", async () => {
  await fuzz(fuzzCases(120), async (random, note) => {
    const specs = Array.from({ length: random.int(8) }, () => writerEntry(random));
    const bytes = await collect(tarStream(specs.map((spec) => spec.entry)));
    note(bytes);
    assert.equal(bytes.length % 512, 0, "whole blocks");
    const plans = Array.from(
      { length: 5 },
      () => random.pick<BodyPlan>(["read", "read", "skip", "some", "race"]),
    );
    const run = await readArchive(pieces(random, bytes), plans);
    assert.equal(run.error, undefined, describe(run.error));
    assert.equal(run.entries.length, specs.length, "entry count");
    run.entries.forEach((entry, index) => {
      const { body, ...expected } = specs[index]!.expected;
      const { body: got, ...fields } = entry;
      assert.deepEqual(fields, expected, `entry ${index}`);
      if (plans[index % plans.length] === "read") {
        assert.ok(got instanceof Uint8Array && sameBytes(got, body), `entry ${index} body: ${got}`);
      }
    });
  });
});

Deno.test("readTar reads random hand-made ustar, GNU, V7 and PAX archives split anywhere exactly", async () => {
  await fuzz(fuzzCases(200), async (random, note) => {
    const { bytes, expected } = handArchive(random);
    note(bytes);
    const plans = Array.from(
      { length: 5 },
      () => random.pick<BodyPlan>(["read", "read", "skip", "some", "race"]),
    );
    const run = await readArchive(pieces(random, bytes), plans);
    assert.equal(run.error, undefined, describe(run.error));
    assert.equal(run.entries.length, expected.length, "entry count");
    run.entries.forEach((entry, index) => {
      const { body, ...want } = expected[index]!;
      const { body: got, ...fields } = entry;
      assert.deepEqual(fields, want, `entry ${index}`);
      if (plans[index % plans.length] === "read") {
        assert.ok(got instanceof Uint8Array && sameBytes(got, body), `entry ${index} body: ${got}`);
      }
    });
  });
});

/** Bytes tar headers are made of, for {@linkcode mutate}. */
const TAR_BYTES = [0, 0x20, 0x30, 0x31, 0x37, 0x38, 0x80, 0xff, 0x78, 0x67, 0x4c, 0x4b, 0x35, 0x0a];

/** A damaged archive: mutated, with an overflowing or huge size, truncated, or random bytes. */
async function damagedArchive(random: Random): Promise<Uint8Array> {
  const valid = random.next() < 0.5 ? handArchive(random).bytes : await collect(
    tarStream(Array.from({ length: random.int(5) }, () => writerEntry(random).entry)),
  );
  const roll = random.int(6);
  if (roll === 0) return random.bytes(512 * random.int(4) + random.int(600));
  if (roll === 1) return valid.subarray(0, random.int(valid.length + 1));
  if (roll === 2 || roll === 3) {
    // A header declaring a size its data does not have: 11 octal 7s (8 GiB), a
    // size over 12 octal digits, a base-256 size up to 2^95, a PAX size.
    const header = rawHeader({ name: "big", typeflag: random.pick(["0", "x", "L", "g", "S"]) });
    const field = random.int(4);
    if (field === 0) header.set(encoder.encode("77777777777\0"), 124);
    else if (field === 1) header.set(encoder.encode("777777777777"), 124);
    else if (field === 2) {
      for (let i = 125; i < 136; i++) header[i] = random.int(256);
      header[124] = 0x80;
    } else {
      return concat([
        paxHeader("x", { size: random.pick(["99999999999999999999", "1e3", "-1", "12"]) }),
        header,
      ]);
    }
    setChecksum(header);
    const cut = random.int(valid.length + 1);
    return concat([valid.subarray(0, cut - (cut % 512)), header, random.bytes(random.int(2000))]);
  }
  return mutate(random, valid, TAR_BYTES);
}

Deno.test("readTar fails damaged archives with DockerError subclasses only, the same whatever the split", async () => {
  await fuzz(fuzzCases(200), async (random, note) => {
    const bytes = await damagedArchive(random);
    note(bytes);
    const plans = Array.from({ length: 5 }, () => random.pick<BodyPlan>(["read", "read", "skip"]));
    const options = random.next() < 0.2
      ? { maxEntries: 1 + random.int(3), maxHeaderSize: 1 + random.int(2000) }
      : {};
    const first = await readArchive(pieces(random, bytes), plans, options);
    const second = await readArchive(pieces(random, bytes), plans, options);
    assert.equal(describe(second.error), describe(first.error), "the same error for another split");
    assert.deepEqual(second.entries, first.entries, "the same entries for another split");
  });
});

Deno.test("readTar keeps its place when a body read is in flight as the next entry is asked for", async () => {
  const bytes = await collect(tarStream([
    { name: "a", body: new Uint8Array(1000).fill(97), mtime: 0 },
    { name: "b", body: "bee", mtime: 0 },
  ]));
  // Pieces of 700 bytes: the body of "a" spans two of them.
  const parts: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += 700) parts.push(bytes.slice(i, i + 700));
  const entries = readTar(ReadableStream.from(parts)).getReader();
  const first = await entries.read();
  // A chunk, or the "skipped" error: both are fine.
  const pending = first.value!.body.getReader().read().catch((error) => error);
  const second = await entries.read();
  const raced = await pending;
  assert.ok(raced instanceof DockerError || raced.value instanceof Uint8Array, String(raced));
  assert.equal(second.value?.name, "b");
  assert.equal(await new Response(second.value!.body).text(), "bee");
  assert.equal((await entries.read()).done, true);
});
