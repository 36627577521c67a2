/**
 * Docker's multiplexed stream format, used by the logs, attach and exec
 * output of containers without a TTY: each frame is an 8-byte header
 * `[stream, 0, 0, 0, size (uint32 big-endian)]` followed by `size` payload
 * bytes. Stream 0 is stdin, 1 stdout, 2 stderr, 3 system errors.
 *
 * Frames that lie inside one input piece come out as views (no copy).
 * Frames split across pieces are assembled into one allocation, up to
 * `maxFrameSize` (or, over pieces that lie back to back in one buffer
 * nothing overwrites, joined into one view); larger ones are passed on in
 * parts so memory stays bounded.
 *
 * @module
 */

import { decodedStream } from "./_decoded_stream.ts";
import {
  DockerError,
  DockerOutputLimitError,
  DockerProtocolError,
  DockerStreamError,
} from "../errors.ts";

/** Which stream a frame belongs to; `system` carries engine errors. */
export type StreamName = "stdin" | "stdout" | "stderr" | "system";

/** One piece of container output. */
export interface Frame {
  /** The stream the bytes were written to. */
  stream: StreamName;
  /**
   * The bytes. Usually a view into a read buffer that nothing else writes
   * to; it stays valid, but keeps that buffer alive while you hold it.
   */
  data: Uint8Array;
}

/** Options of {@linkcode FrameDecoder}. */
export interface FrameDecoderOptions {
  /**
   * Largest frame, in payload bytes, that is assembled into one
   * {@linkcode Frame} when it arrives split across pieces. A split frame
   * over this size is emitted in parts (consecutive frames of the same
   * stream) as its bytes arrive, so memory stays bounded.
   *
   * @default 1048576
   */
  maxFrameSize?: number;
  /**
   * Promises that the bytes of a piece are never overwritten once pushed:
   * each piece is fresh memory, or a region of a buffer that nothing writes
   * to again (as berth's own socket reads are unless `reuseBuffer` is
   * set). A split frame whose pieces then lie back to back in one buffer
   * comes out as one view of them instead of a copy. Leave it off when
   * pieces come from a reused buffer: a held view would go stale.
   *
   * @default false
   */
  stableInput?: boolean;
}

const STREAMS: readonly StreamName[] = ["stdin", "stdout", "stderr", "system"];
const HEADER_SIZE = 8;

/** The error for a header that is not a frame header. */
function invalidHeader(bytes: Uint8Array, at: number): DockerProtocolError {
  const type = bytes[at]!;
  const found = type > 3
    ? `stream type ${type} (byte 0 must be 0-3)`
    : `non-zero padding (bytes 1-3 are ${bytes[at + 1]}, ${bytes[at + 2]}, ${bytes[at + 3]})`;
  return new DockerProtocolError(
    "INVALID_FRAME",
    `Invalid multiplexed-stream frame header: ${found}; the stream is probably not multiplexed (a TTY session?)`,
  );
}

/**
 * Decodes multiplexed frames from pieces of any size, split anywhere.
 *
 * After the first error the decoder is broken: every later call throws the
 * same error.
 *
 * @example Decode two frames split inside a header
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Frame, FrameDecoder } from "@berth/docker";
 *
 * const bytes = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 2, 104, 105, 2, 0, 0, 0, 0, 0, 0, 1, 33]);
 * const frames: Frame[] = [];
 * const decoder = new FrameDecoder();
 * decoder.push(bytes.subarray(0, 5), frames);
 * decoder.push(bytes.subarray(5), frames);
 * decoder.finish();
 * assert.deepEqual(
 *   frames.map((frame) => `${frame.stream}:${new TextDecoder().decode(frame.data)}`),
 *   ["stdout:hi", "stderr:!"],
 * );
 * ```
 */
export class FrameDecoder {
  readonly #maxFrameSize: number;
  readonly #stableInput: boolean;
  readonly #header = new Uint8Array(HEADER_SIZE);
  /** Bytes of a split header buffered so far (0 between frames). */
  #headerLength = 0;
  /** Stream of the frame in progress. */
  #stream: StreamName = "stdout";
  /** Declared size of the frame in progress. */
  #size = 0;
  /** Payload bytes of the frame in progress still to come (0 between frames). */
  #remaining = 0;
  /** Assembly buffer of a split frame up to `maxFrameSize`, once it has bytes. */
  #assembly: Uint8Array | null = null;
  /**
   * With `stableInput`: the split frame's payload so far as one view of
   * the pieces it came in, while they lie back to back (no assembly yet).
   */
  #joined: Uint8Array | null = null;
  #failure: DockerError | undefined;

  /**
   * Creates a decoder positioned before the first frame header.
   *
   * @param options Assembly limit.
   * @throws {RangeError} When `maxFrameSize` is not a non-negative integer.
   */
  constructor(options: FrameDecoderOptions = {}) {
    const maxFrameSize = options.maxFrameSize ?? 1_048_576;
    if (!Number.isSafeInteger(maxFrameSize) || maxFrameSize < 0) {
      throw new RangeError(
        `Cannot create FrameDecoder: maxFrameSize must be a non-negative integer, got ${maxFrameSize}`,
      );
    }
    this.#maxFrameSize = maxFrameSize;
    this.#stableInput = options.stableInput === true;
  }

  /**
   * Decodes the next piece. Zero-size frames are skipped.
   *
   * @param input The next bytes of the stream.
   * @param out Receives the frames completed by `input`: views of `input`
   *   for frames inside it, one assembled copy for a split frame (one view
   *   with `stableInput` when its pieces lie back to back), or the parts of
   *   a split frame over `maxFrameSize` as they arrive.
   * @throws {DockerProtocolError} `INVALID_FRAME` when a header is not a
   *   frame header (the stream is probably a raw TTY stream). Frames
   *   decoded before the bad header are in `out`.
   * @throws {DockerError} With `stableInput`, when the buffer holding the
   *   first bytes of a split frame was transferred before the frame was
   *   complete.
   *
   * @example Frames inside one piece are views
   * ```ts
   * import assert from "node:assert/strict";
   * import { type Frame, FrameDecoder } from "@berth/docker";
   *
   * const input = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 3, 97, 98, 99]);
   * const frames: Frame[] = [];
   * new FrameDecoder().push(input, frames);
   * assert.equal(frames[0]!.data.buffer, input.buffer);
   * ```
   */
  push(input: Uint8Array, out: Frame[]): void {
    if (this.#failure !== undefined) throw this.#failure;
    const length = input.length;
    let i = 0;
    if (this.#remaining > 0) {
      i = this.#continueFrame(input, 0, out);
      if (i === length) return;
    }
    if (this.#headerLength > 0) {
      const header = this.#header;
      const take = Math.min(HEADER_SIZE - this.#headerLength, length - i);
      header.set(input.subarray(i, i + take), this.#headerLength);
      this.#headerLength += take;
      i += take;
      if (this.#headerLength < HEADER_SIZE) return;
      this.#headerLength = 0;
      i = this.#startFrame(header, 0, input, i, out);
    }
    while (length - i >= HEADER_SIZE) {
      // Inline fast path for the usual case: a whole frame inside `input`.
      const type = input[i]!;
      if (type > 3 || (input[i + 1]! | input[i + 2]! | input[i + 3]!) !== 0) {
        throw (this.#failure = invalidHeader(input, i));
      }
      const size = input[i + 4]! * 0x1000000 +
        ((input[i + 5]! << 16) | (input[i + 6]! << 8) | input[i + 7]!);
      const start = i + HEADER_SIZE;
      if (length - start >= size) {
        if (size > 0) {
          out.push({ stream: STREAMS[type]!, data: input.subarray(start, start + size) });
        }
        i = start + size;
      } else {
        i = this.#startFrame(input, i, input, start, out);
      }
    }
    if (i < length) {
      this.#header.set(input.subarray(i), 0);
      this.#headerLength = length - i;
    }
  }

  /**
   * Checks that the stream ended between frames. Harmless to call again.
   *
   * @throws {DockerProtocolError} `PREMATURE_CLOSE` when the stream ended
   *   inside a frame header or a frame payload, saying how many bytes were
   *   missing.
   *
   * @example Detect a truncated frame
   * ```ts
   * import assert from "node:assert/strict";
   * import { DockerProtocolError, FrameDecoder } from "@berth/docker";
   *
   * const decoder = new FrameDecoder();
   * decoder.push(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 9, 97]), []);
   * assert.throws(() => decoder.finish(), DockerProtocolError);
   * ```
   */
  finish(): void {
    if (this.#headerLength > 0) {
      const missing = HEADER_SIZE - this.#headerLength;
      throw new DockerProtocolError(
        "PREMATURE_CLOSE",
        `Stream ended inside a frame header: ${missing} of ${HEADER_SIZE} bytes missing`,
      );
    }
    if (this.#remaining > 0) {
      throw new DockerProtocolError(
        "PREMATURE_CLOSE",
        `Stream ended inside a ${this.#stream} frame: ${this.#remaining} of ${this.#size} bytes missing`,
      );
    }
  }

  /**
   * Reads the header at `header[at]` and starts its frame with the payload
   * bytes of `input` from `i`.
   *
   * @returns The offset in `input` after what was consumed.
   */
  #startFrame(header: Uint8Array, at: number, input: Uint8Array, i: number, out: Frame[]): number {
    const type = header[at]!;
    if (type > 3 || (header[at + 1]! | header[at + 2]! | header[at + 3]!) !== 0) {
      throw (this.#failure = invalidHeader(header, at));
    }
    const size = header[at + 4]! * 0x1000000 +
      ((header[at + 5]! << 16) | (header[at + 6]! << 8) | header[at + 7]!);
    if (size === 0) return i;
    this.#stream = STREAMS[type]!;
    this.#size = size;
    this.#remaining = size;
    return this.#continueFrame(input, i, out);
  }

  /**
   * Feeds payload bytes of `input` from `i` to the frame in progress.
   *
   * @returns The offset in `input` after what was consumed.
   */
  #continueFrame(input: Uint8Array, i: number, out: Frame[]): number {
    const available = input.length - i;
    if (available === 0) return i;
    const remaining = this.#remaining;
    const take = available < remaining ? available : remaining;
    const part = input.subarray(i, i + take);
    this.#remaining = remaining - take;
    const joined = this.#joined;
    if (joined !== null) {
      this.#joinPart(joined, part, out);
    } else if (this.#assembly !== null) {
      this.#assemble(part, out);
    } else if (take === remaining || this.#size > this.#maxFrameSize) {
      // All of the payload is here (nothing came before), or the frame is
      // too large to assemble: pass the view on.
      out.push({ stream: this.#stream, data: part });
    } else if (this.#stableInput) {
      // First bytes of a split frame, in memory nothing overwrites: hold
      // the view and see whether the rest follows it in the same buffer.
      this.#joined = part;
    } else {
      this.#startAssembly(part);
    }
    return i + take;
  }

  /**
   * Adds `part` to the held view `joined` of a split frame: still one view
   * when `part` follows it in the same buffer, else the start of an
   * assembly copy.
   */
  #joinPart(joined: Uint8Array, part: Uint8Array, out: Frame[]): void {
    if (joined.length === 0) {
      // Never empty when held, so its buffer was detached: the caller
      // transferred a buffer it had pushed. The frame's first bytes are
      // gone, and a frame short of them must not come out.
      throw (this.#failure = new DockerError(
        `A ${this.#stream} frame's first bytes are gone: their buffer was transferred while the frame was incomplete (post a copy of a frame's bytes, not its buffer)`,
      ));
    }
    const end = joined.byteOffset + joined.length;
    if (part.buffer !== joined.buffer || part.byteOffset !== end) {
      this.#joined = null;
      this.#startAssembly(joined);
      this.#assemble(part, out);
      return;
    }
    const grown = new Uint8Array(joined.buffer, joined.byteOffset, joined.length + part.length);
    if (this.#remaining > 0) {
      this.#joined = grown;
      return;
    }
    this.#joined = null;
    out.push({ stream: this.#stream, data: grown });
  }

  /** Starts assembling a split frame: one allocation of exactly its size, `first` at its start. */
  #startAssembly(first: Uint8Array): void {
    const buffer = new Uint8Array(this.#size);
    buffer.set(first, 0);
    this.#assembly = buffer;
  }

  /** Copies `part` into the assembly buffer; emits the frame once it is full. */
  #assemble(part: Uint8Array, out: Frame[]): void {
    const assembly = this.#assembly!;
    assembly.set(part, this.#size - this.#remaining - part.length);
    if (this.#remaining === 0) {
      this.#assembly = null;
      out.push({ stream: this.#stream, data: assembly });
    }
  }
}

/**
 * Demultiplexes a byte stream (logs, attach or exec output of a container
 * without a TTY) into frames, pull-based: the source is read only as the
 * frames are read.
 *
 * @param body The multiplexed byte stream.
 * @param options Assembly limit.
 * @returns The frames. Cancelling it cancels `body`; errors of `body` come
 *   through unchanged.
 * @throws {RangeError} When `options.maxFrameSize` is invalid. Decoding
 *   errors (`DockerProtocolError` `INVALID_FRAME`, `PREMATURE_CLOSE`) are
 *   raised by the returned stream, after the frames decoded before them.
 *
 * @example Demux an in-memory stream
 * ```ts
 * import assert from "node:assert/strict";
 * import { demuxStream } from "@berth/docker";
 *
 * const body = ReadableStream.from([new Uint8Array([2, 0, 0, 0, 0, 0, 0, 2, 111, 107])]);
 * const streams: string[] = [];
 * for await (const frame of demuxStream(body)) streams.push(frame.stream);
 * assert.deepEqual(streams, ["stderr"]);
 * ```
 */
export function demuxStream(
  body: ReadableStream<Uint8Array>,
  options?: FrameDecoderOptions,
): ReadableStream<Frame> {
  const decoder = new FrameDecoder(options);
  return decodedStream<Frame>(
    body,
    (input, out) => decoder.push(input, out),
    () => decoder.finish(),
  );
}

/**
 * Passes a raw byte stream (the output of a container with a TTY) through
 * as stdout frames, pull-based. Empty pieces are skipped.
 *
 * @param body The raw byte stream.
 * @returns One stdout frame per non-empty piece, its `data` the piece
 *   itself. Cancelling it cancels `body`.
 *
 * @example Wrap raw output
 * ```ts
 * import assert from "node:assert/strict";
 * import { rawStream } from "@berth/docker";
 *
 * const body = ReadableStream.from([new TextEncoder().encode("$ ")]);
 * for await (const frame of rawStream(body)) assert.equal(frame.stream, "stdout");
 * ```
 */
export function rawStream(body: ReadableStream<Uint8Array>): ReadableStream<Frame> {
  return decodedStream<Frame>(body, (data, out) => {
    if (data.length > 0) out.push({ stream: "stdout", data });
  }, () => {});
}

/** Options of {@linkcode collectFrames}. */
export interface CollectFramesOptions {
  /**
   * Most bytes of stdout and stderr together to hold; past it the frame
   * stream is cancelled and the call fails. @default unlimited
   */
  maxBytes?: number;
  /** What is being read, for the limit's message (`the output of container "web"`). */
  what?: string;
}

/**
 * Reads frames to the end and joins the bytes of each stream (stdin frames
 * are ignored).
 *
 * @param frames Frames, such as `docker.containers.logs(id)`.
 * @param options `maxBytes`, to bound the memory held.
 * @returns All stdout bytes and all stderr bytes, each in one new array of
 *   exactly its length.
 * @throws {DockerStreamError} When a system-error frame arrives; its text is
 *   the message, and the frame stream is cancelled.
 * @throws {DockerOutputLimitError} When stdout and stderr together exceed
 *   `maxBytes`; the frame stream is cancelled.
 *
 * @example Collect output
 * ```ts
 * import assert from "node:assert/strict";
 * import { collectFrames, type Frame } from "@berth/docker";
 *
 * const encoder = new TextEncoder();
 * const frames: Frame[] = [
 *   { stream: "stdout", data: encoder.encode("a") },
 *   { stream: "stderr", data: encoder.encode("b") },
 *   { stream: "stdout", data: encoder.encode("c") },
 * ];
 * const { stdout, stderr } = await collectFrames(ReadableStream.from(frames));
 * assert.equal(new TextDecoder().decode(stdout), "ac");
 * assert.equal(new TextDecoder().decode(stderr), "b");
 * ```
 */
export async function collectFrames(
  frames: ReadableStream<Frame> | AsyncIterable<Frame>,
  options: CollectFramesOptions = {},
): Promise<{ stdout: Uint8Array; stderr: Uint8Array }> {
  const limit = options.maxBytes ?? Infinity;
  if (!(limit >= 0)) throw new RangeError(`maxBytes must be 0 or more (got ${limit})`);
  const stdout: Uint8Array[] = [];
  const stderr: Uint8Array[] = [];
  let total = 0;
  for await (const frame of frames) {
    if (frame.stream === "stdout" || frame.stream === "stderr") {
      total += frame.data.length;
      // Leaving the loop cancels the stream (and so its connection).
      if (total > limit) throw outputLimitError(limit, options.what);
      (frame.stream === "stdout" ? stdout : stderr).push(frame.data);
    } else if (frame.stream === "system") {
      const message = new TextDecoder().decode(frame.data).trimEnd();
      throw new DockerStreamError(message || "Engine sent an empty system-error frame");
    }
  }
  return { stdout: join(stdout), stderr: join(stderr) };
}

function outputLimitError(limit: number, what = "the output"): DockerOutputLimitError {
  return new DockerOutputLimitError(
    `Cannot hold ${what} in memory: it exceeds ${limit} bytes (maxOutput); ` +
      "raise the limit, or read the output as a stream",
    limit,
  );
}

/** Joins parts into one new array of exactly their total length. */
function join(parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}
