/**
 * The messages between the main thread and a stream worker, and the error
 * (de)serialisation both sides share.
 *
 * One worker runs many streams, each named by an `id` the main side picks.
 * The main side sends `init` once, then per stream `open` (the request), `spec`
 * (when the decoder depends on something still being fetched), `pull`
 * (credit: the first starts the reading, later ones give back what the
 * reader consumed) and `cancel`. The worker sends `batch`es while its
 * credit lasts, answers each `cancel` with `closed`, and reports finished
 * HTTP exchanges with `record` when the client has an observer.
 *
 * A stream opened with `head` (an archive download, whose caller needs a
 * header before the body) gets a `head` message as soon as the response
 * head is in, or at once an error `batch` when the call failed. A
 * hijacked session (attach: the request has `upgrade`) is such a stream
 * whose output is read from the upgraded socket; its stdin travels as
 * `write` messages and `closeWrite` (a half-close), each answered with
 * `written` once the worker has written it (or failed to).
 *
 * Byte items (frame data, body pieces) travel as transferred `ArrayBuffer`s
 * plus a layout of `(stream, buffer index, byte offset, length)` per item, so
 * several items that are views into one read buffer share one transfer.
 *
 * @module
 */

import {
  DockerApiError,
  DockerConflictError,
  DockerConnectionError,
  DockerError,
  DockerNotFoundError,
  DockerProtocolError,
  type DockerProtocolErrorCode,
  DockerStreamError,
  DockerTimeoutError,
  type DockerTimeoutPhase,
} from "../errors.ts";
import type { ExchangeRecord } from "../http/exchange_types.ts";
import type { HeaderFields } from "../http/request.ts";
import type { SshOptions, TlsOptions } from "../http/transport.ts";

export type { ExchangeRecord, HeaderFields, SshOptions, TlsOptions };

/**
 * A serialisable description of a stream decoder, from which a worker
 * rebuilds the decoder (functions cannot cross to a worker).
 *
 * - `json`: newline-delimited JSON (`JsonLinesDecoder`); items
 *   are the parsed values.
 * - `frames`: container output (logs, attach output); multiplexed frames,
 *   or raw stdout frames for a TTY, decided by the same `Content-Type` rule
 *   as in-thread streams. Items are `Frame`s.
 * - `bytes`: the body pieces as they come (export, archive, save); items
 *   are `Uint8Array`s.
 * - `websocket`: a WebSocket attach; the worker checks the handshake's
 *   `Sec-WebSocket-Accept` and runs the WebSocket there. Items are the
 *   payloads of the engine's messages (`Uint8Array`s); `write` messages
 *   become text or binary messages, `closeWrite` a close frame.
 */
export type DecoderSpec =
  | {
    /** Newline-delimited JSON. */
    kind: "json";
    /** Longest line in bytes. @default 16777216 */
    maxLineSize?: number;
    /** Whether `error`/`errorDetail` lines throw a `DockerStreamError`. @default true */
    errorLines?: boolean;
  }
  | {
    /** Container output frames. */
    kind: "frames";
    /** Whether the container has a TTY (raw output unless the engine labels it multiplexed). */
    tty: boolean;
  }
  | {
    /** Raw body pieces. */
    kind: "bytes";
  }
  | {
    /** A WebSocket session's message payloads. */
    kind: "websocket";
    /** The `Sec-WebSocket-Accept` the handshake must answer (from the key sent). */
    accept: string;
  };

/** Connection settings a worker builds its own HTTP client from (all serialisable). */
export interface WorkerSettings {
  /** Engine address, such as `unix:///var/run/docker.sock` or `https://10.0.0.2:2376`. */
  host: string;
  /** TLS material as PEM text. */
  tls?: TlsOptions | undefined;
  /** How to run ssh for `ssh://` hosts. */
  ssh?: SshOptions | undefined;
  /** Milliseconds to wait for a connection. */
  connectTimeout: number;
  /** Appended to the message of a connection failure. */
  failureNote?: string | undefined;
  /** Most concurrent counted requests of this worker. */
  maxConnections?: number | undefined;
  /** Milliseconds an idle connection is kept. */
  keepAliveTimeout?: number | undefined;
  /** Milliseconds to wait for response headers. */
  headersTimeout?: number | undefined;
  /** Milliseconds a body may idle (follow streams are exempt). */
  bodyTimeout?: number | undefined;
  /** Largest response head in bytes. */
  maxHeaderSize?: number | undefined;
  /** Whether to send `record` messages (the client has an observer). */
  records: boolean;
}

/** A request as a worker sends it: the target already carries the negotiated `/vX.Y` prefix. */
export interface WireRequest {
  /** HTTP method. */
  method: string;
  /** Encoded path and query, version prefix included. */
  target: string;
  /** What is being done, for error messages. */
  action: string;
  /** Header fields (a JSON body's `Content-Type` included). */
  headers?: HeaderFields | undefined;
  /** The body; a stream is transferred to the worker. */
  body?: string | Uint8Array | ReadableStream<Uint8Array> | null | undefined;
  /** A follow stream: no body timeout, not counted against the worker's pool. */
  longLived?: boolean | undefined;
  /** Whether a retry on a fresh connection is safe. */
  idempotent?: boolean | undefined;
  /** Per-call head timeout in ms. */
  headersTimeout?: number | undefined;
  /**
   * Ask for a protocol switch with this `Upgrade` value (attach): the
   * stream's items are then read from the upgraded socket, and the stream
   * takes `write` and `closeWrite` messages for it.
   */
  upgrade?: string | undefined;
}

/** An error in a form that survives `postMessage` and is rebuilt as the same class. */
export interface SerializedError {
  /** Class name, such as `"DockerNotFoundError"`. */
  name: string;
  /** The message, as it was. */
  message: string;
  /** The stack in the worker. */
  stack?: string | undefined;
  /** `DockerProtocolError.code`. */
  code?: string | undefined;
  /** `DockerApiError.status`. */
  status?: number | undefined;
  /** `DockerApiError.statusText`. */
  statusText?: string | undefined;
  /** `DockerApiError.method`. */
  method?: string | undefined;
  /** `DockerApiError.path`. */
  path?: string | undefined;
  /** `DockerApiError.engineMessage`, `DockerStreamError.engineMessage`. */
  engineMessage?: string | undefined;
  /** `DockerConnectionError.host`. */
  host?: string | undefined;
  /** `DockerTimeoutError.phase`. */
  phase?: string | undefined;
  /** `DockerTimeoutError.timeout`. */
  timeout?: number | undefined;
  /** `DockerStreamError.detail`. */
  detail?: { code?: number; message?: string } | undefined;
  /** The cause, one level deep. */
  cause?: SerializedError | undefined;
}

/** Main → worker: the connection settings; sent once, first. */
export interface InitMessage {
  /** Message kind. */
  type: "init";
  /** How to reach the engine. */
  settings: WorkerSettings;
}

/** Main → worker: start a stream (the request is sent at once). */
export interface OpenMessage {
  /** Message kind. */
  type: "open";
  /** The stream's id, chosen by the main side. */
  id: number;
  /** What to send. */
  request: WireRequest;
  /** The decoder, when known already; else a `spec` or `specFailed` message follows. */
  spec?: DecoderSpec | undefined;
  /**
   * Report the response head in a `head` message (with these header
   * fields, lower-case names) as soon as it arrives, before any batch; a
   * failed call is then reported at once, as an error `batch`, rather than
   * at the first `pull`.
   */
  head?: string[] | undefined;
}

/** Main → worker: the decoder of a stream opened without one. */
export interface SpecMessage {
  /** Message kind. */
  type: "spec";
  /** The stream's id. */
  id: number;
  /** The decoder. */
  spec: DecoderSpec;
}

/**
 * Main → worker: the decoder could not be chosen (its promise rejected on
 * the main side, which keeps the error). The worker ends the stream with a
 * `batch` whose error is `"local"`, unless the request failed first.
 */
export interface SpecFailedMessage {
  /** Message kind. */
  type: "specFailed";
  /** The stream's id. */
  id: number;
}

/**
 * Main → worker: credit. The worker reads and sends batches while its
 * credit (bytes read from the body) lasts; the first `pull` starts the
 * reading, later ones give back the bytes the reader has consumed. So at
 * most a {@linkcode STREAM_WINDOW} of bytes (plus one batch) is ever on its
 * way or waiting for the reader.
 */
export interface PullMessage {
  /** Message kind. */
  type: "pull";
  /** The stream's id. */
  id: number;
  /** Bytes the worker may read and send in addition. */
  credit: number;
}

/**
 * Bytes of a stream's body that may be read ahead of its reader (sent or
 * on their way), by decoder kind. Measured with 8 full-rate log streams over
 * 2 workers: one batch per pull (a round trip per read) reached 70% of the
 * main-thread throughput at about 3.5 times its CPU time, the messages
 * costing more than the parsing they moved; a window lets the worker send
 * batch after batch while the main thread consumes. JSON gets a small one:
 * its values are rebuilt on the main thread (structured clone, about as
 * costly as `JSON.parse`), and a large window lets bursts of them hold the
 * main thread's event loop for tens of milliseconds.
 */
export const STREAM_WINDOW: Readonly<Record<DecoderSpec["kind"], number>> = Object.freeze({
  json: 64 * 1024,
  frames: 512 * 1024,
  bytes: 512 * 1024,
  websocket: 512 * 1024,
});

/** Main → worker: stop the stream and close its socket; answered with `closed`. */
export interface CancelMessage {
  /** Message kind. */
  type: "cancel";
  /** The stream's id. */
  id: number;
}

/**
 * Main → worker: bytes for the stdin of a hijacked session (an `open` with
 * `upgrade`). Answered with a `written` of the same `seq`.
 */
export interface WriteMessage {
  /** Message kind. */
  type: "write";
  /** The stream's id. */
  id: number;
  /** Numbers the session's writes, to match the answer. */
  seq: number;
  /** The bytes, transferred (a copy of the caller's chunk). */
  data: ArrayBuffer;
  /** A WebSocket session: send them as a text message (they are UTF-8). */
  text?: boolean | undefined;
}

/**
 * Main → worker: half-close the write side of a hijacked session (EOF on
 * the process's stdin; output keeps flowing). Answered with a `written`.
 */
export interface CloseWriteMessage {
  /** Message kind. */
  type: "closeWrite";
  /** The stream's id. */
  id: number;
  /** Numbers the session's writes, to match the answer. */
  seq: number;
}

/** Every message the main side sends. */
export type MainMessage =
  | InitMessage
  | OpenMessage
  | SpecMessage
  | SpecFailedMessage
  | PullMessage
  | CancelMessage
  | WriteMessage
  | CloseWriteMessage;

/** How the items of a `batch` are carried. */
export type BatchKind = "values" | "frames" | "bytes";

/**
 * Worker → main: the items of one socket batch (at least one unless the
 * body ended), and whether the stream ended or failed after them.
 */
export interface BatchMessage {
  /** Message kind. */
  type: "batch";
  /** The stream's id. */
  id: number;
  /** How the items are carried. */
  kind: BatchKind;
  /** JSON values (`values`). */
  values?: unknown[] | undefined;
  /**
   * For `frames` and `bytes`: four numbers per item: stream code (0 stdin,
   * 1 stdout, 2 stderr, 3 system; 0 for bytes), index in `buffers`, byte
   * offset, length.
   */
  layout?: Uint32Array | undefined;
  /** The transferred buffers the layout points into. */
  buffers?: ArrayBuffer[] | undefined;
  /** Body bytes this batch accounts for (credit to give back once consumed). */
  bytes: number;
  /** The body ended after these items. */
  done: boolean;
  /**
   * The stream failed after these items: the error, or `"local"` when the
   * main side holds it (the decoder spec's own rejection).
   */
  error?: SerializedError | "local" | undefined;
}

/** The head of a response whose body streams: status and the header fields asked for. */
export interface StreamHead {
  /** Status code (101 for a hijacked session). */
  status: number;
  /** Reason phrase. */
  statusText: string;
  /** The fields asked for that the response has, by lower-case name. */
  headers: Record<string, string>;
}

/**
 * Worker → main: the response head of a stream opened with `head` (its
 * status is a success: an error status comes as an error `batch`). Sent
 * before any batch.
 */
export interface HeadMessage extends StreamHead {
  /** Message kind. */
  type: "head";
  /** The stream's id. */
  id: number;
}

/** Worker → main: a `write` or `closeWrite` was carried out, or failed. */
export interface WrittenMessage {
  /** Message kind. */
  type: "written";
  /** The stream's id. */
  id: number;
  /** The `seq` of the write answered. */
  seq: number;
  /** Why it failed (a `DockerConnectionError` when the session broke). */
  error?: SerializedError | undefined;
}

/** Worker → main: a `cancel` was carried out (the socket is closed). */
export interface ClosedMessage {
  /** Message kind. */
  type: "closed";
  /** The stream's id. */
  id: number;
}

/** Worker → main: one finished HTTP exchange, for the client's observer. */
export interface RecordMessage {
  /** Message kind. */
  type: "record";
  /** The record, its error serialised. */
  record: Omit<ExchangeRecord, "error"> & { error: SerializedError | undefined };
}

/** Every message a worker sends. */
export type WorkerMessage =
  | BatchMessage
  | HeadMessage
  | WrittenMessage
  | ClosedMessage
  | RecordMessage;

/** The messages a worker sends about one stream. */
export type StreamReply = BatchMessage | HeadMessage | WrittenMessage | ClosedMessage;

/** Stream names by wire code, as in the multiplexed header. */
export const STREAM_CODES = ["stdin", "stdout", "stderr", "system"] as const;

/**
 * Turns any thrown value into a {@linkcode SerializedError}, keeping the
 * fields of berth's error classes.
 *
 * @param error What was thrown.
 * @param depth Causes already followed (one level is kept).
 * @returns The serialisable form.
 */
export function serializeError(error: unknown, depth = 0): SerializedError {
  if (!(error instanceof Error)) {
    return { name: "Error", message: typeof error === "string" ? error : String(error) };
  }
  const out: SerializedError = { name: error.name, message: error.message, stack: error.stack };
  if (error instanceof DockerApiError) {
    out.status = error.status;
    out.statusText = error.statusText;
    out.method = error.method;
    out.path = error.path;
    out.engineMessage = error.engineMessage;
  } else if (error instanceof DockerConnectionError) {
    out.host = error.host;
  } else if (error instanceof DockerTimeoutError) {
    out.phase = error.phase;
    out.timeout = error.timeout;
  } else if (error instanceof DockerProtocolError) {
    out.code = error.code;
  } else if (error instanceof DockerStreamError) {
    if (error.detail !== undefined) out.detail = { ...error.detail };
    out.engineMessage = error.engineMessage;
  }
  if (depth === 0 && error.cause !== undefined) out.cause = serializeError(error.cause, 1);
  return out;
}

/**
 * Rebuilds an error of the same class (berth's classes, `TypeError`,
 * `RangeError`, `SyntaxError`; `Error` with the original `name` otherwise),
 * with the same message, fields, cause and the worker's stack.
 *
 * @param data The serialised error.
 * @returns The error, ready to throw.
 */
export function deserializeError(data: SerializedError): Error {
  const options = data.cause ? { cause: deserializeError(data.cause) } : undefined;
  let error: Error;
  switch (data.name) {
    case "DockerApiError":
    case "DockerNotFoundError":
    case "DockerConflictError": {
      const Class = data.name === "DockerNotFoundError"
        ? DockerNotFoundError
        : data.name === "DockerConflictError"
        ? DockerConflictError
        : DockerApiError;
      error = new Class({
        status: data.status ?? 0,
        statusText: data.statusText ?? "",
        method: data.method ?? "",
        path: data.path ?? "",
        engineMessage: data.engineMessage ?? "",
      });
      break;
    }
    case "DockerConnectionError":
      error = new DockerConnectionError(data.message, data.host ?? "", options);
      break;
    case "DockerTimeoutError":
      error = new DockerTimeoutError(
        data.message,
        (data.phase ?? "body") as DockerTimeoutPhase,
        data.timeout ?? 0,
      );
      break;
    case "DockerProtocolError":
      error = new DockerProtocolError(
        (data.code ?? "PREMATURE_CLOSE") as DockerProtocolErrorCode,
        data.message,
      );
      break;
    case "DockerStreamError":
      error = new DockerStreamError(data.message, data.detail, data.engineMessage ?? data.message);
      break;
    case "TypeError":
      error = new TypeError(data.message, options);
      break;
    case "RangeError":
      error = new RangeError(data.message, options);
      break;
    case "SyntaxError":
      error = new SyntaxError(data.message, options);
      break;
    default:
      // DockerError, and internal subclasses (the stale-connection marker).
      error = data.name.startsWith("Docker") || data.name === "StaleConnectionError"
        ? new DockerError(data.message, options)
        : new Error(data.message, options);
      if (error.name !== data.name) error.name = data.name;
  }
  error.message = data.message;
  if (options && error.cause === undefined) error.cause = options.cause;
  if (data.stack !== undefined) error.stack = data.stack;
  return error;
}
