/**
 * Docker's multiplexed stream format (logs, attach and exec of containers
 * without a TTY): each frame is an 8-byte header `[stream, 0, 0, 0, size
 * (uint32 big-endian)]` and `size` payload bytes. Stream 0 is stdin, 1
 * stdout, 2 stderr, 3 system errors.
 *
 * Frames that lie inside one input piece come out as views (no copy);
 * frames split across pieces are assembled once, up to `maxFrameSize`,
 * and larger ones are passed on in parts so memory stays bounded.
 *
 * @module
 */

import { DockerProtocolError, DockerStreamError } from "../errors.ts";

/** Which stream a frame belongs to. */
export type StreamName = "stdin" | "stdout" | "stderr" | "system";

/** One piece of container output. */
export interface Frame {
  /** The stream it was written to. */
  stream: StreamName;
  /** The bytes (a view into a read buffer; copy it to keep it long). */
  data: Uint8Array;
}

/** Options of {@linkcode FrameDecoder}. */
export interface FrameDecoderOptions {
  /**
   * Largest frame assembled into one {@linkcode Frame} when it arrives
   * split; larger frames are emitted in parts. @default 1048576
   */
  maxFrameSize?: number;
}

const STREAMS: readonly StreamName[] = ["stdin", "stdout", "stderr", "system"];

/**
 * Decodes multiplexed frames from pieces split anywhere.
 *
 * @example Decode two frames
 * ```ts
 * import { FrameDecoder, type Frame } from "./demux.ts";
 *
 * const bytes = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 2, 104, 105, 2, 0, 0, 0, 0, 0, 0, 1, 33]);
 * const frames: Frame[] = [];
 * const decoder = new FrameDecoder();
 * decoder.push(bytes.subarray(0, 5), frames);
 * decoder.push(bytes.subarray(5), frames);
 * decoder.finish();
 * console.log(frames.map((f) => `${f.stream}:${new TextDecoder().decode(f.data)}`)); // ["stdout:hi", "stderr:!"]
 * ```
 */
export class FrameDecoder {
  readonly #maxFrameSize: number;
  readonly #header = new Uint8Array(8);
  #headerLength = 0;
  #inFrame = false;
  #stream: StreamName = "stdout";
  #remaining = 0;
  #assembly: Uint8Array | null = null;
  #filled = 0;

  /** @param options Assembly limit. */
  constructor(options: FrameDecoderOptions = {}) {
    this.#maxFrameSize = options.maxFrameSize ?? 1_048_576;
  }

  /**
   * Decodes the next piece.
   *
   * @param input Bytes of the stream.
   * @param out Receives complete frames (or parts of frames over `maxFrameSize`).
   * @throws {DockerProtocolError} `INVALID_FRAME` when a header is not a
   *   Docker frame header (the stream is probably a raw TTY stream).
   */
  push(input: Uint8Array, out: Frame[]): void {
    const length = input.length;
    let i = 0;
    while (i < length) {
      if (!this.#inFrame) {
        let size: number;
        if (this.#headerLength === 0 && length - i >= 8) {
          size = this.#readHeader(input, i);
          i += 8;
        } else {
          const take = Math.min(8 - this.#headerLength, length - i);
          this.#header.set(input.subarray(i, i + take), this.#headerLength);
          this.#headerLength += take;
          i += take;
          if (this.#headerLength < 8) return;
          this.#headerLength = 0;
          size = this.#readHeader(this.#header, 0);
        }
        if (size === 0) continue;
        if (length - i >= size) {
          out.push({ stream: this.#stream, data: input.subarray(i, i + size) });
          i += size;
          continue;
        }
        this.#inFrame = true;
        this.#remaining = size;
        this.#assembly = size <= this.#maxFrameSize ? new Uint8Array(size) : null;
        this.#filled = 0;
      }
      const take = Math.min(this.#remaining, length - i);
      const part = input.subarray(i, i + take);
      i += take;
      this.#remaining -= take;
      const assembly = this.#assembly;
      if (assembly) {
        assembly.set(part, this.#filled);
        this.#filled += take;
        if (this.#remaining === 0) out.push({ stream: this.#stream, data: assembly });
      } else {
        out.push({ stream: this.#stream, data: part });
      }
      if (this.#remaining === 0) {
        this.#inFrame = false;
        this.#assembly = null;
      }
    }
  }

  /**
   * Checks that the stream ended between frames.
   *
   * @throws {DockerProtocolError} `PREMATURE_CLOSE` when it ended inside a
   *   header or a frame.
   */
  finish(): void {
    if (this.#headerLength > 0) {
      throw new DockerProtocolError(
        "PREMATURE_CLOSE",
        `Stream ended inside a frame header (${this.#headerLength} of 8 bytes)`,
      );
    }
    if (this.#inFrame) {
      throw new DockerProtocolError(
        "PREMATURE_CLOSE",
        `Stream ended inside a ${this.#stream} frame with ${this.#remaining} bytes missing`,
      );
    }
  }

  #readHeader(bytes: Uint8Array, at: number): number {
    const type = bytes[at]!;
    if (type > 3 || bytes[at + 1] !== 0 || bytes[at + 2] !== 0 || bytes[at + 3] !== 0) {
      const shown = Array.from(bytes.subarray(at, at + 8), (b) => b.toString(16).padStart(2, "0")).join(" ");
      throw new DockerProtocolError(
        "INVALID_FRAME",
        `Invalid multiplexed frame header [${shown}]: the stream is probably raw (a TTY session)`,
      );
    }
    this.#stream = STREAMS[type]!;
    return ((bytes[at + 4]! << 24) | (bytes[at + 5]! << 16) | (bytes[at + 6]! << 8) | bytes[at + 7]!) >>> 0;
  }
}

/**
 * Wraps a byte stream in a pull-based stream of items decoded by `push`.
 * The source is read only when the consumer reads; cancelling cancels it.
 */
function decodedStream<T>(
  body: ReadableStream<Uint8Array>,
  push: (input: Uint8Array, out: T[]) => void,
  finish: (out: T[]) => void,
): ReadableStream<T> {
  const reader = body.getReader();
  return new ReadableStream<T>({
    pull: async (controller) => {
      const out: T[] = [];
      while (out.length === 0) {
        const { done, value } = await reader.read();
        if (done) {
          finish(out);
          for (const item of out) controller.enqueue(item);
          controller.close();
          return;
        }
        push(value, out);
      }
      for (const item of out) controller.enqueue(item);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

/**
 * Demultiplexes a byte stream into frames.
 *
 * @param body A multiplexed byte stream.
 * @param options Assembly limit.
 * @returns The frames; cancelling it cancels `body`.
 *
 * @example Demux an in-memory stream
 * ```ts
 * import { demuxStream } from "./demux.ts";
 *
 * const body = ReadableStream.from([new Uint8Array([2, 0, 0, 0, 0, 0, 0, 2, 111, 107])]);
 * for await (const frame of demuxStream(body)) console.log(frame.stream, frame.data.length); // stderr 2
 * ```
 */
export function demuxStream(body: ReadableStream<Uint8Array>, options?: FrameDecoderOptions): ReadableStream<Frame> {
  const decoder = new FrameDecoder(options);
  return decodedStream<Frame>(body, (input, out) => decoder.push(input, out), () => decoder.finish());
}

/**
 * Passes a raw (TTY) byte stream through as stdout frames.
 *
 * @param body The raw stream.
 * @returns One stdout frame per piece.
 *
 * @example Wrap raw output
 * ```ts
 * import { rawStream } from "./demux.ts";
 *
 * const body = ReadableStream.from([new TextEncoder().encode("$ ")]);
 * for await (const frame of rawStream(body)) console.log(frame.stream); // stdout
 * ```
 */
export function rawStream(body: ReadableStream<Uint8Array>): ReadableStream<Frame> {
  return decodedStream<Frame>(body, (data, out) => void out.push({ stream: "stdout", data }), () => {});
}

/**
 * Reads frames to the end and joins them per stream.
 *
 * @param frames Frames, such as `docker.containers.logs(id)`.
 * @returns All stdout bytes and all stderr bytes.
 * @throws {DockerStreamError} When a system-error frame arrives.
 *
 * @example Collect output
 * ```ts
 * import { collectFrames, type Frame } from "./demux.ts";
 *
 * const frames: Frame[] = [
 *   { stream: "stdout", data: new TextEncoder().encode("a") },
 *   { stream: "stderr", data: new TextEncoder().encode("b") },
 *   { stream: "stdout", data: new TextEncoder().encode("c") },
 * ];
 * const { stdout, stderr } = await collectFrames(ReadableStream.from(frames));
 * console.log(new TextDecoder().decode(stdout), new TextDecoder().decode(stderr)); // "ac" "b"
 * ```
 */
export async function collectFrames(
  frames: ReadableStream<Frame> | AsyncIterable<Frame>,
): Promise<{ stdout: Uint8Array; stderr: Uint8Array }> {
  const parts: Record<"stdout" | "stderr", Uint8Array[]> = { stdout: [], stderr: [] };
  for await (const frame of frames) {
    if (frame.stream === "system") throw new DockerStreamError(new TextDecoder().decode(frame.data));
    if (frame.stream === "stdout" || frame.stream === "stderr") parts[frame.stream].push(frame.data);
  }
  return { stdout: join(parts.stdout), stderr: join(parts.stderr) };
}

function join(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
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
