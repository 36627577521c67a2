/**
 * Per-stream state of berth's HTTP/2 server: a stream's record, the header
 * block gathered from HEADERS and CONTINUATION frames, a unary request's
 * body joined, and the ids of the streams reset here.
 *
 * @module
 */

import type { Inbound } from "./_buffers.ts";
import { Code, ConnectionError, type StreamError } from "./_server_protocol.ts";

/**
 * Least number of streams reset here whose ids are kept, so that HEADERS the
 * peer sent before it saw a reset are dropped instead of breaking the
 * connection (RFC 9113 §5.1, "closed"). A peer that keeps to
 * SETTINGS_MAX_CONCURRENT_STREAMS holds at most that many streams open, and
 * only on those can it still be sending: this is ten times the default, and
 * `maxConcurrentStreams` is kept when larger. Past it the oldest id is
 * forgotten, and a HEADERS on it is then a connection error STREAM_CLOSED,
 * as on any closed stream, which §5.1 allows.
 */
export const REMEMBERED_RESETS = 1000;

/** A header block being gathered from HEADERS and CONTINUATION frames. */
export interface HeaderBlock {
  id: number;
  /** The fragments so far, joined, in `bytes[0, size)`; grown by doubling. */
  bytes: Uint8Array;
  size: number;
  endStream: boolean;
  /** Why the stream is reset once the block is decoded, if it is. */
  malformed: StreamError | undefined;
  /** The stream was reset here: the block is decoded, then dropped. */
  discard: boolean;
}

export interface Stream {
  id: number;
  headers: [string, string][] | undefined;
  body: Uint8Array[];
  bodyLength: number;
  /** The peer sent END_STREAM. */
  remoteEnded: boolean;
  /** Reset by either side, or fully answered. */
  closed: boolean;
  /** How much we may still send on it. */
  sendWindow: number;
  /** Set for a streamed request: where its DATA goes. */
  inbound: Inbound | undefined;
  /** Bytes read (or, unary, received) and not yet given back to its window. */
  owed: number;
  /** How much more the peer may send on it: its window as we see it. */
  receiveWindow: number;
  /** Its unary handler is running. */
  handling: boolean;
}

/** A stream the peer's HEADERS just opened, with nothing received or sent yet. */
export function openStream(
  id: number,
  headers: [string, string][],
  sendWindow: number,
  receiveWindow: number,
): Stream {
  return {
    id,
    headers,
    body: [],
    bodyLength: 0,
    remoteEnded: false,
    closed: false,
    sendWindow,
    inbound: undefined,
    owed: 0,
    receiveWindow,
    handling: false,
  };
}

/**
 * Adds a CONTINUATION frame's fragment to `block`.
 *
 * @param limit Most bytes the joined block may hold.
 * @throws {ConnectionError} `PROTOCOL_ERROR` past `limit`.
 */
export function appendFragment(block: HeaderBlock, fragment: Uint8Array, limit: number): void {
  const size = block.size + fragment.length;
  if (size > limit) {
    throw new ConnectionError(Code.ProtocolError, "a header block too large");
  }
  // Joined as they come, not kept as a list: a list grows with every
  // frame, and endless empty CONTINUATION frames would grow it forever.
  if (size > block.bytes.length) {
    const grown = new Uint8Array(Math.max(block.bytes.length * 2, size));
    grown.set(block.bytes.subarray(0, block.size));
    block.bytes = grown;
  }
  block.bytes.set(fragment, block.size);
  block.size = size;
}

/** A unary stream's body, its DATA payloads joined; the stream lets go of them. */
export function takeBody(stream: Stream): Uint8Array {
  const body = new Uint8Array(stream.bodyLength);
  let offset = 0;
  for (const part of stream.body) {
    body.set(part, offset);
    offset += part.length;
  }
  stream.body = [];
  return body;
}

/** The ids of the streams reset here, oldest first (see {@linkcode REMEMBERED_RESETS}). */
export class ResetStreams {
  readonly #ids = new Set<number>();
  readonly #kept: number;

  /** @param maxStreams The connection's `maxConcurrentStreams`. */
  constructor(maxStreams: number) {
    this.#kept = Math.max(REMEMBERED_RESETS, maxStreams);
  }

  /** Remembers a reset stream, forgetting the oldest one past the number kept. */
  add(streamId: number): void {
    this.#ids.add(streamId);
    if (this.#ids.size > this.#kept) {
      const [oldest] = this.#ids;
      this.#ids.delete(oldest!);
    }
  }

  /** Whether the stream was reset here and is still remembered. */
  has(streamId: number): boolean {
    return this.#ids.has(streamId);
  }
}
