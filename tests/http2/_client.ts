/**
 * The in-memory HTTP/2 client the serveHttp2 tests and the BuildKit session
 * tests share: frame builders, the constants of RFC 9113, and a fake duplex
 * that queues what the client sends and parses what the server writes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { encodeHeaderBlock, HpackDecoder } from "../../src/http2/hpack.ts";
import {
  type Http2Duplex,
  type Http2Handler,
  type Http2Server,
  type Http2ServerOptions,
  serveHttp2,
} from "../../src/http2/server.ts";

/** A header list: name and value pairs, in order. */
export type Fields = [string, string][];

/** Encodes a string as UTF-8. */
export const utf8 = new TextEncoder();
/** Decodes UTF-8 bytes to a string. */
export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
/** The client connection preface (RFC 9113 §3.4). */
export const PREFACE = utf8.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

// Frame types (RFC 9113 §6).
/** Frame type DATA. */
export const DATA = 0x0;
/** Frame type HEADERS. */
export const HEADERS = 0x1;
/** Frame type PRIORITY. */
export const PRIORITY = 0x2;
/** Frame type RST_STREAM. */
export const RST_STREAM = 0x3;
/** Frame type SETTINGS. */
export const SETTINGS = 0x4;
/** Frame type PUSH_PROMISE. */
export const PUSH_PROMISE = 0x5;
/** Frame type PING. */
export const PING = 0x6;
/** Frame type GOAWAY. */
export const GOAWAY = 0x7;
/** Frame type WINDOW_UPDATE. */
export const WINDOW_UPDATE = 0x8;
/** Frame type CONTINUATION. */
export const CONTINUATION = 0x9;

// Flags.
/** Flag END_STREAM, on DATA and HEADERS. */
export const END_STREAM = 0x1;
/** Flag ACK, on SETTINGS and PING. */
export const ACK = 0x1;
/** Flag END_HEADERS, on HEADERS, PUSH_PROMISE and CONTINUATION. */
export const END_HEADERS = 0x4;
/** Flag PADDED, on DATA, HEADERS and PUSH_PROMISE. */
export const PADDED = 0x8;
/** Flag PRIORITY, on HEADERS. */
export const PRIORITY_FLAG = 0x20;

// Error codes (RFC 9113 §7).
/** Error code NO_ERROR. */
export const NO_ERROR = 0x0;
/** Error code PROTOCOL_ERROR. */
export const PROTOCOL_ERROR = 0x1;
/** Error code INTERNAL_ERROR. */
export const INTERNAL_ERROR = 0x2;
/** Error code FLOW_CONTROL_ERROR. */
export const FLOW_CONTROL_ERROR = 0x3;
/** Error code STREAM_CLOSED. */
export const STREAM_CLOSED = 0x5;
/** Error code FRAME_SIZE_ERROR. */
export const FRAME_SIZE_ERROR = 0x6;
/** Error code REFUSED_STREAM. */
export const REFUSED_STREAM = 0x7;
/** Error code CANCEL. */
export const CANCEL = 0x8;
/** Error code COMPRESSION_ERROR. */
export const COMPRESSION_ERROR = 0x9;

// Settings (RFC 9113 §6.5.2).
/** Setting SETTINGS_HEADER_TABLE_SIZE. */
export const SETTINGS_HEADER_TABLE_SIZE = 0x1;
/** Setting SETTINGS_ENABLE_PUSH. */
export const SETTINGS_ENABLE_PUSH = 0x2;
/** Setting SETTINGS_MAX_CONCURRENT_STREAMS. */
export const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
/** Setting SETTINGS_INITIAL_WINDOW_SIZE. */
export const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
/** Setting SETTINGS_MAX_FRAME_SIZE. */
export const SETTINGS_MAX_FRAME_SIZE = 0x5;
/** Setting SETTINGS_MAX_HEADER_LIST_SIZE. */
export const SETTINGS_MAX_HEADER_LIST_SIZE = 0x6;

/** The parts joined into one array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** The values as consecutive 4-byte big-endian integers. */
export function u32(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((value, i) => view.setUint32(i * 4, value));
  return out;
}

/** A frame: the 9-byte header (length, type, flags, stream id), then the payload. */
export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  out[0] = payload.length >>> 16;
  out[1] = (payload.length >>> 8) & 0xff;
  out[2] = payload.length & 0xff;
  out[3] = type;
  out[4] = flags;
  new DataView(out.buffer).setUint32(5, streamId);
  out.set(payload, 9);
  return out;
}

/** A SETTINGS frame (not an ACK) with the given identifier and value pairs. */
export function settingsFrame(entries: [number, number][] = []): Uint8Array {
  const payload = new Uint8Array(entries.length * 6);
  const view = new DataView(payload.buffer);
  entries.forEach(([id, value], i) => {
    view.setUint16(i * 6, id);
    view.setUint32(i * 6 + 2, value);
  });
  return frame(SETTINGS, 0, 0, payload);
}

/** The identifier and value pairs of a SETTINGS payload. */
export function parseSettings(payload: Uint8Array): Map<number, number> {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
  const out = new Map<number, number>();
  for (let at = 0; at + 6 <= payload.length; at += 6) {
    out.set(view.getUint16(at), view.getUint32(at + 2));
  }
  return out;
}

/** A request's pseudo-header fields for `path`, then `extra`. */
export function requestFields(path: string, method = "POST", extra: Fields = []): Fields {
  return [
    [":method", method],
    [":scheme", "http"],
    [":path", path],
    [":authority", "localhost"],
    ...extra,
  ];
}

/** A HEADERS frame with the fields HPACK-encoded; by default it ends headers and stream. */
export function headersFrame(
  streamId: number,
  fields: Fields,
  flags: number = END_HEADERS | END_STREAM,
): Uint8Array {
  return frame(HEADERS, flags, streamId, encodeHeaderBlock(fields));
}

/** A whole request without a body: one HEADERS frame with END_STREAM. */
export function request(streamId: number, path = "/", method = "POST"): Uint8Array {
  return headersFrame(streamId, requestFields(path, method));
}

/** A DATA frame with the bytes, or the string as UTF-8. */
export function dataFrame(streamId: number, bytes: Uint8Array | string, flags = 0): Uint8Array {
  return frame(DATA, flags, streamId, typeof bytes === "string" ? utf8.encode(bytes) : bytes);
}

/** A DATA frame with the PADDED flag and `padding` zero octets after the data. */
export function paddedData(
  streamId: number,
  bytes: Uint8Array | string,
  padding: number,
  flags = 0,
): Uint8Array {
  const data = typeof bytes === "string" ? utf8.encode(bytes) : bytes;
  return frame(
    DATA,
    flags | PADDED,
    streamId,
    concat(Uint8Array.of(padding), data, new Uint8Array(padding)),
  );
}

/** A WINDOW_UPDATE frame for the stream (0: the connection). */
export function windowUpdate(streamId: number, increment: number): Uint8Array {
  return frame(WINDOW_UPDATE, 0, streamId, u32(increment));
}

/** `length` bytes of a fixed pattern that repeats every 251 bytes. */
export function bytesOf(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 7 + 3) % 251);
}

/** A frame the server wrote. */
export interface Frame {
  /** The frame type. */
  type: number;
  /** The flags. */
  flags: number;
  /** The stream id, without the reserved bit. */
  streamId: number;
  /** The payload, padding and all. */
  payload: Uint8Array;
  /** For HEADERS: the decoded header block, once its END_HEADERS arrived. */
  fields?: Fields;
}

/** What the server wrote on one stream. */
export interface StreamView {
  /** Every frame on the stream, in order. */
  frames: Frame[];
  /** The first header block. */
  headers: Fields | undefined;
  /** The DATA frames. */
  data: Frame[];
  /** The DATA payloads joined. */
  body: Uint8Array;
  /** The second header block. */
  trailers: Fields | undefined;
  /** END_STREAM was seen. */
  ended: boolean;
  /** The RST_STREAM error code, if the server reset the stream. */
  reset: number | undefined;
}

/**
 * The client end of an in-memory connection: what `send` queues is what the
 * server reads next (one `send`, one read); what the server writes is parsed
 * into `frames`, header blocks decoded with the connection's HPACK decoder.
 */
export class FakeClient implements Http2Duplex {
  /** Every frame the server wrote, in order. */
  readonly frames: Frame[] = [];
  /** Whether the server closed the connection. */
  closed = false;
  /** How often the server read. */
  reads = 0;
  readonly #inbound: (Uint8Array | Error | null)[] = [];
  #reader: PromiseWithResolvers<Uint8Array | null> | undefined;
  #unparsed: Uint8Array = new Uint8Array(0);
  readonly #decoder = new HpackDecoder();
  #block: { frame: Frame; parts: Uint8Array[] } | undefined;
  #wakers: (() => void)[] = [];
  #pings = 0;

  /** The server's read: the next thing queued, or a wait for it. */
  read(): Promise<Uint8Array | null> {
    this.reads++;
    if (this.closed) return Promise.resolve(null);
    const next = this.#inbound.shift();
    if (next === undefined) {
      this.#reader = Promise.withResolvers();
      return this.#reader.promise;
    }
    return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
  }

  /** The server's write: parsed into `frames`. */
  write(bytes: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error("write after close"));
    this.#unparsed = concat(this.#unparsed, bytes);
    this.#parse();
    this.#wake();
    return Promise.resolve();
  }

  /** The server's close: a pending read returns `null`. */
  close(): void {
    this.closed = true;
    const reader = this.#reader;
    this.#reader = undefined;
    reader?.resolve(null);
    this.#wake();
  }

  /** Queues the parts, joined, as the server's next read. */
  send(...parts: Uint8Array[]): void {
    this.#deliver(concat(...parts));
  }

  /** Queues every byte as a read of its own. */
  sendBytewise(bytes: Uint8Array): void {
    for (const byte of bytes) this.#deliver(Uint8Array.of(byte));
  }

  /** Ends the stream: the server's next read returns `null`. */
  end(): void {
    this.#deliver(null);
  }

  /** Makes the server's next read throw. */
  fail(error: Error): void {
    this.#deliver(error);
  }

  /** Waits until `find` returns something, re-checking after every write of the server. */
  async until<T>(find: () => T | undefined, what: string): Promise<T> {
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      if (this.closed) throw new Error(`the server closed the connection before ${what}`);
      await new Promise<void>((resolve) => this.#wakers.push(resolve));
    }
  }

  /** Waits for the first frame (from index `from`) that `match` accepts. */
  frame(match: (frame: Frame) => boolean, what: string, from = 0): Promise<Frame> {
    return this.until(() => this.frames.slice(from).find(match), what);
  }

  /**
   * A PING round trip: once its ACK is back, the server has handled every
   * frame sent before it and written whatever that made it write at once.
   */
  async sync(): Promise<void> {
    const payload = concat(utf8.encode("sync"), u32(++this.#pings));
    this.send(frame(PING, 0, 0, payload));
    await this.frame(
      (f) => f.type === PING && f.flags === ACK && text(f.payload) === text(payload),
      "the sync PING ACK",
    );
  }

  /** What the server wrote on the stream so far. */
  stream(id: number): StreamView {
    const view: StreamView = {
      frames: [],
      headers: undefined,
      data: [],
      body: new Uint8Array(0),
      trailers: undefined,
      ended: false,
      reset: undefined,
    };
    for (const f of this.frames) {
      if (f.streamId !== id) continue;
      view.frames.push(f);
      if (f.type === HEADERS) {
        if (view.headers === undefined) view.headers = f.fields;
        else view.trailers = f.fields;
      } else if (f.type === DATA) {
        view.data.push(f);
      } else if (f.type === RST_STREAM) {
        view.reset = new DataView(f.payload.buffer).getUint32(0);
      }
      // A HEADERS frame ends the stream once its block is complete (its CONTINUATIONs came).
      const complete = f.type === DATA || (f.type === HEADERS && f.fields !== undefined);
      if (complete && f.flags & END_STREAM) view.ended = true;
    }
    view.body = concat(...view.data.map((f) => f.payload));
    return view;
  }

  /** Waits until the server ended or reset the stream. */
  response(id: number): Promise<StreamView> {
    return this.until(() => {
      const view = this.stream(id);
      return view.ended || view.reset !== undefined ? view : undefined;
    }, `the response on stream ${id}`);
  }

  /** Waits until the server wrote `length` bytes of DATA on the stream. */
  bodyLength(id: number, length: number): Promise<number> {
    return this.until(() => {
      const got = this.stream(id).body.length;
      return got >= length ? got : undefined;
    }, `${length} bytes on stream ${id}`);
  }

  /** The server's GOAWAY, if it sent one. */
  goaway(): { lastStreamId: number; code: number } | undefined {
    const f = this.frames.find((f) => f.type === GOAWAY);
    if (f === undefined) return undefined;
    const view = new DataView(f.payload.buffer);
    return { lastStreamId: view.getUint32(0) & 0x7fffffff, code: view.getUint32(4) };
  }

  /** Increments of the server's WINDOW_UPDATE frames for the stream (0: the connection). */
  windowUpdates(streamId: number): number[] {
    return this.frames
      .filter((f) => f.type === WINDOW_UPDATE && f.streamId === streamId)
      .map((f) => new DataView(f.payload.buffer).getUint32(0));
  }

  #deliver(item: Uint8Array | Error | null): void {
    const reader = this.#reader;
    if (reader === undefined) {
      this.#inbound.push(item);
      return;
    }
    this.#reader = undefined;
    if (item instanceof Error) reader.reject(item);
    else reader.resolve(item);
  }

  #parse(): void {
    const bytes = this.#unparsed;
    let at = 0;
    while (bytes.length - at >= 9) {
      const length = (bytes[at]! << 16) | (bytes[at + 1]! << 8) | bytes[at + 2]!;
      if (bytes.length - at < 9 + length) break;
      const f: Frame = {
        type: bytes[at + 3]!,
        flags: bytes[at + 4]!,
        streamId: new DataView(bytes.buffer, bytes.byteOffset + at + 5, 4).getUint32(0) &
          0x7fffffff,
        payload: bytes.slice(at + 9, at + 9 + length),
      };
      at += 9 + length;
      this.frames.push(f);
      if (f.type === HEADERS) this.#block = { frame: f, parts: [f.payload] };
      else if (f.type === CONTINUATION) this.#block?.parts.push(f.payload);
      else continue;
      if (f.flags & END_HEADERS && this.#block) {
        this.#block.frame.fields = this.#decoder.decode(concat(...this.#block.parts));
        this.#block = undefined;
      }
    }
    this.#unparsed = bytes.slice(at);
  }

  #wake(): void {
    for (const wake of this.#wakers.splice(0)) wake();
  }
}

/** Starts serveHttp2 on a new FakeClient; nothing is sent yet. */
export function start(
  handler: Http2Handler = () => ({}),
  options?: Http2ServerOptions,
): { client: FakeClient; server: Http2Server } {
  const client = new FakeClient();
  const server = serveHttp2(client, handler, options);
  return { client, server };
}

/** Starts a server, sends the preface and SETTINGS, and waits for the SETTINGS ACK. */
export async function connect(
  handler: Http2Handler = () => ({}),
  options?: Http2ServerOptions,
  settings: [number, number][] = [],
): Promise<{ client: FakeClient; server: Http2Server }> {
  const { client, server } = start(handler, options);
  client.send(PREFACE, settingsFrame(settings));
  await client.frame((f) => f.type === SETTINGS && f.flags === ACK, "the SETTINGS ACK");
  return { client, server };
}

/** Closes the server and waits for it to end. */
export async function stop(client: FakeClient, server: Http2Server): Promise<void> {
  server.close();
  await server.done;
  assert.equal(client.closed, true);
}
