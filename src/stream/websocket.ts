/**
 * WebSocket (RFC 6455) client framing over a connection that was already
 * upgraded, as for `GET /containers/{id}/attach/ws`. The HTTP handshake is
 * the caller's: {@linkcode webSocketKey} makes the `Sec-WebSocket-Key` and
 * {@linkcode webSocketAccept} the `Sec-WebSocket-Accept` to expect; then
 * {@linkcode webSocketSession} speaks frames over the raw bytes.
 *
 * Client frames are masked with a fresh random key each; server frames must
 * not be. Fragmented messages are joined (up to `maxMessageSize`), pings are
 * answered, pongs ignored, and the close handshake is followed. No
 * extensions or subprotocols are negotiated, so any reserved bit is an
 * error.
 *
 * @module
 */

import { DockerError, DockerProtocolError, DockerStreamError } from "../errors.ts";

/**
 * A raw, already-upgraded byte connection (a berth `Connection` fits).
 *
 * `read` must not reuse the memory of bytes it returned before (a message
 * that lies in one read, or in reads that follow each other in one buffer,
 * is passed on as a view of them), and `close` must make a pending `read`
 * resolve `null` or reject.
 */
export interface ByteDuplex {
  /** Next bytes received, or `null` at end of stream. */
  read(): Promise<Uint8Array | null>;
  /** Sends all of `bytes`; resolves once they are handed to the socket. */
  write(bytes: Uint8Array): Promise<void>;
  /** Closes the connection; safe to call more than once. */
  close(): void;
}

/** One message received from the server. */
export interface WebSocketMessage {
  /**
   * The frame type the server chose. Docker sends container output as text
   * frames whatever the bytes, so text data is not checked to be UTF-8.
   */
  type: "text" | "binary";
  /** The message's bytes. */
  data: Uint8Array;
}

/** Options of {@linkcode webSocketSession}. */
export interface WebSocketSessionOptions {
  /** Largest message (all fragments together) accepted, in bytes. @default 16777216 */
  maxMessageSize?: number;
}

/** A WebSocket client session returned by {@linkcode webSocketSession}. */
export interface WebSocketSession {
  /**
   * Messages from the server. Ends when the server's close frame arrives
   * (with code 1000, 1001 or none; other codes error it with a
   * {@linkcode DockerStreamError}), or after {@linkcode WebSocketSession.close}.
   * Cancelling it closes the session.
   */
  readable: ReadableStream<WebSocketMessage>;
  /**
   * Messages to the server, one frame each: strings as text frames, bytes
   * as binary frames. Closing it sends a close frame (code 1000) while
   * `readable` goes on until the server's close frame, which makes it a
   * half-close: Docker treats it as end of stdin and keeps sending output.
   * Aborting it closes the session.
   */
  writable: WritableStream<Uint8Array | string>;
  /**
   * Sends a close frame (unless one was sent, or a write is stuck in
   * progress) and closes the connection at once; `readable` ends and
   * `writable` errors. Never rejects for I/O failures; safe to call more
   * than once and unbound (`const { close } = session` works).
   */
  close(code?: number, reason?: string): Promise<void>;
}

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const EMPTY = new Uint8Array(0);
/** Payloads up to this size go out in one write with their header. */
const WRITE_PIECE = 64 * 1024;
/**
 * What a received message's views may keep alive beyond twice its bytes
 * before it is copied into a buffer of its own (see {@linkcode MessageBuffer}):
 * about one large read.
 */
const HELD_SLACK = 64 * 1024;
/** Counted per view a message keeps besides its buffer: roughly what a view object costs. */
const VIEW_COST = 256;
/** Smallest buffer of its own a received message is copied into. */
const MIN_OWN_BUFFER = 4 * 1024;

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

function base64(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text);
}

/**
 * Makes a `Sec-WebSocket-Key` for the upgrade request: 16 random bytes,
 * base64-encoded.
 *
 * @returns A new 24-character key.
 *
 * @example Make a key
 * ```ts
 * import { webSocketKey } from "./websocket.ts";
 *
 * const key = webSocketKey();
 * console.log(key.length); // 24
 * ```
 */
export function webSocketKey(): string {
  return base64(crypto.getRandomValues(new Uint8Array(16)));
}

/**
 * Computes the `Sec-WebSocket-Accept` a server must answer for `key`:
 * base64 of the SHA-1 of the key and the RFC 6455 GUID.
 *
 * @param key The `Sec-WebSocket-Key` that was sent.
 * @returns The expected `Sec-WebSocket-Accept` value.
 *
 * @example The RFC 6455 sample
 * ```ts
 * import { webSocketAccept } from "./websocket.ts";
 *
 * console.log(await webSocketAccept("dGhlIHNhbXBsZSBub25jZQ==")); // "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
 * ```
 */
export async function webSocketAccept(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(key + GUID));
  return base64(new Uint8Array(digest));
}

/**
 * Checks the handshake's answer.
 *
 * @param accept The `Sec-WebSocket-Accept` the server sent (`null` when none).
 * @param expected What {@linkcode webSocketAccept} computed for the key sent.
 * @param action What was being done, for the message (`attach to container "web" …`).
 * @throws {DockerProtocolError} `INVALID_HEADER` when they differ.
 */
export function checkWebSocketAccept(
  accept: string | null,
  expected: string,
  action: string,
): void {
  if (accept === expected) return;
  throw new DockerProtocolError(
    "INVALID_HEADER",
    `Cannot ${action}: the engine answered Sec-WebSocket-Accept ${
      JSON.stringify(accept)
    }, which does not match the key sent`,
  );
}

function frameError(message: string): DockerProtocolError {
  return new DockerProtocolError("INVALID_WEBSOCKET_FRAME", message);
}

/** Close codes a peer may send (RFC 6455 §7.4, IANA registry). */
function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
}

interface FrameHeader {
  fin: boolean;
  opcode: number;
  length: number;
}

/**
 * Reads frames from the duplex: header and control payload bytes copied
 * when split, data payloads handed out piece by piece as views of the reads.
 */
class FrameReader {
  readonly #duplex: ByteDuplex;
  #chunk: Uint8Array = EMPTY;
  #eof = false;

  constructor(duplex: ByteDuplex) {
    this.#duplex = duplex;
  }

  async #fill(): Promise<boolean> {
    while (this.#chunk.length === 0) {
      if (this.#eof) return false;
      const bytes = await this.#duplex.read();
      if (bytes === null) {
        this.#eof = true;
        return false;
      }
      this.#chunk = bytes;
    }
    return true;
  }

  /** Exactly `n` bytes; `null` when the stream ended before the first one (if `boundary`). */
  async take(n: number, what: string, boundary = false): Promise<Uint8Array | null> {
    if (n === 0) return EMPTY;
    if (!(await this.#fill())) {
      if (boundary) return null;
      throw new DockerProtocolError(
        "PREMATURE_CLOSE",
        `WebSocket connection ended inside a frame's ${what}`,
      );
    }
    if (this.#chunk.length >= n) {
      const out = this.#chunk.subarray(0, n);
      this.#chunk = this.#chunk.subarray(n);
      return out;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      if (!(await this.#fill())) {
        throw new DockerProtocolError(
          "PREMATURE_CLOSE",
          `WebSocket connection ended inside a frame's ${what} (${filled} of ${n} bytes)`,
        );
      }
      const take = Math.min(n - filled, this.#chunk.length);
      out.set(this.#chunk.subarray(0, take), filled);
      this.#chunk = this.#chunk.subarray(take);
      filled += take;
    }
    return out;
  }

  /**
   * Up to `max` bytes (at least one) of the current read, as a view, reading
   * when it is used up; `null` at end of stream.
   */
  async piece(max: number): Promise<Uint8Array | null> {
    if (!(await this.#fill())) return null;
    const out = this.#chunk.subarray(0, max);
    this.#chunk = this.#chunk.subarray(out.length);
    return out;
  }

  /** The next frame header, or `null` at a clean end of stream. */
  async header(): Promise<FrameHeader | null> {
    const head = await this.take(2, "header", true);
    if (head === null) return null;
    const b0 = head[0]!;
    const b1 = head[1]!;
    if (b0 & 0x70) throw frameError(`WebSocket frame has reserved bits set (0x${b0.toString(16)})`);
    if (b1 & 0x80) throw frameError("WebSocket server sent a masked frame");
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    let length = b1 & 0x7f;
    if (length === 126) {
      const ext = (await this.take(2, "length"))!;
      length = (ext[0]! << 8) | ext[1]!;
    } else if (length === 127) {
      const ext = (await this.take(8, "length"))!;
      const high = ((ext[0]! << 24) | (ext[1]! << 16) | (ext[2]! << 8) | ext[3]!) >>> 0;
      const low = ((ext[4]! << 24) | (ext[5]! << 16) | (ext[6]! << 8) | ext[7]!) >>> 0;
      if (high & 0x80000000) {
        throw frameError("WebSocket frame length has its most significant bit set");
      }
      length = high * 2 ** 32 + low;
    }
    if (opcode >= 0x8) {
      if (opcode !== OP_CLOSE && opcode !== OP_PING && opcode !== OP_PONG) {
        throw frameError(`WebSocket frame has reserved control opcode 0x${opcode.toString(16)}`);
      }
      if (!fin) throw frameError("WebSocket control frame is fragmented");
      if (length > 125) {
        throw frameError(`WebSocket control frame is ${length} bytes (at most 125)`);
      }
    } else if (opcode > OP_BINARY) {
      throw frameError(`WebSocket frame has reserved data opcode 0x${opcode.toString(16)}`);
    }
    return { fin, opcode, length };
  }
}

/**
 * The payload of the message being received, collected as its pieces
 * arrive, so that memory follows the bytes received and never the lengths
 * that frames declare (a peer may declare 16 MiB and send 10 bytes).
 *
 * Pieces are kept as views of the reads they came in: a message in one
 * piece is that view (no copy); a piece that continues the last one in the
 * same buffer widens it (no copy); other pieces are joined once, at the end
 * (one copy). A view keeps its whole buffer alive, though, so once the
 * buffers held by the views after the first, plus {@linkcode VIEW_COST}
 * each, come to more than twice the bytes collected plus
 * {@linkcode HELD_SLACK} (small reads landing in large buffers, many tiny
 * fragments), the bytes move to a buffer of the message's own, which then
 * doubles as needed up to the message's known end. Either way the memory
 * held stays under twice the bytes received plus `HELD_SLACK`, besides the
 * buffer of the first piece.
 */
class MessageBuffer {
  #pieces: Uint8Array[] = [];
  /** The message's own buffer, once the views held too much; `#length` bytes are filled. */
  #own: Uint8Array | null = null;
  #length = 0;
  /** What the views after the first keep alive: their buffers (each counted once) and VIEW_COST each. */
  #held = 0;

  /** Bytes collected. */
  get length(): number {
    return this.#length;
  }

  /** Memory held: the own buffer, or the first view's buffer and what the others keep alive. */
  get heldBytes(): number {
    if (this.#own !== null) return this.#own.length;
    const first = this.#pieces[0];
    return first === undefined ? 0 : first.buffer.byteLength + this.#held;
  }

  /**
   * Adds the next piece (not to be modified later).
   *
   * @param piece Bytes of the payload, in order.
   * @param limit The most the message can come to: its end when the frame
   *   is the last, else `maxMessageSize`.
   */
  add(piece: Uint8Array, limit: number): void {
    const end = this.#length + piece.length;
    let own = this.#own;
    if (own !== null) {
      if (end > own.length) {
        const grown = new Uint8Array(ownCapacity(end, limit));
        grown.set(own.subarray(0, this.#length));
        own = this.#own = grown;
      }
      own.set(piece, this.#length);
      this.#length = end;
      return;
    }
    const pieces = this.#pieces;
    const last = pieces[pieces.length - 1];
    this.#length = end;
    if (last === undefined) {
      pieces.push(piece);
      return;
    }
    if (last.buffer === piece.buffer && last.byteOffset + last.length === piece.byteOffset) {
      pieces[pieces.length - 1] = new Uint8Array(
        last.buffer,
        last.byteOffset,
        last.length + piece.length,
      );
      return;
    }
    pieces.push(piece);
    this.#held += VIEW_COST + (piece.buffer === last.buffer ? 0 : piece.buffer.byteLength);
    if (this.#held <= 2 * end + HELD_SLACK) return;
    this.#own = joinInto(new Uint8Array(ownCapacity(end, limit)), pieces);
    this.#pieces = [];
    this.#held = 0;
  }

  /** The message's bytes: the one view, the views joined, or the own buffer. */
  finish(): Uint8Array {
    const length = this.#length;
    const own = this.#own;
    if (own !== null) return own.length === length ? own : own.subarray(0, length);
    const pieces = this.#pieces;
    if (pieces.length === 0) return new Uint8Array(0);
    if (pieces.length === 1) return pieces[0]!;
    return joinInto(new Uint8Array(length), pieces);
  }
}

/** Copies `pieces` one after the other to the start of `out`, and returns it. */
function joinInto(out: Uint8Array, pieces: readonly Uint8Array[]): Uint8Array {
  let offset = 0;
  for (const part of pieces) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Capacity of a message's own buffer that must hold `needed` bytes: double, within `limit`. */
function ownCapacity(needed: number, limit: number): number {
  return Math.min(limit, Math.max(2 * needed, MIN_OWN_BUFFER));
}

function closePayload(code: number, reason: string): Uint8Array {
  const text = new TextEncoder().encode(reason);
  const out = new Uint8Array(2 + text.length);
  out[0] = code >> 8;
  out[1] = code & 0xff;
  out.set(text, 2);
  return out;
}

/** One session's state; {@linkcode webSocketSession} exposes its parts. */
class Session {
  readonly #duplex: ByteDuplex;
  readonly #reader: FrameReader;
  readonly #maxMessageSize: number;
  #writeChain: Promise<void> = Promise.resolve();
  #writing = 0;
  #closeSent = false;
  #closed = false;
  /** Set by {@linkcode Session.close}: read failures after it are the close, not errors. */
  #closedLocally = false;
  #pulling = false;
  #readableDone = false;
  #readableController: ReadableStreamDefaultController<WebSocketMessage> | null = null;
  #writableController: WritableStreamDefaultController | null = null;
  /** The message being received, while a pull is reading one. */
  #message: MessageBuffer | null = null;
  readonly readable: ReadableStream<WebSocketMessage>;
  readonly writable: WritableStream<Uint8Array | string>;

  constructor(duplex: ByteDuplex, maxMessageSize: number) {
    this.#duplex = duplex;
    this.#reader = new FrameReader(duplex);
    this.#maxMessageSize = maxMessageSize;
    this.readable = new ReadableStream<WebSocketMessage>({
      start: (controller) => {
        this.#readableController = controller;
      },
      pull: async (controller) => {
        this.#pulling = true;
        try {
          const message = await this.#nextMessage();
          if (this.#readableDone) return;
          if (message) {
            controller.enqueue(message);
          } else {
            this.#readableDone = true;
            controller.close();
          }
        } catch (error) {
          if (this.#readableDone) return;
          this.#readableDone = true;
          if (this.#closedLocally) {
            // Our own close interrupted the read.
            controller.close();
            return;
          }
          const failure = error instanceof DockerError || error instanceof TypeError
            ? error
            : new DockerError(
              `WebSocket read failed: ${error instanceof Error ? error.message : error}`,
              { cause: error },
            );
          await this.#fail(failure);
          controller.error(failure);
        } finally {
          this.#pulling = false;
          this.#message = null;
        }
      },
      cancel: async () => {
        this.#readableDone = true;
        await this.close();
      },
    }, { highWaterMark: 0 });
    this.writable = new WritableStream<Uint8Array | string>({
      start: (controller) => {
        this.#writableController = controller;
      },
      write: async (chunk) => {
        if (this.#closeSent || this.#closed) throw new DockerError("WebSocket session is closed");
        if (typeof chunk === "string") await this.#send(OP_TEXT, new TextEncoder().encode(chunk));
        else if (chunk instanceof Uint8Array) await this.#send(OP_BINARY, chunk);
        else throw new TypeError("A WebSocket message must be a string or a Uint8Array");
      },
      close: async () => {
        if (this.#closeSent || this.#closed) return;
        this.#closeSent = true;
        await this.#send(OP_CLOSE, closePayload(1000, "")).catch(() => {});
      },
      abort: async () => {
        await this.close();
      },
    });
  }

  /** Memory held by the message being received (see {@linkcode webSocketHeldBytes}). */
  get heldBytes(): number {
    return this.#message?.heldBytes ?? 0;
  }

  /** Reads frames until a whole message, answering control frames; `null` at the end. */
  async #nextMessage(): Promise<WebSocketMessage | null> {
    const message = this.#message = new MessageBuffer();
    let type: WebSocketMessage["type"] | null = null;
    while (true) {
      const header = await this.#reader.header();
      if (header === null) {
        if (this.#closeSent) return null;
        throw new DockerProtocolError(
          "PREMATURE_CLOSE",
          type === null
            ? "WebSocket connection ended without a close frame"
            : "WebSocket connection ended inside a fragmented message",
        );
      }
      const { fin, opcode, length } = header;
      if (opcode >= 0x8) {
        const payload = (await this.#reader.take(length, "payload"))!;
        if (opcode === OP_PING) {
          if (!this.#closeSent) await this.#send(OP_PONG, payload).catch(() => {});
          continue;
        }
        if (opcode === OP_PONG) continue;
        return this.#onClose(payload);
      }
      if (opcode === OP_CONTINUATION) {
        if (type === null) {
          throw frameError("WebSocket continuation frame without a message to continue");
        }
      } else {
        if (type !== null) throw frameError("WebSocket data frame inside a fragmented message");
        type = opcode === OP_TEXT ? "text" : "binary";
      }
      const total = message.length;
      if (total + length > this.#maxMessageSize) {
        throw new DockerProtocolError(
          "WEBSOCKET_MESSAGE_TOO_LARGE",
          `WebSocket message is over maxMessageSize (${this.#maxMessageSize} bytes)`,
        );
      }
      // The payload goes in as it arrives: nothing is sized by `length` itself.
      const limit = fin ? total + length : this.#maxMessageSize;
      for (let left = length; left > 0;) {
        const piece = await this.#reader.piece(left);
        if (piece === null) {
          throw new DockerProtocolError(
            "PREMATURE_CLOSE",
            left === length
              ? "WebSocket connection ended inside a frame's payload"
              : `WebSocket connection ended inside a frame's payload (${
                length - left
              } of ${length} bytes)`,
          );
        }
        message.add(piece, limit);
        left -= piece.length;
      }
      if (fin) return { type, data: message.finish() };
    }
  }

  /** Handles the server's close frame: replies, closes, ends or errors the readable. */
  async #onClose(payload: Uint8Array): Promise<null> {
    let code = 1005;
    let reason = "";
    if (payload.length === 1) throw frameError("WebSocket close frame has a 1-byte payload");
    if (payload.length >= 2) {
      code = (payload[0]! << 8) | payload[1]!;
      if (!isValidCloseCode(code)) {
        throw frameError(`WebSocket close frame has invalid code ${code}`);
      }
      reason = new TextDecoder().decode(payload.subarray(2));
    }
    if (!this.#closeSent) {
      this.#closeSent = true;
      // Echo the code, unless a write is stuck: then just close.
      if (this.#writing === 0) {
        await this.#send(OP_CLOSE, code === 1005 ? EMPTY : closePayload(code, "")).catch(() => {});
      }
    }
    this.#shutdown();
    if (code !== 1000 && code !== 1001 && code !== 1005) {
      throw new DockerStreamError(
        `WebSocket closed by the engine with code ${code}${reason ? `: ${reason}` : ""}`,
        { code, message: reason },
      );
    }
    return null;
  }

  /** Sends one masked frame; frames never interleave. */
  #send(opcode: number, payload: Uint8Array): Promise<void> {
    this.#writing++;
    const run = this.#writeChain.then(() => this.#writeFrame(opcode, payload));
    this.#writeChain = run.catch(() => {});
    return run.finally(() => this.#writing--);
  }

  async #writeFrame(opcode: number, payload: Uint8Array): Promise<void> {
    if (this.#closed) throw new DockerError("WebSocket session is closed");
    const length = payload.length;
    const extra = length < 126 ? 0 : length < 65536 ? 2 : 8;
    const headerLength = 2 + extra + 4;
    const first = Math.min(length, WRITE_PIECE);
    const out = new Uint8Array(headerLength + first);
    out[0] = 0x80 | opcode;
    if (extra === 0) {
      out[1] = 0x80 | length;
    } else if (extra === 2) {
      out[1] = 0x80 | 126;
      out[2] = length >> 8;
      out[3] = length & 0xff;
    } else {
      out[1] = 0x80 | 127;
      const high = Math.floor(length / 2 ** 32);
      out[2] = high >>> 24;
      out[3] = (high >>> 16) & 0xff;
      out[4] = (high >>> 8) & 0xff;
      out[5] = high & 0xff;
      out[6] = length >>> 24;
      out[7] = (length >>> 16) & 0xff;
      out[8] = (length >>> 8) & 0xff;
      out[9] = length & 0xff;
    }
    const key = crypto.getRandomValues(new Uint8Array(4));
    out.set(key, headerLength - 4);
    for (let i = 0; i < first; i++) out[headerLength + i] = payload[i]! ^ key[i & 3]!;
    try {
      await this.#duplex.write(out);
      // WRITE_PIECE is a multiple of 4, so the key index restarts at 0 each piece.
      for (let offset = first; offset < length; offset += WRITE_PIECE) {
        const piece = payload.subarray(offset, offset + WRITE_PIECE);
        const masked = new Uint8Array(piece.length);
        for (let i = 0; i < piece.length; i++) masked[i] = piece[i]! ^ key[i & 3]!;
        await this.#duplex.write(masked);
      }
    } catch (error) {
      if (error instanceof DockerError) throw error;
      throw new DockerError(
        `WebSocket write failed: ${error instanceof Error ? error.message : error}`,
        {
          cause: error,
        },
      );
    }
  }

  /** On a protocol error: best-effort close frame with the matching code, then shut down. */
  async #fail(error: unknown): Promise<void> {
    if (
      !this.#closeSent && error instanceof DockerProtocolError && error.code !== "PREMATURE_CLOSE"
    ) {
      this.#closeSent = true;
      const code = error.code === "WEBSOCKET_MESSAGE_TOO_LARGE" ? 1009 : 1002;
      if (this.#writing === 0) await this.#send(OP_CLOSE, closePayload(code, "")).catch(() => {});
    }
    this.#closeSent = true;
    this.#shutdown();
  }

  /** Closes the connection; errors the writable; ends the readable unless a read is in flight. */
  #shutdown(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#duplex.close();
    } catch {
      // A duplex that throws on close is closed enough.
    }
    try {
      this.#writableController?.error(new DockerError("WebSocket session is closed"));
    } catch {
      // Already closed or errored.
    }
    if (!this.#pulling && !this.#readableDone) {
      this.#readableDone = true;
      try {
        this.#readableController?.close();
      } catch {
        // Already closed.
      }
    }
  }

  close = async (code = 1000, reason = ""): Promise<void> => {
    if (!isValidCloseCode(code) || (code >= 1004 && code <= 1006) || code === 1015) {
      throw new RangeError(`WebSocket close code ${code} cannot be sent`);
    }
    const payload = closePayload(code, reason);
    if (payload.length > 125) throw new RangeError("WebSocket close reason is over 123 bytes");
    if (this.#closed) return;
    this.#closedLocally = true;
    if (!this.#closeSent) {
      this.#closeSent = true;
      if (this.#writing === 0) await this.#send(OP_CLOSE, payload).catch(() => {});
    }
    this.#shutdown();
  };
}

/** The session behind each handle {@linkcode webSocketSession} returned. */
const sessions = new WeakMap<WebSocketSession, Session>();

/**
 * Runs a WebSocket client session over an upgraded connection.
 *
 * Reading is pull-based: the connection is read only while `readable` is
 * being read, so a slow consumer slows the server down. Memory is bounded by
 * one read plus the message being assembled (at most `maxMessageSize`),
 * which grows with the bytes received, not with the lengths frames declare.
 * Writes go out one frame per chunk, masked, never interleaved with pongs or
 * close frames.
 *
 * @param duplex The upgraded connection (leftover bytes read after the 101
 *   response must come first from its `read`).
 * @param options Message size limit.
 * @returns `readable`, `writable` and `close`.
 * @throws {RangeError} At once, when `maxMessageSize` is not a positive integer.
 * @throws {DockerProtocolError} Through `readable`: `INVALID_WEBSOCKET_FRAME`
 *   for a masked server frame, reserved bits or opcodes, a malformed
 *   control or continuation frame; `WEBSOCKET_MESSAGE_TOO_LARGE` past
 *   `maxMessageSize`; `PREMATURE_CLOSE` when the connection ends without a
 *   close frame. A close frame is sent (1002 or 1009) and the connection
 *   closed first.
 * @throws {DockerStreamError} Through `readable`, when the server closes with
 *   a code other than 1000, 1001 or none.
 *
 * @example Read a message and answer the close handshake
 * ```ts
 * import { type ByteDuplex, webSocketSession } from "./websocket.ts";
 *
 * // A server that sends the text "hi", then a close frame with code 1000.
 * const incoming = [new Uint8Array([0x81, 2, 104, 105, 0x88, 2, 0x03, 0xe8])];
 * const sent: Uint8Array[] = [];
 * const duplex: ByteDuplex = {
 *   read: () => Promise.resolve(incoming.shift() ?? null),
 *   write: (bytes) => Promise.resolve(void sent.push(bytes.slice())),
 *   close: () => {},
 * };
 * const session = webSocketSession(duplex);
 * for await (const message of session.readable) {
 *   console.log(message.type, new TextDecoder().decode(message.data)); // text hi
 * }
 * console.log(sent[0]![0] === 0x88); // true: our close reply
 * ```
 */
export function webSocketSession(
  duplex: ByteDuplex,
  options: WebSocketSessionOptions = {},
): WebSocketSession {
  const maxMessageSize = options.maxMessageSize ?? 16 * 1024 * 1024;
  if (!Number.isSafeInteger(maxMessageSize) || maxMessageSize <= 0) {
    throw new RangeError(
      `webSocketSession: maxMessageSize must be a positive integer (got ${maxMessageSize})`,
    );
  }
  const session = new Session(duplex, maxMessageSize);
  const handle = { readable: session.readable, writable: session.writable, close: session.close };
  sessions.set(handle, session);
  return handle;
}

/**
 * Bytes of memory held for the message `session` is receiving: the buffer
 * it is copied into, or the read buffers its views keep alive (an
 * estimate: each buffer counted once, plus a small cost per view). `0`
 * between messages. For tests (mod.ts does not export it): it stays at most
 * twice the payload bytes received plus 64 KiB, besides the read buffer
 * the message began in, whatever length the frames declare.
 *
 * @param session A session from {@linkcode webSocketSession}.
 * @returns The bytes held.
 * @throws {TypeError} When `session` did not come from {@linkcode webSocketSession}.
 *
 * @example Between messages nothing is held
 * ```ts
 * import { webSocketHeldBytes, webSocketSession } from "./websocket.ts";
 *
 * const session = webSocketSession({
 *   read: () => Promise.resolve(null),
 *   write: () => Promise.resolve(),
 *   close: () => {},
 * });
 * console.log(webSocketHeldBytes(session)); // 0
 * await session.close();
 * ```
 */
export function webSocketHeldBytes(session: WebSocketSession): number {
  const state = sessions.get(session);
  if (state === undefined) throw new TypeError("Not a session from webSocketSession");
  return state.heldBytes;
}
