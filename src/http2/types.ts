/**
 * The types of berth's HTTP/2 server (`serveHttp2` in `server.ts`, which
 * re-exports them): the byte stream it runs over, requests and answers,
 * unary and streamed.
 *
 * @module
 */

/** The byte stream the connection runs over (berth's `Connection` fits). */
export interface Http2Duplex {
  /**
   * Reads what arrived next.
   *
   * @returns Bytes, or `null` at the end of the stream.
   */
  read(): Promise<Uint8Array | null>;
  /**
   * Writes all of `bytes`.
   *
   * @param bytes What to send.
   */
  write(bytes: Uint8Array): Promise<void>;
  /** Closes both directions. */
  close(): void;
}

/** A request read whole. */
export interface Http2Request {
  /** The stream it came on. */
  readonly streamId: number;
  /** `:method`. */
  readonly method: string;
  /** `:path`. */
  readonly path: string;
  /** Every field, pseudo-fields included, in order. */
  readonly headers: readonly [string, string][];
  /** The body, all DATA frames joined. */
  readonly body: Uint8Array;
}

/** What to answer. */
export interface Http2Response {
  /** Status code. @default 200 */
  status?: number;
  /** Header fields (lowercase names). */
  headers?: readonly [string, string][];
  /** Body bytes. */
  body?: Uint8Array;
  /** Trailer fields, sent after the body (gRPC's status goes here). */
  trailers?: readonly [string, string][];
}

/** Answers one request. A throw resets the stream with `INTERNAL_ERROR`. */
export type Http2Handler = (request: Http2Request) => Http2Response | Promise<Http2Response>;

/** A request served while it arrives, and its answer written piece by piece. */
export interface Http2Exchange {
  /** The stream it came on. */
  readonly streamId: number;
  /** `:method`. */
  readonly method: string;
  /** `:path`. */
  readonly path: string;
  /** Every field of the request head, pseudo-fields included, in order. */
  readonly headers: readonly [string, string][];
  /**
   * The request body as DATA frames arrive; it closes at the peer's
   * END_STREAM and errors when the stream is reset or the connection ends.
   * The peer may only send what the stream window allows, and the window
   * is given back as the body is read: a slow reader holds at most one
   * stream window (`initialWindowSize`) of it.
   */
  readonly body: ReadableStream<Uint8Array>;
  /** Aborted when the peer resets the stream or the connection ends. */
  readonly signal: AbortSignal;
  /**
   * Sends the response head; `write` and `end` send a 200 head first when
   * none was sent.
   *
   * @param status Status code.
   * @param headers Header fields (lowercase names).
   * @throws {Error} When the stream was reset, the connection ended or the
   *   response ended already; a second call after the head went out does
   *   nothing.
   */
  respond(status?: number, headers?: readonly [string, string][]): void;
  /**
   * Sends body bytes in DATA frames within the flow-control windows.
   *
   * @param bytes What to send.
   * @returns Settles once the bytes are queued for the wire (it waits for
   *   window room); rejects when the stream was reset or the connection ended.
   */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Ends the response (after every write before it), with trailers when
   * given. Ending before the request body did asks the peer to stop
   * sending (RST_STREAM NO_ERROR, RFC 9113 §8.1).
   *
   * @param trailers Trailer fields (gRPC's status goes here).
   * @returns Settles once the end is queued; rejects like `write`.
   */
  end(trailers?: readonly [string, string][]): Promise<void>;
}

/**
 * Serves one streamed request. When it settles without ending the
 * response, the stream is reset: with `CANCEL` when it resolved, with
 * `INTERNAL_ERROR` when it threw.
 */
export type Http2StreamHandler = (exchange: Http2Exchange) => Promise<void>;

/** Limits of {@linkcode serveHttp2}. */
export interface Http2ServerOptions {
  /**
   * Largest request body; a larger one resets its stream. The bodies of
   * all the unary requests still being received are held together to
   * four times this: past that, the stream whose data would go over is
   * refused (REFUSED_STREAM, its handler never ran).
   * @default 4 MiB
   */
  maxRequestBody?: number;
  /** Largest decoded header list (RFC 9113 §6.5.2). @default 64 KiB */
  maxHeaderListSize?: number;
  /** Streams the peer may have open at once. @default 100 */
  maxConcurrentStreams?: number;
  /**
   * Each stream's receive window (SETTINGS_INITIAL_WINDOW_SIZE): how much
   * of a request body the peer may send ahead of its reading; a larger
   * one also makes the connection's window four times as large. Larger windows move bulk data
   * faster (a 212 MB build output: ~190 MB/s with 64 KiB, ~230–290 MB/s
   * with 256 KiB, as fast as the engine's plain export with 1 MiB) and let
   * an unread body hold more memory.
   * @default 65535 (the protocol's default)
   */
  initialWindowSize?: number;
  /**
   * Picks the requests served as streams: called with each new request's
   * `:path`; a handler it returns serves that request, `undefined` leaves
   * it to the unary handler.
   */
  streaming?: (path: string) => Http2StreamHandler | undefined;
}

/** A running connection. */
export interface Http2Server {
  /**
   * Settles when the connection ends: resolves when the peer closed it or
   * {@linkcode Http2Server.close} was called; rejects with a
   * `DockerProtocolError` (code `INVALID_HTTP2`) when the peer broke the
   * protocol, after telling it so with GOAWAY.
   */
  readonly done: Promise<void>;
  /** Says goodbye (GOAWAY) and closes the connection; streams in flight are dropped. */
  close(): void;
}
