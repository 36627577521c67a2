/**
 * The server side of one HTTP/2 connection (RFC 9113), as small as the
 * BuildKit session needs: the engine opens the connection's HTTP/2 side as
 * a client and calls gRPC methods berth serves (registry credentials,
 * secrets, health checks, SSH agent forwarding, build outputs). A request
 * is either read whole and handed to a handler (unary calls), or, when
 * `streaming` claims its path, served as it arrives: its body is a stream
 * whose flow control follows the reader, and the answer is written piece by
 * piece (streaming calls). Answers are sent within the peer's windows.
 *
 * Supported: the connection preface, SETTINGS, PING, WINDOW_UPDATE (both
 * ways), HEADERS with CONTINUATION and padding, DATA, RST_STREAM, GOAWAY;
 * PRIORITY and unknown frame types are ignored. Malformed requests (RFC
 * 9113 §8.1.1: bad field names or values, connection-specific fields,
 * pseudo-header fields missing, repeated, unknown or misplaced) are reset
 * with PROTOCOL_ERROR. Not supported (not needed here): server push, the
 * `h2c` upgrade dance (the session starts with the client preface), CONNECT
 * (it lacks `:path`, so it is malformed here), request trailers beyond
 * being read and checked.
 *
 * @module
 */

import { DockerProtocolError } from "../errors.ts";
import { encodeHeaderBlock, HpackDecoder } from "./hpack.ts";
import { frame, FRAME_HEADER, Inbound, Inbox, u32 } from "./_buffers.ts";
import { fieldValue, malformedFields } from "./_fields.ts";
import type {
  Http2Duplex,
  Http2Exchange,
  Http2Handler,
  Http2Request,
  Http2Response,
  Http2Server,
  Http2ServerOptions,
  Http2StreamHandler,
} from "./types.ts";

export type * from "./types.ts";

const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const DEFAULT_FRAME_SIZE = 16_384;
const DEFAULT_WINDOW = 65_535;
const MAX_WINDOW = 2 ** 31 - 1;
/** Least window given back at once (a quarter of the default window). */
const WINDOW_REFRESH = 16 * 1024;

const enum Type {
  Data = 0,
  Headers = 1,
  Priority = 2,
  RstStream = 3,
  Settings = 4,
  PushPromise = 5,
  Ping = 6,
  Goaway = 7,
  WindowUpdate = 8,
  Continuation = 9,
}

const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;

const enum Code {
  NoError = 0,
  ProtocolError = 1,
  InternalError = 2,
  FlowControlError = 3,
  StreamClosed = 5,
  FrameSizeError = 6,
  RefusedStream = 7,
  Cancel = 8,
  CompressionError = 9,
  EnhanceYourCalm = 11,
}

/**
 * Most control frames the peer's own frames make us send (PING and
 * SETTINGS acknowledgements, stream resets) waiting to be written: a peer
 * that floods them and never reads would otherwise queue writes without
 * bound. Go's HTTP/2 server draws the same line at 10,000.
 */
const MAX_QUEUED_CONTROL = 10_000;

/** Longest wait for queued frames (a GOAWAY last) before a closing connection is closed anyway. */
const DRAIN_MS = 1000;

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
const REMEMBERED_RESETS = 1000;

const enum Setting {
  HeaderTableSize = 1,
  EnablePush = 2,
  MaxConcurrentStreams = 3,
  InitialWindowSize = 4,
  MaxFrameSize = 5,
  MaxHeaderListSize = 6,
}

/** A connection-level failure: sent as GOAWAY, then thrown. */
class ConnectionError extends Error {
  constructor(readonly code: Code, message: string) {
    super(message);
  }
}

/** A stream-level failure: sent as RST_STREAM; the connection goes on. */
class StreamError extends Error {
  constructor(readonly code: Code, message: string) {
    super(message);
  }
}

/** A header block being gathered from HEADERS and CONTINUATION frames. */
interface HeaderBlock {
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

interface Stream {
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

/**
 * Serves HTTP/2 on a connection whose client has not sent its preface
 * yet: sends the server preface (SETTINGS), reads frames, hands each
 * complete request to `handler` (several may run at once), and sends the
 * answers within the peer's flow-control windows.
 *
 * @param io The connection.
 * @param handler Answers requests.
 * @param options Limits.
 * @returns The running connection.
 * @throws {RangeError} For an `initialWindowSize` that is not an integer
 *   from 1 to 2^29 - 1.
 *
 * @example Answer every request with "ok"
 * ```ts ignore
 * import { serveHttp2 } from "./server.ts";
 * import type { Http2Duplex } from "./server.ts";
 *
 * declare const connection: Http2Duplex;
 * const server = serveHttp2(connection, () => ({ body: new TextEncoder().encode("ok") }));
 * await server.done;
 * ```
 */
export function serveHttp2(
  io: Http2Duplex,
  handler: Http2Handler,
  options: Http2ServerOptions = {},
): Http2Server {
  return new Connection(io, handler, options);
}

class Connection implements Http2Server {
  readonly done: Promise<void>;
  readonly #io: Http2Duplex;
  readonly #handler: Http2Handler;
  readonly #maxBody: number;
  /** Most bytes of unary bodies still being received, all streams together. */
  readonly #maxBuffered: number;
  /** Bytes of unary bodies still being received (their END_STREAM not in yet). */
  #buffered = 0;
  readonly #maxHeaderList: number;
  readonly #maxStreams: number;
  readonly #window: number;
  /** Least a stream's window is given back at once: `WINDOW_REFRESH`, or less for a small window. */
  readonly #refresh: number;
  readonly #streaming: ((path: string) => Http2StreamHandler | undefined) | undefined;
  readonly #decoder = new HpackDecoder();
  readonly #inbox = new Inbox();
  readonly #streams = new Map<number, Stream>();
  /**
   * Handlers still running for streams already reset: they count against
   * `maxConcurrentStreams` until they end, or a peer that opens and resets
   * streams at once would run any number of handlers (rapid reset).
   */
  #orphans = 0;
  /**
   * Ids of the streams reset here, oldest first, at most `#resetsKept` of
   * them (see {@linkcode REMEMBERED_RESETS}).
   */
  readonly #resets = new Set<number>();
  readonly #resetsKept: number;
  /** Control frames queued by {@linkcode Connection.#sendControl} and not yet written. */
  #controlQueued = 0;
  #lastStreamId = 0;
  /** The stream whose header block is still coming in CONTINUATION frames. */
  #continuing: HeaderBlock | undefined;
  #peerFrameSize = DEFAULT_FRAME_SIZE;
  #peerInitialWindow = DEFAULT_WINDOW;
  #sendWindow = DEFAULT_WINDOW;
  /** Bytes received and not yet given back to the connection window. */
  #owed = 0;
  /** Woken when a window opens or the connection ends. */
  #windowWaiters: (() => void)[] = [];
  #writing: Promise<void> = Promise.resolve();
  /** Whether {@linkcode Connection.#shutdown} ran: writes still queued are dropped. */
  #ended = false;
  #closed = false;

  constructor(io: Http2Duplex, handler: Http2Handler, options: Http2ServerOptions) {
    this.#io = io;
    this.#handler = handler;
    this.#maxBody = options.maxRequestBody ?? 4 * 1024 * 1024;
    // Else a peer could hold maxRequestBody in every stream it may open.
    this.#maxBuffered = 4 * this.#maxBody;
    this.#maxHeaderList = options.maxHeaderListSize ?? 64 * 1024;
    this.#maxStreams = options.maxConcurrentStreams ?? 100;
    this.#resetsKept = Math.max(REMEMBERED_RESETS, this.#maxStreams);
    this.#window = options.initialWindowSize ?? DEFAULT_WINDOW;
    const most = Math.floor(MAX_WINDOW / 4); // The connection's window is four of them.
    if (!Number.isSafeInteger(this.#window) || this.#window < 1 || this.#window > most) {
      throw new RangeError(`initialWindowSize must be an integer from 1 to ${most}`);
    }
    // Half the window, when smaller: a peer that spent the whole window still gets it back.
    this.#refresh = Math.min(WINDOW_REFRESH, Math.ceil(this.#window / 2));
    this.#streaming = options.streaming;
    this.done = this.#run();
    this.done.catch(() => {});
  }

  close(): void {
    if (this.#closed) return;
    this.#send(frame(Type.Goaway, 0, 0, u32(this.#lastStreamId, Code.NoError)));
    void this.#drained().then(() => this.#shutdown());
    this.#closed = true;
  }

  #shutdown(): void {
    this.#closed = true;
    if (this.#ended) return;
    this.#ended = true;
    const ended = new DockerProtocolError("INVALID_HTTP2", "The HTTP/2 session ended");
    for (const stream of this.#streams.values()) stream.inbound?.fail(ended);
    for (const wake of this.#windowWaiters.splice(0)) wake();
    try {
      this.#io.close();
    } catch {
      // Already closed.
    }
  }

  async #run(): Promise<void> {
    this.#send(frame(
      Type.Settings,
      0,
      0,
      this.#settingsPayload([
        [Setting.EnablePush, 0],
        [Setting.MaxConcurrentStreams, this.#maxStreams],
        [Setting.MaxHeaderListSize, this.#maxHeaderList],
        ...(this.#window === DEFAULT_WINDOW
          ? []
          : [[Setting.InitialWindowSize, this.#window] as [Setting, number]]),
      ]),
    ));
    // The connection's window starts at the default; only an update widens it.
    if (this.#window > DEFAULT_WINDOW) {
      this.#send(frame(Type.WindowUpdate, 0, 0, u32(4 * this.#window - DEFAULT_WINDOW)));
    }
    try {
      let prefaceSeen = false;
      while (!this.#closed) {
        let piece: Uint8Array | null;
        try {
          piece = await this.#io.read();
        } catch {
          piece = null; // A reset connection ends the session like a close.
        }
        if (piece === null) break;
        this.#inbox.push(piece);
        if (!prefaceSeen) {
          if (this.#inbox.length < PREFACE.length) continue;
          const preface = this.#inbox.take(PREFACE.length);
          if (!preface.every((byte, i) => byte === PREFACE[i])) {
            throw new ConnectionError(Code.ProtocolError, "the client preface is missing");
          }
          prefaceSeen = true;
        }
        this.#frames();
      }
      this.#shutdown();
    } catch (error) {
      if (error instanceof ConnectionError) {
        // A peer that does not read would never let the GOAWAY out: close at once.
        if (error.code !== Code.EnhanceYourCalm) {
          this.#send(frame(Type.Goaway, 0, 0, u32(this.#lastStreamId, error.code)));
          await this.#drained();
        }
        this.#shutdown();
        throw new DockerProtocolError("INVALID_HTTP2", `HTTP/2 session broken: ${error.message}`);
      }
      if (error instanceof DockerProtocolError) {
        // HPACK failures are connection errors (RFC 9113 §4.3).
        this.#send(frame(Type.Goaway, 0, 0, u32(this.#lastStreamId, Code.CompressionError)));
        await this.#drained();
        this.#shutdown();
        throw error;
      }
      const closing = this.#closed;
      this.#shutdown();
      if (closing) return;
      throw error;
    }
  }

  /** A frame that only an opened stream may get, on one never opened: a connection error. */
  #notIdle(streamId: number, what: string): void {
    if (streamId > this.#lastStreamId) {
      throw new ConnectionError(Code.ProtocolError, `${what} on idle stream ${streamId}`);
    }
  }

  /** Handles every complete frame in the inbox. */
  #frames(): void {
    while (this.#inbox.length >= FRAME_HEADER) {
      const length = (this.#inbox.peek(0) << 16) | (this.#inbox.peek(1) << 8) |
        this.#inbox.peek(2);
      if (length > DEFAULT_FRAME_SIZE) {
        throw new ConnectionError(Code.FrameSizeError, `a frame of ${length} bytes`);
      }
      if (this.#inbox.length < FRAME_HEADER + length) return;
      const head = this.#inbox.take(FRAME_HEADER);
      const payload = this.#inbox.take(length);
      const type = head[3]!;
      const flags = head[4]!;
      const streamId = new DataView(head.buffer).getUint32(5) & 0x7fffffff;
      try {
        this.#frame(type, flags, streamId, payload);
      } catch (error) {
        if (!(error instanceof StreamError)) throw error;
        // The peer's frame called for it: counted, as a flood of them could be.
        this.#reset(streamId, error.code, true);
      }
    }
  }

  #frame(type: number, flags: number, streamId: number, payload: Uint8Array): void {
    if (this.#continuing && type !== Type.Continuation) {
      throw new ConnectionError(Code.ProtocolError, "a header block was interrupted");
    }
    switch (type) {
      case Type.Data:
        return this.#data(flags, streamId, payload);
      case Type.Headers:
        return this.#headers(flags, streamId, payload);
      case Type.Continuation:
        return this.#continuation(flags, streamId, payload);
      case Type.Priority:
        if (streamId === 0) throw new ConnectionError(Code.ProtocolError, "PRIORITY on stream 0");
        if (payload.length !== 5) throw new StreamError(Code.FrameSizeError, "a PRIORITY size");
        return;
      case Type.RstStream: {
        if (streamId === 0) throw new ConnectionError(Code.ProtocolError, "RST_STREAM on stream 0");
        if (payload.length !== 4) {
          throw new ConnectionError(Code.FrameSizeError, "a RST_STREAM size");
        }
        this.#notIdle(streamId, "RST_STREAM");
        const stream = this.#streams.get(streamId);
        if (stream) this.#forget(stream);
        return;
      }
      case Type.Settings:
        return this.#settings(flags, streamId, payload);
      case Type.PushPromise:
        throw new ConnectionError(Code.ProtocolError, "a client sent PUSH_PROMISE");
      case Type.Ping:
        if (streamId !== 0) throw new ConnectionError(Code.ProtocolError, "PING on a stream");
        if (payload.length !== 8) throw new ConnectionError(Code.FrameSizeError, "a PING size");
        if (!(flags & ACK)) this.#sendControl(frame(Type.Ping, ACK, 0, payload));
        return;
      case Type.Goaway:
        if (streamId !== 0 || payload.length < 8) {
          throw new ConnectionError(Code.ProtocolError, "a malformed GOAWAY frame");
        }
        return; // The peer closes the connection when it is done.
      case Type.WindowUpdate:
        return this.#windowUpdate(streamId, payload);
      default:
        return; // Unknown frame types are ignored (RFC 9113 §4.1).
    }
  }

  /** The payload without its padding (and, for HEADERS, its priority fields). */
  #unpad(flags: number, payload: Uint8Array, priority: boolean): Uint8Array {
    let start = 0;
    let end = payload.length;
    if (flags & PADDED) {
      if (payload.length < 1) throw new ConnectionError(Code.ProtocolError, "padding overflows");
      end -= payload[0]!;
      start = 1;
    }
    if (priority) start += 5;
    if (end < start) throw new ConnectionError(Code.ProtocolError, "padding overflows the frame");
    return payload.subarray(start, end);
  }

  #headers(flags: number, streamId: number, payload: Uint8Array): void {
    if (streamId === 0 || streamId % 2 === 0) {
      throw new ConnectionError(Code.ProtocolError, `HEADERS on stream ${streamId}`);
    }
    const fragment = this.#unpad(flags, payload, (flags & PRIORITY) !== 0);
    const existing = this.#streams.get(streamId);
    // A stream-level fault found here is raised once the block is decoded:
    // the HPACK table must see every block.
    let malformed: StreamError | undefined;
    let discard = false;
    if (existing === undefined && streamId <= this.#lastStreamId) {
      // Closed. If we reset it, the peer may have sent this before it saw
      // the reset: it is decoded, as the HPACK table is the connection's,
      // and dropped (RFC 9113 §5.1, "closed"). Any other closed stream the
      // peer knew to be closed: it sent END_STREAM (we end ours only after
      // that, else we reset), reset it itself, or skipped its id (§5.1.1).
      // §5.1 lets any frame on those be a connection error STREAM_CLOSED.
      if (!this.#resets.has(streamId)) {
        throw new ConnectionError(Code.StreamClosed, `HEADERS on closed stream ${streamId}`);
      }
      discard = true;
    } else if (existing === undefined) {
      this.#lastStreamId = streamId;
    } else if (existing.remoteEnded) {
      malformed = new StreamError(Code.StreamClosed, `HEADERS on half-closed stream ${streamId}`);
    } else if (!(flags & END_STREAM)) {
      malformed = new StreamError(Code.ProtocolError, "trailers without END_STREAM");
    }
    const block = {
      id: streamId,
      bytes: fragment,
      size: fragment.length,
      endStream: (flags & END_STREAM) !== 0,
      malformed,
      discard,
    };
    if (flags & END_HEADERS) this.#headerBlock(block);
    else this.#continuing = block;
  }

  #continuation(flags: number, streamId: number, payload: Uint8Array): void {
    const block = this.#continuing;
    if (!block || block.id !== streamId) {
      throw new ConnectionError(Code.ProtocolError, "an unexpected CONTINUATION frame");
    }
    const size = block.size + payload.length;
    if (size > this.#maxHeaderList * 2) {
      throw new ConnectionError(Code.ProtocolError, "a header block too large");
    }
    // Joined as they come, not kept as a list: a list grows with every
    // frame, and endless empty CONTINUATION frames would grow it forever.
    if (size > block.bytes.length) {
      const grown = new Uint8Array(Math.max(block.bytes.length * 2, size));
      grown.set(block.bytes.subarray(0, block.size));
      block.bytes = grown;
    }
    block.bytes.set(payload, block.size);
    block.size = size;
    if (flags & END_HEADERS) {
      this.#continuing = undefined;
      this.#headerBlock(block);
    }
  }

  #headerBlock(block: HeaderBlock): void {
    // Decoded even for a stream that will be refused or dropped: the table must stay in step.
    const fields = this.#decoder.decode(block.bytes.subarray(0, block.size), this.#maxHeaderList);
    if (block.discard) return;
    if (block.malformed) throw block.malformed;
    let stream = this.#streams.get(block.id);
    const fault = malformedFields(fields, stream !== undefined);
    if (fault !== undefined) {
      throw new StreamError(
        Code.ProtocolError,
        `a malformed ${stream ? "trailer" : "request"}: ${fault}`,
      );
    }
    if (stream === undefined) {
      if (this.#streams.size + this.#orphans >= this.#maxStreams) {
        throw new StreamError(Code.RefusedStream, "too many streams");
      }
      stream = {
        id: block.id,
        headers: fields,
        body: [],
        bodyLength: 0,
        remoteEnded: false,
        closed: false,
        sendWindow: this.#peerInitialWindow,
        inbound: undefined,
        owed: 0,
        // Until the peer has our SETTINGS it may go by the protocol's default.
        receiveWindow: Math.max(this.#window, DEFAULT_WINDOW),
        handling: false,
      };
      this.#streams.set(block.id, stream);
      const path = fieldValue(fields, ":path");
      const handler = path === undefined ? undefined : this.#streaming?.(path);
      if (handler) this.#startStreamed(stream, handler);
    }
    if (block.endStream) this.#remoteEnd(stream);
  }

  #data(flags: number, streamId: number, payload: Uint8Array): void {
    if (streamId === 0) throw new ConnectionError(Code.ProtocolError, "DATA on stream 0");
    // Every byte counts against the windows, padding included: give it back.
    this.#giveBack(undefined, payload.length);
    this.#notIdle(streamId, "DATA");
    const stream = this.#streams.get(streamId);
    // DATA on a stream already closed (often one reset here while the frame
    // was in flight) is dropped; its bytes went back to the window above.
    if (!stream) return;
    if (stream.remoteEnded) {
      throw new StreamError(Code.StreamClosed, `DATA after END_STREAM on stream ${streamId}`);
    }
    // A peer that ignores the window would otherwise queue an unread body without end.
    stream.receiveWindow -= payload.length;
    if (stream.receiveWindow < 0) {
      throw new StreamError(Code.FlowControlError, `DATA beyond the window of stream ${streamId}`);
    }
    const data = this.#unpad(flags, payload, false);
    if (stream.inbound) {
      // The padding's share of the window comes back now, the data's as it is read.
      if (!(flags & END_STREAM)) this.#giveBack(stream, payload.length - data.length);
      if (data.length > 0) stream.inbound.push(data);
      if (flags & END_STREAM) this.#remoteEnd(stream);
      return;
    }
    if (stream.bodyLength + data.length > this.#maxBody) {
      throw new StreamError(Code.Cancel, "request body too large");
    }
    if (this.#buffered + data.length > this.#maxBuffered) {
      throw new StreamError(Code.RefusedStream, "request bodies over the connection's limit");
    }
    stream.bodyLength += data.length;
    this.#buffered += data.length;
    stream.body.push(data);
    if (flags & END_STREAM) this.#remoteEnd(stream);
    else this.#giveBack(stream, payload.length);
  }

  /**
   * Gives `size` bytes back to the stream's window (the connection's when
   * `stream` is undefined), in WINDOW_UPDATEs of at least `WINDOW_REFRESH`:
   * giving back each small read at once lets the peer send ever smaller
   * frames (measured: 1 frame in 30 carried data, the rest 17–32 bytes).
   */
  #giveBack(stream: Stream | undefined, size: number): void {
    if (stream === undefined) {
      this.#owed += size;
      if (this.#owed < WINDOW_REFRESH) return;
      this.#send(frame(Type.WindowUpdate, 0, 0, u32(this.#owed)));
      this.#owed = 0;
      return;
    }
    stream.owed += size;
    if (stream.owed < this.#refresh || stream.remoteEnded || stream.closed) return;
    this.#send(frame(Type.WindowUpdate, 0, stream.id, u32(stream.owed)));
    stream.receiveWindow += stream.owed;
    stream.owed = 0;
  }

  #settings(flags: number, streamId: number, payload: Uint8Array): void {
    if (streamId !== 0) throw new ConnectionError(Code.ProtocolError, "SETTINGS on a stream");
    if (flags & ACK) {
      if (payload.length !== 0) {
        throw new ConnectionError(Code.FrameSizeError, "a SETTINGS ACK with a payload");
      }
      return;
    }
    if (payload.length % 6 !== 0) {
      throw new ConnectionError(Code.FrameSizeError, "a SETTINGS frame of a partial entry");
    }
    const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
    for (let at = 0; at < payload.length; at += 6) {
      const id = view.getUint16(at);
      const value = view.getUint32(at + 2);
      if (id === Setting.InitialWindowSize) {
        if (value > MAX_WINDOW) {
          throw new ConnectionError(Code.FlowControlError, "window too large");
        }
        const delta = value - this.#peerInitialWindow;
        this.#peerInitialWindow = value;
        for (const stream of this.#streams.values()) {
          stream.sendWindow += delta;
          if (stream.sendWindow > MAX_WINDOW) {
            throw new ConnectionError(Code.FlowControlError, "a stream window overflows");
          }
        }
      } else if (id === Setting.MaxFrameSize) {
        if (value < DEFAULT_FRAME_SIZE || value > 16_777_215) {
          throw new ConnectionError(Code.ProtocolError, `MAX_FRAME_SIZE ${value}`);
        }
        this.#peerFrameSize = value;
      } else if (id === Setting.EnablePush && value > 1) {
        throw new ConnectionError(Code.ProtocolError, `ENABLE_PUSH ${value}`);
      }
      // HEADER_TABLE_SIZE needs nothing: our header blocks never use the dynamic table.
    }
    this.#sendControl(frame(Type.Settings, ACK, 0, new Uint8Array(0)));
    this.#wake();
  }

  #windowUpdate(streamId: number, payload: Uint8Array): void {
    if (payload.length !== 4) {
      throw new ConnectionError(Code.FrameSizeError, "a WINDOW_UPDATE size");
    }
    const increment = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0) & 0x7fffffff;
    if (streamId === 0) {
      if (increment === 0) throw new ConnectionError(Code.ProtocolError, "a zero window increment");
      this.#sendWindow += increment;
      if (this.#sendWindow > MAX_WINDOW) {
        throw new ConnectionError(Code.FlowControlError, "the connection window overflows");
      }
    } else {
      this.#notIdle(streamId, "WINDOW_UPDATE");
      const stream = this.#streams.get(streamId);
      if (increment === 0) throw new StreamError(Code.ProtocolError, "a zero window increment");
      if (stream) {
        stream.sendWindow += increment;
        if (stream.sendWindow > MAX_WINDOW) {
          throw new StreamError(Code.FlowControlError, "the stream window overflows");
        }
      }
    }
    this.#wake();
  }

  #remoteEnd(stream: Stream): void {
    stream.remoteEnded = true;
    if (stream.inbound) {
      stream.inbound.end();
      return;
    }
    this.#buffered -= stream.bodyLength;
    const fields = stream.headers ?? [];
    // Both there: a request without them was reset as it arrived (see malformedFields).
    const method = fieldValue(fields, ":method") ?? "";
    const path = fieldValue(fields, ":path") ?? "";
    const body = new Uint8Array(stream.bodyLength);
    let offset = 0;
    for (const part of stream.body) {
      body.set(part, offset);
      offset += part.length;
    }
    stream.body = [];
    const request: Http2Request = { streamId: stream.id, method, path, headers: fields, body };
    void this.#answer(stream, request);
  }

  async #answer(stream: Stream, request: Http2Request): Promise<void> {
    let response: Http2Response;
    stream.handling = true;
    try {
      response = await this.#handler(request);
    } catch {
      if (!stream.closed && !this.#closed) this.#reset(stream.id, Code.InternalError);
      return;
    } finally {
      stream.handling = false;
      // Closed now: it was reset while the handler ran (see #forget).
      if (stream.closed) this.#orphans--;
    }
    if (stream.closed || this.#closed) return;
    const head: [string, string][] = [[":status", String(response.status ?? 200)]];
    const body = response.body ?? new Uint8Array(0);
    const trailers = response.trailers ?? [];
    const last = body.length === 0 && trailers.length === 0;
    this.#sendHeaders(stream.id, [...head, ...(response.headers ?? [])], last);
    if (!await this.#sendData(stream, body, trailers.length === 0)) return;
    if (trailers.length > 0) this.#sendHeaders(stream.id, [...trailers], true);
    this.#forget(stream);
  }

  /**
   * Sends `body` in DATA frames as the windows allow, the last one flagged
   * END_STREAM when `last`.
   *
   * @returns `false` when the stream or connection closed first.
   */
  async #sendData(stream: Stream, body: Uint8Array, last: boolean): Promise<boolean> {
    let offset = 0;
    while (offset < body.length) {
      const room = Math.min(this.#sendWindow, stream.sendWindow, this.#peerFrameSize);
      if (stream.closed || this.#closed) return false;
      if (room <= 0) {
        await new Promise<void>((resolve) => this.#windowWaiters.push(resolve));
        continue;
      }
      const size = Math.min(room, body.length - offset);
      const end = last && offset + size === body.length;
      this.#send(
        frame(Type.Data, end ? END_STREAM : 0, stream.id, body.subarray(offset, offset + size)),
      );
      this.#sendWindow -= size;
      stream.sendWindow -= size;
      offset += size;
    }
    return !stream.closed && !this.#closed;
  }

  /** Hands a new stream's request to a streaming handler as it arrives. */
  #startStreamed(stream: Stream, handler: Http2StreamHandler): void {
    const inbound = new Inbound((size) => this.#giveBack(stream, size));
    stream.inbound = inbound;
    const fields = stream.headers ?? [];
    let headSent = false;
    let ended = false;
    let sending: Promise<unknown> = Promise.resolve();
    const gone = () => inbound.signal.reason ?? new Error("The HTTP/2 stream was closed");
    const sendHead = (status: number, headers: readonly [string, string][]) => {
      if (headSent) return;
      headSent = true;
      this.#sendHeaders(stream.id, [[":status", String(status)], ...headers], false);
    };
    /** Why nothing more can be sent, if so. */
    const refusal = (): Error | undefined => {
      if (stream.closed || this.#closed) return gone();
      if (ended) return new Error("The HTTP/2 response has ended");
    };
    // Writes and the end go out in call order.
    const queue = (task: () => Promise<void>): Promise<void> => {
      const next = sending.then(task);
      sending = next.catch(() => {});
      return next;
    };
    const exchange: Http2Exchange = {
      streamId: stream.id,
      method: fieldValue(fields, ":method") ?? "",
      path: fieldValue(fields, ":path") ?? "",
      headers: fields,
      body: inbound.body,
      signal: inbound.signal,
      respond: (status = 200, headers = []) => {
        const refused = refusal();
        if (refused) throw refused;
        sendHead(status, headers);
      },
      write: (bytes) => {
        const refused = refusal();
        if (refused) return Promise.reject(refused);
        sendHead(200, []);
        return queue(async () => {
          if (!await this.#sendData(stream, bytes, false)) throw gone();
        });
      },
      end: (trailers = []) => {
        const refused = refusal();
        if (refused) return Promise.reject(refused);
        sendHead(200, []);
        ended = true;
        return queue(() => {
          if (stream.closed || this.#closed) throw gone();
          if (trailers.length > 0) this.#sendHeaders(stream.id, [...trailers], true);
          else this.#send(frame(Type.Data, END_STREAM, stream.id, new Uint8Array(0)));
          if (!stream.remoteEnded) {
            // Answered before the request ended: ask the peer to stop (§8.1).
            inbound.end();
            this.#reset(stream.id, Code.NoError);
          }
          this.#forget(stream);
          return Promise.resolve();
        });
      },
    };
    void (async () => {
      let code = Code.Cancel;
      try {
        await handler(exchange);
      } catch {
        code = Code.InternalError;
      }
      await sending;
      if (!stream.closed && !this.#closed) this.#reset(stream.id, code);
    })();
  }

  #sendHeaders(streamId: number, fields: [string, string][], endStream: boolean): void {
    const block = encodeHeaderBlock(fields);
    const size = this.#peerFrameSize;
    const first = block.subarray(0, size);
    const flags = (endStream ? END_STREAM : 0) | (block.length <= size ? END_HEADERS : 0);
    this.#send(frame(Type.Headers, flags, streamId, first));
    for (let at = size; at < block.length; at += size) {
      const end = at + size >= block.length;
      this.#send(
        frame(Type.Continuation, end ? END_HEADERS : 0, streamId, block.subarray(at, at + size)),
      );
    }
  }

  /**
   * Resets a stream, and remembers it so that HEADERS still on their way
   * are dropped (see {@linkcode Connection.#headers}).
   *
   * @param control Whether the peer's own frame called for it (then
   *   counted by {@linkcode Connection.#sendControl}, which may throw).
   */
  #reset(streamId: number, code: Code, control = false): void {
    const reset = frame(Type.RstStream, 0, streamId, u32(code));
    if (control) this.#sendControl(reset);
    else this.#send(reset);
    const stream = this.#streams.get(streamId);
    if (stream) this.#forget(stream);
    // An idle stream (a PRIORITY of the wrong size resets one) stays idle: its HEADERS opens it.
    if (streamId > this.#lastStreamId) return;
    this.#resets.add(streamId);
    if (this.#resets.size > this.#resetsKept) {
      const [oldest] = this.#resets;
      this.#resets.delete(oldest!);
    }
  }

  #forget(stream: Stream): void {
    if (stream.closed) return;
    stream.closed = true;
    if (!stream.remoteEnded) {
      this.#buffered -= stream.bodyLength;
      stream.body = [];
    }
    if (stream.handling) this.#orphans++;
    stream.inbound?.fail(new DockerProtocolError("INVALID_HTTP2", "The HTTP/2 stream was reset"));
    this.#streams.delete(stream.id);
    this.#wake();
  }

  #wake(): void {
    for (const wake of this.#windowWaiters.splice(0)) wake();
  }

  #settingsPayload(entries: [Setting, number][]): Uint8Array {
    const out = new Uint8Array(entries.length * 6);
    const view = new DataView(out.buffer);
    entries.forEach(([id, value], i) => {
      view.setUint16(i * 6, id);
      view.setUint32(i * 6 + 2, value);
    });
    return out;
  }

  /** Queues bytes for the wire, in order; a failed write ends the connection. */
  #send(bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#writing = this.#writing
      .then(() => this.#ended ? undefined : this.#io.write(bytes))
      .catch(() => this.#shutdown());
  }

  /**
   * Resolves once what is queued has been written, or after
   * {@linkcode DRAIN_MS} if the peer does not read it: a GOAWAY is worth a
   * short wait, never a session that cannot end.
   */
  #drained(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => timer = setTimeout(resolve, DRAIN_MS));
    return Promise.race([this.#writing, late]).finally(() => clearTimeout(timer));
  }

  /**
   * Sends a control frame the peer's frames called for, counting it until
   * it is written.
   *
   * @throws {ConnectionError} `ENHANCE_YOUR_CALM` past {@linkcode MAX_QUEUED_CONTROL}.
   */
  #sendControl(bytes: Uint8Array): void {
    if (this.#closed) return;
    if (this.#controlQueued >= MAX_QUEUED_CONTROL) {
      throw new ConnectionError(
        Code.EnhanceYourCalm,
        `more than ${MAX_QUEUED_CONTROL} control frames wait to be written: the peer does not read`,
      );
    }
    this.#controlQueued++;
    this.#send(bytes);
    this.#writing = this.#writing.finally(() => this.#controlQueued--);
  }
}
