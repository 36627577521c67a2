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
import { HpackDecoder } from "./hpack.ts";
import { frame, FRAME_HEADER, Inbox, u32 } from "./_buffers.ts";
import { fieldValue, malformedFields } from "./_fields.ts";
import { type ExchangeHost, startExchange } from "./_server_exchange.ts";
import { FlowControl } from "./_server_flow.ts";
import { Outbox } from "./_server_outbox.ts";
import {
  ACK,
  checkSetting,
  Code,
  ConnectionError,
  DEFAULT_FRAME_SIZE,
  DEFAULT_WINDOW,
  END_HEADERS,
  END_STREAM,
  headerFrames,
  PREFACE,
  PRIORITY,
  Setting,
  settingsEntries,
  settingsPayload,
  StreamError,
  Type,
  unpad,
  windowIncrement,
} from "./_server_protocol.ts";
import {
  appendFragment,
  type HeaderBlock,
  openStream,
  ResetStreams,
  type Stream,
  takeBody,
} from "./_server_streams.ts";
import type {
  Http2Duplex,
  Http2Handler,
  Http2Request,
  Http2Response,
  Http2Server,
  Http2ServerOptions,
  Http2StreamHandler,
} from "./types.ts";

export type * from "./types.ts";

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
  readonly #streaming: ((path: string) => Http2StreamHandler | undefined) | undefined;
  readonly #decoder = new HpackDecoder();
  readonly #inbox = new Inbox();
  readonly #out: Outbox;
  readonly #flow: FlowControl;
  readonly #streams = new Map<number, Stream>();
  /**
   * Handlers still running for streams already reset: they count against
   * `maxConcurrentStreams` until they end, or a peer that opens and resets
   * streams at once would run any number of handlers (rapid reset).
   */
  #orphans = 0;
  /** The streams reset here, so that HEADERS the peer sent before it saw a reset are dropped. */
  readonly #resets: ResetStreams;
  #lastStreamId = 0;
  /** The stream whose header block is still coming in CONTINUATION frames. */
  #continuing: HeaderBlock | undefined;
  #peerFrameSize = DEFAULT_FRAME_SIZE;
  /** What a streamed exchange may do on the connection. */
  readonly #host: ExchangeHost = {
    closed: () => this.#closed,
    giveBack: (stream, size) => this.#flow.giveBack(stream, size),
    send: (bytes) => this.#out.send(bytes),
    sendHeaders: (streamId, fields, endStream) => this.#sendHeaders(streamId, fields, endStream),
    sendData: (stream, body, last) => this.#sendData(stream, body, last),
    reset: (streamId, code) => this.#reset(streamId, code),
    forget: (stream) => this.#forget(stream),
  };
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
    this.#resets = new ResetStreams(this.#maxStreams);
    this.#out = new Outbox(io, {
      closed: () => this.#closed,
      ended: () => this.#ended,
      failed: () => this.#shutdown(),
    });
    this.#flow = new FlowControl(
      options.initialWindowSize ?? DEFAULT_WINDOW,
      (bytes) => this.#out.send(bytes),
    );
    this.#streaming = options.streaming;
    this.done = this.#run();
    this.done.catch(() => {});
  }

  close(): void {
    if (this.#closed) return;
    this.#out.send(frame(Type.Goaway, 0, 0, u32(this.#lastStreamId, Code.NoError)));
    void this.#out.drained().then(() => this.#shutdown());
    this.#closed = true;
  }

  #shutdown(): void {
    this.#closed = true;
    if (this.#ended) return;
    this.#ended = true;
    const ended = new DockerProtocolError("INVALID_HTTP2", "The HTTP/2 session ended");
    for (const stream of this.#streams.values()) stream.inbound?.fail(ended);
    this.#flow.wake();
    try {
      this.#io.close();
    } catch {
      // Already closed.
    }
  }

  async #run(): Promise<void> {
    const window = this.#flow.window;
    this.#out.send(frame(
      Type.Settings,
      0,
      0,
      settingsPayload([
        [Setting.EnablePush, 0],
        [Setting.MaxConcurrentStreams, this.#maxStreams],
        [Setting.MaxHeaderListSize, this.#maxHeaderList],
        ...(window === DEFAULT_WINDOW
          ? []
          : [[Setting.InitialWindowSize, window] as [Setting, number]]),
      ]),
    ));
    // The connection's window starts at the default; only an update widens it.
    if (window > DEFAULT_WINDOW) {
      this.#out.send(frame(Type.WindowUpdate, 0, 0, u32(4 * window - DEFAULT_WINDOW)));
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
          this.#out.send(frame(Type.Goaway, 0, 0, u32(this.#lastStreamId, error.code)));
          await this.#out.drained();
        }
        this.#shutdown();
        throw new DockerProtocolError("INVALID_HTTP2", `HTTP/2 session broken: ${error.message}`);
      }
      if (error instanceof DockerProtocolError) {
        // HPACK failures are connection errors (RFC 9113 §4.3).
        this.#out.send(frame(Type.Goaway, 0, 0, u32(this.#lastStreamId, Code.CompressionError)));
        await this.#out.drained();
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
        if (!(flags & ACK)) this.#out.sendControl(frame(Type.Ping, ACK, 0, payload));
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

  #headers(flags: number, streamId: number, payload: Uint8Array): void {
    if (streamId === 0 || streamId % 2 === 0) {
      throw new ConnectionError(Code.ProtocolError, `HEADERS on stream ${streamId}`);
    }
    const fragment = unpad(flags, payload, (flags & PRIORITY) !== 0);
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
    appendFragment(block, payload, this.#maxHeaderList * 2);
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
      stream = openStream(
        block.id,
        fields,
        this.#flow.peerInitialWindow,
        this.#flow.streamReceiveWindow,
      );
      this.#streams.set(block.id, stream);
      const path = fieldValue(fields, ":path");
      const handler = path === undefined ? undefined : this.#streaming?.(path);
      if (handler) startExchange(stream, handler, this.#host);
    }
    if (block.endStream) this.#remoteEnd(stream);
  }

  #data(flags: number, streamId: number, payload: Uint8Array): void {
    if (streamId === 0) throw new ConnectionError(Code.ProtocolError, "DATA on stream 0");
    // Every byte counts against the windows, padding included: give it back.
    this.#flow.giveBack(undefined, payload.length);
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
    const data = unpad(flags, payload, false);
    if (stream.inbound) {
      // The padding's share of the window comes back now, the data's as it is read.
      if (!(flags & END_STREAM)) this.#flow.giveBack(stream, payload.length - data.length);
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
    else this.#flow.giveBack(stream, payload.length);
  }

  #settings(flags: number, streamId: number, payload: Uint8Array): void {
    const entries = settingsEntries(flags, streamId, payload);
    if (entries === undefined) return; // An ACK of ours.
    for (const [id, value] of entries) {
      checkSetting(id, value);
      if (id === Setting.InitialWindowSize) {
        this.#flow.setPeerInitialWindow(value, this.#streams.values());
      } else if (id === Setting.MaxFrameSize) {
        this.#peerFrameSize = value;
      }
      // HEADER_TABLE_SIZE needs nothing: our header blocks never use the dynamic table.
    }
    this.#out.sendControl(frame(Type.Settings, ACK, 0, new Uint8Array(0)));
    this.#flow.wake();
  }

  #windowUpdate(streamId: number, payload: Uint8Array): void {
    const increment = windowIncrement(payload);
    if (streamId === 0) {
      this.#flow.widen(increment);
    } else {
      this.#notIdle(streamId, "WINDOW_UPDATE");
      this.#flow.widenStream(this.#streams.get(streamId), increment);
    }
    this.#flow.wake();
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
    const body = takeBody(stream);
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
      const room = this.#flow.room(stream, this.#peerFrameSize);
      if (stream.closed || this.#closed) return false;
      if (room <= 0) {
        await this.#flow.opened();
        continue;
      }
      const size = Math.min(room, body.length - offset);
      const end = last && offset + size === body.length;
      this.#out.send(
        frame(Type.Data, end ? END_STREAM : 0, stream.id, body.subarray(offset, offset + size)),
      );
      this.#flow.spend(stream, size);
      offset += size;
    }
    return !stream.closed && !this.#closed;
  }

  #sendHeaders(streamId: number, fields: [string, string][], endStream: boolean): void {
    for (const bytes of headerFrames(streamId, fields, endStream, this.#peerFrameSize)) {
      this.#out.send(bytes);
    }
  }

  /**
   * Resets a stream, and remembers it so that HEADERS still on their way
   * are dropped (see {@linkcode Connection.#headers}).
   *
   * @param control Whether the peer's own frame called for it (then
   *   counted by {@linkcode Outbox.sendControl}, which may throw).
   */
  #reset(streamId: number, code: Code, control = false): void {
    const reset = frame(Type.RstStream, 0, streamId, u32(code));
    if (control) this.#out.sendControl(reset);
    else this.#out.send(reset);
    const stream = this.#streams.get(streamId);
    if (stream) this.#forget(stream);
    // An idle stream (a PRIORITY of the wrong size resets one) stays idle: its HEADERS opens it.
    if (streamId > this.#lastStreamId) return;
    this.#resets.add(streamId);
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
    this.#flow.wake();
  }
}
