/**
 * The byte-level pieces of berth's HTTP/2 server: frames out, the inbox
 * frames are cut from, and the body of a streamed request.
 *
 * @module
 */

/** Size of a frame header (RFC 9113 §4.1). */
export const FRAME_HEADER = 9;

/**
 * The body of a streamed request: DATA payloads wait here until read, and
 * each read gives its bytes back to the stream window.
 */
export class Inbound {
  /** The body as the handler reads it. */
  readonly body: ReadableStream<Uint8Array>;
  readonly #aborter = new AbortController();
  readonly #queue: Uint8Array[] = [];
  #ended = false;
  #failure: Error | undefined;
  #waiting: (() => void) | undefined;

  /**
   * Makes an empty body.
   *
   * @param consumed Called with the size of each piece read.
   */
  constructor(consumed: (size: number) => void) {
    this.body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        while (this.#queue.length === 0 && !this.#ended && !this.#failure) {
          await new Promise<void>((resolve) => this.#waiting = resolve);
        }
        const piece = this.#queue.shift();
        if (piece !== undefined) {
          controller.enqueue(piece);
          consumed(piece.length);
        } else if (this.#failure) controller.error(this.#failure);
        else controller.close();
      },
      cancel: () => {
        this.#queue.length = 0;
        this.#ended = true;
      },
    }, { highWaterMark: 0 });
  }

  /** Aborted when the body fails (reset, connection gone). */
  get signal(): AbortSignal {
    return this.#aborter.signal;
  }

  /** Queues a DATA payload for the reader (dropped once the body ended). */
  push(piece: Uint8Array): void {
    if (this.#ended || this.#failure) return;
    this.#queue.push(piece);
    this.#wake();
  }

  /** The peer sent END_STREAM: the body closes once its queue is read. */
  end(): void {
    this.#ended = true;
    this.#wake();
  }

  /** Ends the body with an error, unless it already ended whole. */
  fail(error: Error): void {
    if (this.#ended || this.#failure) return;
    this.#failure = error;
    this.#aborter.abort(error);
    this.#wake();
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
  }
}

/** A frame: the 9-byte header (length, type, flags, stream id), then `payload`. */
export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER + payload.length);
  out[0] = payload.length >>> 16;
  out[1] = (payload.length >>> 8) & 0xff;
  out[2] = payload.length & 0xff;
  out[3] = type;
  out[4] = flags;
  new DataView(out.buffer).setUint32(5, streamId);
  out.set(payload, FRAME_HEADER);
  return out;
}

/** The values as consecutive 4-byte big-endian integers. */
export function u32(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((value, i) => view.setUint32(i * 4, value));
  return out;
}

/** Grows as bytes arrive; frames are taken off the front. */
export class Inbox {
  #bytes = new Uint8Array(32 * 1024);
  #start = 0;
  #end = 0;

  /** Bytes waiting. */
  get length(): number {
    return this.#end - this.#start;
  }

  /** Appends what a read brought. */
  push(piece: Uint8Array): void {
    if (this.#end + piece.length > this.#bytes.length) {
      const length = this.length;
      if (length + piece.length > this.#bytes.length) {
        const grown = new Uint8Array(Math.max(this.#bytes.length * 2, length + piece.length));
        grown.set(this.#bytes.subarray(this.#start, this.#end));
        this.#bytes = grown;
      } else {
        this.#bytes.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = length;
    }
    this.#bytes.set(piece, this.#end);
    this.#end += piece.length;
  }

  /** The byte `offset` bytes from the front. */
  peek(offset: number): number {
    return this.#bytes[this.#start + offset]!;
  }

  /** Takes `count` bytes off the front, as a copy. */
  take(count: number): Uint8Array {
    const out = this.#bytes.slice(this.#start, this.#start + count);
    this.#start += count;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return out;
  }
}
