import assert from "node:assert/strict";
import {
  DockerError,
  DockerOutputLimitError,
  DockerProtocolError,
  DockerStreamError,
} from "../../src/errors.ts";
import {
  collectFrames,
  demuxStream,
  type Frame,
  FrameDecoder,
  type FrameDecoderOptions,
  rawStream,
  type StreamName,
} from "../../src/stream/demux.ts";
import { countingSource, fails } from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TYPES: Record<StreamName, number> = { stdin: 0, stdout: 1, stderr: 2, system: 3 };

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

/** Builds one multiplexed frame. */
function frame(stream: StreamName, payload: string | Uint8Array): Uint8Array {
  const data = typeof payload === "string" ? encoder.encode(payload) : payload;
  const out = new Uint8Array(8 + data.length);
  out[0] = TYPES[stream];
  new DataView(out.buffer).setUint32(4, data.length);
  out.set(data, 8);
  return out;
}

/** Frames as `stream:text`, for comparisons. */
function show(frames: Frame[]): string[] {
  return frames.map((f) => `${f.stream}:${decoder.decode(f.data)}`);
}

function decodePieces(pieces: Uint8Array[], options?: FrameDecoderOptions): Frame[] {
  const frames = new FrameDecoder(options);
  const out: Frame[] = [];
  for (const piece of pieces) frames.push(piece, out);
  frames.finish();
  return out;
}

// A realistic attach stream: every stream type, a zero-size frame, UTF-8,
// a binary frame, and lines of different lengths.
const FRAMES: [StreamName, string][] = [
  ["stdout", "starting server\n"],
  ["stderr", "warning: no config, using defaults\n"],
  ["stdout", ""],
  ["stdout", "listening on :8080 — ünïcödé ✓\n"],
  ["stdin", "ls\n"],
  ["stderr", "x"],
  ["stdout", "a".repeat(300)],
  ["system", "exec failed"],
];
const STREAM = concat(FRAMES.map(([stream, text]) => frame(stream, text)));
const EXPECTED = FRAMES.filter(([, text]) => text !== "").map(([stream, text]) =>
  `${stream}:${text}`
);

Deno.test("FrameDecoder decodes a realistic stream in one piece", () => {
  assert.deepEqual(show(decodePieces([STREAM])), EXPECTED);
});

Deno.test("FrameDecoder decodes a stream split at every offset into the same frames", () => {
  for (let split = 0; split <= STREAM.length; split++) {
    const frames = decodePieces([STREAM.subarray(0, split), STREAM.subarray(split)]);
    assert.deepEqual(show(frames), EXPECTED, `split at ${split}`);
  }
});

Deno.test("FrameDecoder decodes a stream split at every pair of offsets", () => {
  for (let a = 0; a <= STREAM.length; a += 1) {
    for (let b = a; b <= STREAM.length; b += 3) {
      const pieces = [STREAM.subarray(0, a), STREAM.subarray(a, b), STREAM.subarray(b)];
      assert.deepEqual(show(decodePieces(pieces)), EXPECTED, `split at ${a}, ${b}`);
    }
  }
});

Deno.test("FrameDecoder decodes a stream fed one byte at a time", () => {
  const pieces = Array.from(STREAM, (_, i) => STREAM.subarray(i, i + 1));
  assert.deepEqual(show(decodePieces(pieces)), EXPECTED);
});

Deno.test("FrameDecoder returns views of the input for frames inside one piece", () => {
  const input = concat([frame("stdout", "hello"), frame("stderr", "world!")]);
  const out: Frame[] = [];
  new FrameDecoder().push(input, out);
  assert.equal(out.length, 2);
  assert.equal(out[0]!.data.buffer, input.buffer);
  assert.equal(out[0]!.data.byteOffset, 8);
  assert.equal(out[1]!.data.buffer, input.buffer);
  assert.equal(out[1]!.data.byteOffset, 21);
  assert.deepEqual(show(out), ["stdout:hello", "stderr:world!"]);
});

Deno.test("FrameDecoder assembles a split frame into one allocation of exactly its size", () => {
  const payload = new Uint8Array(10_000).map((_, i) => i % 256);
  const bytes = frame("stderr", payload);
  const pieces = [bytes.subarray(0, 100), bytes.subarray(100, 5000), bytes.subarray(5000)];
  const out = decodePieces(pieces);
  assert.equal(out.length, 1);
  assert.equal(out[0]!.stream, "stderr");
  assert.deepEqual(out[0]!.data, payload);
  assert.equal(out[0]!.data.buffer.byteLength, 10_000);
  assert.notEqual(out[0]!.data.buffer, bytes.buffer);
});

Deno.test("FrameDecoder uses a view when the payload lies whole in the piece after its header", () => {
  const bytes = frame("stdout", "payload");
  const out = decodePieces([bytes.subarray(0, 8), bytes.subarray(8)]);
  assert.deepEqual(show(out), ["stdout:payload"]);
  assert.equal(out[0]!.data.buffer, bytes.buffer);
});

Deno.test("FrameDecoder decodes a header split at each offset 1..7", () => {
  const bytes = concat([
    frame("stdout", "first"),
    frame("stderr", "second"),
    frame("stdout", "third"),
  ]);
  const secondHeader = 13;
  for (let cut = 1; cut <= 7; cut++) {
    const split = secondHeader + cut;
    const frames = decodePieces([bytes.subarray(0, split), bytes.subarray(split)]);
    assert.deepEqual(show(frames), ["stdout:first", "stderr:second", "stdout:third"], `cut ${cut}`);
    // A header split over three pieces too.
    const three = decodePieces([
      bytes.subarray(0, secondHeader + 1),
      bytes.subarray(secondHeader + 1, split),
      bytes.subarray(split),
    ]);
    assert.deepEqual(show(three), ["stdout:first", "stderr:second", "stdout:third"], `cut ${cut}`);
  }
});

Deno.test("FrameDecoder emits a split frame over maxFrameSize in parts with the exact total", () => {
  const payload = new Uint8Array(1000).map((_, i) => i % 256);
  const bytes = concat([frame("stdout", payload), frame("stderr", "after")]);
  const pieces: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; offset += 64) {
    pieces.push(bytes.subarray(offset, offset + 64));
  }
  const out = decodePieces(pieces, { maxFrameSize: 100 });
  const parts = out.filter((f) => f.stream === "stdout");
  assert.ok(parts.length > 10, `${parts.length} parts`);
  for (const part of parts) {
    assert.ok(part.data.length <= 64);
    assert.equal(part.data.buffer, bytes.buffer); // no copies while passing parts on
  }
  assert.deepEqual(concat(parts.map((f) => f.data)), payload);
  assert.deepEqual(show(out.slice(-1)), ["stderr:after"]);
  // The default limit (1 MiB) assembles the same frame into one.
  assert.equal(decodePieces(pieces).length, 2);
  // A frame over the limit that lies inside one piece is still one view.
  const whole = decodePieces([bytes], { maxFrameSize: 100 });
  assert.equal(whole.length, 2);
  assert.equal(whole[0]!.data.length, 1000);
});

Deno.test("FrameDecoder skips zero-size frames", () => {
  const bytes = concat([
    frame("stdout", ""),
    frame("stderr", ""),
    frame("stdout", "x"),
    frame("stdout", ""),
  ]);
  for (let split = 0; split <= bytes.length; split++) {
    const frames = decodePieces([bytes.subarray(0, split), bytes.subarray(split)]);
    assert.deepEqual(show(frames), ["stdout:x"], `split at ${split}`);
  }
});

Deno.test("FrameDecoder decodes the largest uint32 size without going negative", () => {
  const frames = new FrameDecoder({ maxFrameSize: 0 });
  const out: Frame[] = [];
  frames.push(new Uint8Array([1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]), out);
  assert.equal(out.length, 1);
  assert.deepEqual(out[0]!.data, new Uint8Array([1, 2, 3]));
  const error = fails(() => frames.finish(), "PREMATURE_CLOSE");
  assert.match(error.message, /4294967292 of 4294967295 bytes missing/);
});

Deno.test("FrameDecoder rejects a header that is not multiplexed with INVALID_FRAME", () => {
  // Raw TTY output: "hello world\n".
  const raw = encoder.encode("hello world\n");
  const error = fails(() => decodePieces([raw]), "INVALID_FRAME");
  assert.match(error.message, /not multiplexed/);
  assert.match(error.message, /TTY/);
  assert.doesNotMatch(error.message, /hello/);
  // A stream type over 3, or non-zero padding, at any split.
  for (
    const header of [[4, 0, 0, 0, 0, 0, 0, 1], [1, 0, 1, 0, 0, 0, 0, 1], [2, 0, 0, 9, 0, 0, 0, 1]]
  ) {
    const bytes = concat([frame("stdout", "ok"), new Uint8Array(header), new Uint8Array([120])]);
    for (let split = 0; split <= bytes.length; split++) {
      const frames = new FrameDecoder();
      const out: Frame[] = [];
      fails(() => {
        frames.push(bytes.subarray(0, split), out);
        frames.push(bytes.subarray(split), out);
      }, "INVALID_FRAME");
      // Frames before the bad header were delivered.
      assert.deepEqual(show(out), ["stdout:ok"], `split at ${split}`);
    }
  }
});

Deno.test("FrameDecoder keeps failing with the same error after one", () => {
  const frames = new FrameDecoder();
  const first = fails(
    () => frames.push(new Uint8Array([9, 0, 0, 0, 0, 0, 0, 0]), []),
    "INVALID_FRAME",
  );
  assert.throws(() => frames.push(frame("stdout", "ok"), []), (error) => error === first);
});

Deno.test("FrameDecoder.finish reports how many bytes were missing", () => {
  const bytes = frame("stderr", "0123456789");
  for (let cut = 1; cut < 8; cut++) {
    const frames = new FrameDecoder();
    frames.push(bytes.subarray(0, cut), []);
    const error = fails(() => frames.finish(), "PREMATURE_CLOSE");
    assert.match(error.message, new RegExp(`${8 - cut} of 8 bytes missing`));
  }
  for (let cut = 8; cut < bytes.length; cut++) {
    const frames = new FrameDecoder();
    frames.push(bytes.subarray(0, cut), []);
    const error = fails(() => frames.finish(), "PREMATURE_CLOSE");
    assert.match(
      error.message,
      new RegExp(`stderr frame: ${bytes.length - cut} of 10 bytes missing`),
    );
  }
  const clean = new FrameDecoder();
  clean.push(bytes, []);
  clean.finish();
  clean.finish();
  new FrameDecoder().finish();
});

Deno.test("FrameDecoder rejects an invalid maxFrameSize with a RangeError", () => {
  assert.throws(() => new FrameDecoder({ maxFrameSize: -1 }), RangeError);
  assert.throws(() => new FrameDecoder({ maxFrameSize: 0.5 }), RangeError);
});

Deno.test("demuxStream decodes a stream whose pieces split frames anywhere", async () => {
  const pieces: Uint8Array[] = [];
  for (let offset = 0; offset < STREAM.length; offset += 7) {
    pieces.push(STREAM.subarray(offset, offset + 7));
  }
  const frames = await Array.fromAsync(demuxStream(ReadableStream.from(pieces)));
  assert.deepEqual(show(frames), EXPECTED);
});

Deno.test("demuxStream reads the source only as frames are pulled", async () => {
  const header = frame("stdout", "two");
  const source = countingSource([
    concat([frame("stdout", "one"), frame("stderr", "uno")]),
    header.subarray(0, 3), // a read that completes no frame
    header.subarray(3),
    frame("stdout", "three"),
  ]);
  const frames = demuxStream(source.body);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(source.pulls(), 0, "nothing is read before the first pull");
  const reader = frames.getReader();
  assert.deepEqual(show([(await reader.read()).value!]), ["stdout:one"]);
  assert.equal(source.pulls(), 1);
  // The second frame came from the same read: no new pull.
  assert.deepEqual(show([(await reader.read()).value!]), ["stderr:uno"]);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(source.pulls(), 1);
  // A read that produced no frame is followed by another read.
  assert.deepEqual(show([(await reader.read()).value!]), ["stdout:two"]);
  assert.equal(source.pulls(), 3);
  assert.deepEqual(show([(await reader.read()).value!]), ["stdout:three"]);
  assert.equal(source.pulls(), 4);
  assert.equal((await reader.read()).done, true);
});

Deno.test("demuxStream propagates cancel to the body with its reason", async () => {
  const source = countingSource([frame("stdout", "one"), frame("stdout", "two")]);
  const reader = demuxStream(source.body).getReader();
  await reader.read();
  const reason = new Error("consumer gave up");
  await reader.cancel(reason);
  assert.equal(source.cancelled(), reason);
  // Breaking out of for-await cancels too.
  const second = countingSource([frame("stdout", "one"), frame("stdout", "two")]);
  for await (const _ of demuxStream(second.body)) break;
  assert.equal(second.cancelled(), undefined);
});

Deno.test("demuxStream passes source errors through unchanged", async () => {
  const failure = new Error("socket reset");
  let sent = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent) return controller.error(failure);
      sent = true;
      controller.enqueue(frame("stdout", "before"));
    },
  }, { highWaterMark: 0 });
  const reader = demuxStream(body).getReader();
  assert.deepEqual(show([(await reader.read()).value!]), ["stdout:before"]);
  await assert.rejects(reader.read(), (error) => error === failure);
});

Deno.test("demuxStream delivers the frames before a bad header, then fails and cancels the body", async () => {
  const source = countingSource([
    concat([frame("stdout", "ok"), encoder.encode("raw tty output")]),
  ]);
  const reader = demuxStream(source.body).getReader();
  assert.deepEqual(show([(await reader.read()).value!]), ["stdout:ok"]);
  await assert.rejects(
    reader.read(),
    (error) => error instanceof DockerProtocolError && error.code === "INVALID_FRAME",
  );
  assert.ok(source.cancelled() instanceof DockerProtocolError);
});

Deno.test("demuxStream fails with PREMATURE_CLOSE when the body ends inside a frame", async () => {
  const bytes = frame("stdout", "truncated");
  const frames = demuxStream(ReadableStream.from([bytes.subarray(0, 12)]));
  await assert.rejects(
    Array.fromAsync(frames),
    (error) => error instanceof DockerProtocolError && error.code === "PREMATURE_CLOSE",
  );
});

Deno.test("rawStream passes each non-empty piece through as a stdout frame", async () => {
  const pieces = [encoder.encode("$ "), new Uint8Array(0), encoder.encode("ls\r\n")];
  const frames = await Array.fromAsync(rawStream(ReadableStream.from(pieces)));
  assert.deepEqual(show(frames), ["stdout:$ ", "stdout:ls\r\n"]);
  assert.equal(frames[0]!.data, pieces[0]);
  const source = countingSource([encoder.encode("a"), encoder.encode("b")]);
  const reader = rawStream(source.body).getReader();
  await reader.read();
  assert.equal(source.pulls(), 1);
  await reader.cancel("done");
  assert.equal(source.cancelled(), "done");
});

Deno.test("collectFrames joins stdout and stderr exactly, from a stream or an iterable", async () => {
  const withoutSystem = concat(FRAMES.filter(([s]) => s !== "system").map(([s, t]) => frame(s, t)));
  const pieces: Uint8Array[] = [];
  for (let offset = 0; offset < withoutSystem.length; offset += 5) {
    pieces.push(withoutSystem.subarray(offset, offset + 5));
  }
  const { stdout, stderr } = await collectFrames(demuxStream(ReadableStream.from(pieces)));
  const expectText = (name: StreamName) =>
    FRAMES.filter(([s]) => s === name).map(([, t]) => t).join("");
  assert.equal(decoder.decode(stdout), expectText("stdout"));
  assert.equal(decoder.decode(stderr), expectText("stderr"));
  // Each result is its own array of exactly its length.
  assert.equal(stdout.buffer.byteLength, stdout.length);

  async function* generate(): AsyncGenerator<Frame> {
    yield { stream: "stdout", data: encoder.encode("a") };
    yield { stream: "stdin", data: encoder.encode("ignored") };
    yield { stream: "stdout", data: encoder.encode("b") };
  }
  const fromIterable = await collectFrames(generate());
  assert.equal(decoder.decode(fromIterable.stdout), "ab");
  assert.equal(fromIterable.stderr.length, 0);
});

Deno.test("collectFrames throws DockerStreamError with a system frame's text and cancels the frames", async () => {
  const source = countingSource([
    concat([frame("stdout", "partial"), frame("system", "OCI runtime exec failed\n")]),
    frame("stdout", "never read"),
  ]);
  await assert.rejects(
    collectFrames(demuxStream(source.body)),
    (error) => error instanceof DockerStreamError && error.message === "OCI runtime exec failed",
  );
  assert.equal(source.pulls(), 1);
  assert.notEqual(source.cancelled(), "not cancelled");
});

Deno.test("collectFrames holds at most maxBytes of stdout and stderr together, then cancels", async (t) => {
  await t.step("exactly at the limit: everything, stdin frames not counted", async () => {
    const source = countingSource([
      frame("stdout", "abc"),
      frame("stdin", "not counted"),
      frame("stderr", "de"),
    ]);
    const { stdout, stderr } = await collectFrames(demuxStream(source.body), { maxBytes: 5 });
    assert.equal(decoder.decode(stdout), "abc");
    assert.equal(decoder.decode(stderr), "de");
  });
  await t.step(
    "one byte over: DockerOutputLimitError naming the output, stream cancelled",
    async () => {
      const source = countingSource([
        frame("stdout", "abc"),
        frame("stderr", "def"),
        frame("stdout", "never read"),
      ]);
      const error = await collectFrames(demuxStream(source.body), {
        maxBytes: 5,
        what: 'the output of container "web"',
      }).then(() => undefined, (error) => error);
      assert.ok(error instanceof DockerOutputLimitError, String(error));
      assert.ok(error instanceof DockerError);
      assert.equal(error.limit, 5);
      assert.match(
        error.message,
        /^Cannot hold the output of container "web" in memory: it exceeds 5 bytes \(maxOutput\)/,
      );
      assert.equal(source.pulls(), 2);
      assert.notEqual(source.cancelled(), "not cancelled");
    },
  );
  await t.step(
    "a limit of 0 accepts empty frames only; a negative limit is a RangeError",
    async () => {
      const empty = await collectFrames(
        ReadableStream.from<Frame>([{ stream: "stdout", data: new Uint8Array(0) }]),
        {
          maxBytes: 0,
        },
      );
      assert.equal(empty.stdout.length, 0);
      await assert.rejects(
        collectFrames(ReadableStream.from<Frame>([]), { maxBytes: -1 }),
        RangeError,
      );
      await assert.rejects(
        collectFrames(ReadableStream.from<Frame>([]), { maxBytes: NaN }),
        RangeError,
      );
    },
  );
});

Deno.test("FrameDecoder with stableInput joins a frame split over back-to-back pieces into one view", () => {
  const payload = new Uint8Array(10_000).map((_, i) => i % 251);
  const bytes = concat([frame("stdout", "a"), frame("stderr", payload), frame("stdout", "z")]);
  const pieces = [bytes.subarray(0, 100), bytes.subarray(100, 5000), bytes.subarray(5000)];
  const out = decodePieces(pieces, { stableInput: true });
  assert.deepEqual(out.map((f) => f.stream), ["stdout", "stderr", "stdout"]);
  assert.deepEqual(out[1]!.data, payload);
  // No copy: a view of the pieces' own buffer.
  assert.equal(out[1]!.data.buffer, bytes.buffer);
  assert.equal(out[1]!.data.byteOffset, 17);
});

Deno.test("FrameDecoder with stableInput copies once the pieces stop lying back to back", () => {
  const payload = new Uint8Array(10_000).map((_, i) => i % 253);
  const bytes = frame("stderr", payload);
  // The first two pieces are contiguous; the third is a copy elsewhere.
  const pieces = [bytes.subarray(0, 100), bytes.subarray(100, 5000), bytes.slice(5000)];
  const out = decodePieces(pieces, { stableInput: true });
  assert.equal(out.length, 1);
  assert.deepEqual(out[0]!.data, payload);
  assert.equal(out[0]!.data.buffer.byteLength, 10_000);
  // Separate buffers from the start: assembled as without the option.
  const apart = decodePieces(pieces.map((piece) => piece.slice()), { stableInput: true });
  assert.deepEqual(apart[0]!.data, payload);
  assert.equal(apart[0]!.data.buffer.byteLength, 10_000);
});

Deno.test("FrameDecoder with stableInput decodes every split, contiguous or copied, the same", () => {
  for (const copy of [false, true]) {
    for (let a = 0; a <= STREAM.length; a += 1) {
      for (let b = a; b <= STREAM.length; b += 5) {
        const cut = (from: number, to: number) =>
          copy && from === a ? STREAM.slice(from, to) : STREAM.subarray(from, to);
        const pieces = [cut(0, a), cut(a, b), cut(b, STREAM.length)];
        const frames = decodePieces(pieces, { stableInput: true });
        assert.deepEqual(show(frames), EXPECTED, `split at ${a}, ${b} (copy ${copy})`);
      }
    }
  }
});

Deno.test("FrameDecoder with stableInput still passes a split frame over maxFrameSize in parts", () => {
  const bytes = frame("stdout", "x".repeat(250));
  const pieces = [bytes.subarray(0, 50), bytes.subarray(50, 150), bytes.subarray(150)];
  const out = decodePieces(pieces, { maxFrameSize: 100, stableInput: true });
  assert.deepEqual(out.map((f) => f.data.length), [42, 100, 108]);
});

Deno.test("FrameDecoder with stableInput refuses a split frame whose first bytes were transferred away", () => {
  const bytes = frame("stdout", "x".repeat(100));
  const decoder = new FrameDecoder({ stableInput: true });
  const out: Frame[] = [];
  decoder.push(bytes.subarray(0, 50), out);
  const rest = bytes.slice(50);
  structuredClone(bytes.buffer, { transfer: [bytes.buffer as ArrayBuffer] });
  assert.throws(() => decoder.push(rest, out), (error: unknown) => {
    assert.ok(error instanceof DockerError);
    assert.match(error.message, /transferred/);
    return true;
  });
  assert.equal(out.length, 0);
});
