/**
 * Seeded fuzz tests of the multiplexed stream decoder (`FrameDecoder`,
 * `demuxStream`). Random valid frame sequences, split at random offsets,
 * must decode exactly as generated; damaged ones must fail with a
 * `DockerProtocolError` after the frames before the damage, without
 * allocating what a header merely declares.
 *
 * A failure names the seed, the case and its input: rerun with
 * `BERTH_FUZZ_SEED=<seed>` to reproduce it, `BERTH_FUZZ_CASES=<n>` for n
 * times the cases.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DockerProtocolError } from "../../src/errors.ts";
import { demuxStream, type Frame, FrameDecoder, type StreamName } from "../../src/stream/demux.ts";
import {
  assertTyped,
  describeError,
  fuzz,
  fuzzCases,
  mutate,
  type Random,
  randomPieces,
  sameBytes,
  tiered,
} from "../_fuzz.ts";
import { countingSource } from "./_helpers.ts";
import { concat } from "./_tar.ts";

const EMPTY = new Uint8Array(0);

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
  const size = tiered(random, [
    [0.15, () => 0],
    [0.6, () => 1 + random.int(16)],
    [0.9, () => random.int(600)],
    [0.985, () => random.int(5000)],
    [1, () => 65_536 + random.int(20_000)],
  ]);
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
    const parts = randomPieces(random, bytes);
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
    const parts = randomPieces(random, bytes);
    const { frames, error } = decodeFrames(parts, maxFrameSize, stableInput);
    const expected = referenceDemux(bytes);
    assertTyped(error, "FrameDecoder");
    if (expected.error === null) {
      assert.equal(error, undefined, `unexpected ${describeError(error)}`);
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
    const parts = randomPieces(random, bytes);
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
    assert.equal(code, expected.error, describeError(error));
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
