/**
 * Entry of a stream worker (started by `WorkerPool`). It owns its own HTTP
 * client and connections; for each stream it sends the request, maps an
 * error status to the typed error, rebuilds the decoder from its
 * `DecoderSpec`, and sends the items batch by batch: JSON values as
 * structured clones, byte items as transferred buffers. Reading starts with
 * the reader's first read and stops whenever the bytes sent but not yet
 * consumed reach the main side's credit (a `STREAM_WINDOW`), so a slow
 * consumer stops the socket reads here (backpressure across the boundary).
 *
 * A stream opened with `head` reports the response head (or its failure)
 * at once. A hijacked session (attach) is opened here too, since a socket
 * cannot move between threads: the worker takes over the upgraded
 * connection, decodes its output like any frames stream, and writes the
 * stdin bytes the main side sends, answering each write once it is done.
 *
 * Not for direct use: see `src/worker/pool.ts`.
 *
 * @module
 */

import type { PieceDecoder } from "../api/_client.ts";
import { apiError, isErrorStatus } from "../api/_responses.ts";
import { frameDecoder } from "../api/_frames.ts";
import { sessionBroke } from "../api/_session.ts";
import { protocolErrorIn } from "../_messages.ts";
import { DockerError, DockerProtocolError } from "../errors.ts";
import { HttpClient, type HttpClientOptions } from "../http/client.ts";
import { type Connection, useExclusiveReadBuffers } from "../http/connection.ts";
import type { HttpResponse } from "../http/response.ts";
import { createConnector, hostHeader, parseHost } from "../http/transport.ts";
import type { Frame } from "../stream/demux.ts";
import { JsonLinesDecoder } from "../stream/json_lines.ts";
import { checkWebSocketAccept, webSocketSession } from "../stream/websocket.ts";
import {
  type BatchKind,
  type BatchMessage,
  type CloseWriteMessage,
  type DecoderSpec,
  type HeadMessage,
  type MainMessage,
  type OpenMessage,
  serializeError,
  type WireRequest,
  type WorkerMessage,
  type WorkerSettings,
  type WriteMessage,
  type WrittenMessage,
} from "./protocol.ts";

/** The parts of the worker global scope used here (typed without the worker lib). */
interface WorkerScope {
  onmessage: ((event: MessageEvent<MainMessage>) => void) | null;
  postMessage(message: WorkerMessage, transfer?: Transferable[]): void;
}

/**
 * Pieces of one buffer up to this many bytes, using at most a quarter of
 * it, are copied into a compact buffer instead of transferring it: a few
 * bytes (an event, a log line) would otherwise carry a whole read buffer
 * (up to 64 KiB) across and keep it alive on the main thread.
 */
const COPY_LIMIT = 16 * 1024;

/**
 * Coalescing. Every message costs both threads a wake-up and a dispatch
 * (measured: ~40-100 µs of CPU in all, more than demultiplexing a 16 KiB
 * read), and an engine that writes logs in 16 KiB entries is read in reads
 * of that size. So a stream that sent a batch less than `QUIET_MS` ago
 * (a busy one) holds what it reads, for at most `FLUSH_MS`, or until
 * `COALESCE_BYTES` are held; a quiet stream (events, a log line now and
 * then) sends each batch at once, with no added latency.
 */
const COALESCE_BYTES = 128 * 1024;
const QUIET_MS = 4;
const FLUSH_MS = 1;

const STREAM_CODE: Record<Frame["stream"], number> = { stdin: 0, stdout: 1, stderr: 2, system: 3 };

/** Thrown in the worker when the main side could not choose the decoder. */
class SpecFailed extends Error {}

/** A stream whose request succeeded: where its bytes come from and how they are decoded. */
interface Opened {
  /** The response (its head; a session's body is its upgraded socket). */
  response: HttpResponse;
  decoder: PieceDecoder<unknown>;
  kind: BatchKind;
  /** Reads the next pieces; `null` at the end. */
  read(): Promise<Uint8Array[] | null>;
  /** The body ended (a session closes its socket, as on the main thread). */
  end(): void;
  /** Stops reading after a failure: the socket is closed, never reused. */
  cancel(reason: unknown): void;
}

interface StreamState {
  readonly id: number;
  /** What the call does, for error messages (`read logs of container "web"`). */
  readonly action: string;
  readonly abort: AbortController;
  readonly opened: Promise<Opened>;
  /** Closes what the stream holds so far: its response, or its upgraded socket. */
  close: ((reason: unknown) => void) | undefined;
  /** A session's upgraded socket, which `write` messages write to. */
  connection: Connection | undefined;
  /** A session's writes, one after the other (each answered in turn). */
  writes: Promise<void>;
  /** A session's write side was half-closed. */
  writeClosed: boolean;
  /** A WebSocket session's messages out, which `write` messages go to instead. */
  webSocket?: WritableStreamDefaultWriter<Uint8Array | string> | undefined;
  resolveSpec: (spec: DecoderSpec) => void;
  rejectSpec: (error: unknown) => void;
  /** Bytes the stream may still read and send before the main side grants more. */
  credit: number;
  /** Wakes a reader loop that waits for credit. */
  wake: (() => void) | undefined;
  /** The reader loop, once the first pull started it. */
  running: Promise<void> | undefined;
  /** Cancelled: nothing more is read or sent. */
  closed: boolean;
  /** Items read but not sent yet (coalescing), and the body bytes they account for. */
  held: unknown[];
  heldBytes: number;
  /** When the last batch was sent (`performance.now()`). */
  lastPost: number;
  /** Sends the held items when the stream goes quiet. */
  flushTimer: ReturnType<typeof setTimeout> | undefined;
  kind: BatchKind;
}

const scope = globalThis as unknown as WorkerScope;
// Read buffers are transferred while the next read is in flight.
useExclusiveReadBuffers();
const streams = new Map<number, StreamState>();
let client: HttpClient | undefined;
/** The engine address, for messages. */
let host = "";

/** Builds the HTTP client from the settings the main side sent. */
function init(settings: WorkerSettings): void {
  const address = parseHost(settings.host, settings.tls);
  const options: HttpClientOptions = {
    connect: createConnector(address, settings.connectTimeout, {
      ssh: settings.ssh,
      failureNote: settings.failureNote,
    }),
    host: settings.host,
    hostHeader: hostHeader(address),
  };
  if (settings.maxConnections !== undefined) options.maxConnections = settings.maxConnections;
  if (settings.keepAliveTimeout !== undefined) options.keepAliveTimeout = settings.keepAliveTimeout;
  if (settings.headersTimeout !== undefined) options.headersTimeout = settings.headersTimeout;
  if (settings.bodyTimeout !== undefined) options.bodyTimeout = settings.bodyTimeout;
  if (settings.maxHeaderSize !== undefined) options.maxHeaderSize = settings.maxHeaderSize;
  host = settings.host;
  if (settings.records) {
    options.onRecord = (record) => {
      const error = record.error === undefined ? undefined : serializeError(record.error);
      scope.postMessage({ type: "record", record: { ...record, error } });
    };
  }
  client = new HttpClient(options);
}

/** Rebuilds the decoder a spec describes. */
function buildDecoder(
  spec: DecoderSpec,
  response: HttpResponse,
): Pick<Opened, "decoder" | "kind"> {
  switch (spec.kind) {
    case "json": {
      const options: ConstructorParameters<typeof JsonLinesDecoder>[0] = {};
      if (spec.maxLineSize !== undefined) options.maxLineSize = spec.maxLineSize;
      if (spec.errorLines !== undefined) options.errorLines = spec.errorLines;
      return { decoder: new JsonLinesDecoder(options), kind: "values" };
    }
    case "frames": {
      // Not stable input: read buffers are transferred while a split
      // frame could still hold a view of them.
      const decoder = frameDecoder(response, spec.tty, false);
      return { decoder: decoder as PieceDecoder<unknown>, kind: "frames" };
    }
    case "bytes":
    case "websocket": // Its items are whole message payloads already.
      return {
        decoder: { push: (input, out) => void out.push(input), finish: () => {} },
        kind: "bytes",
      };
    default:
      throw new TypeError(`Unknown decoder spec ${JSON.stringify(spec)}`);
  }
}

/** An ordinary stream: its items come from the response body. */
async function openBody(response: HttpResponse, spec: Promise<DecoderSpec>): Promise<Opened> {
  try {
    return {
      response,
      ...buildDecoder(await spec, response),
      read: () => response.readBatch(),
      end: () => {},
      cancel: (reason) => response.cancel(reason),
    };
  } catch (error) {
    response.cancel(error);
    throw error;
  }
}

/**
 * A hijacked session (attach): takes over the upgraded socket and reads
 * the output from it, multiplexed or raw by the same rule as on the main
 * thread (`frameDecoder`: the `Content-Type`, else the spec's TTY flag).
 */
async function openSession(
  state: StreamState,
  response: HttpResponse,
  request: WireRequest,
  spec: Promise<DecoderSpec>,
): Promise<Opened> {
  if (!response.upgraded) {
    response.cancel();
    throw new DockerProtocolError(
      "UNEXPECTED_UPGRADE",
      `Cannot ${request.action}: engine answered ${response.status} without switching protocols`,
    );
  }
  const connection = response.takeConnection().connection;
  state.connection = connection;
  state.close = () => connection.close();
  try {
    const resolved = await spec;
    if (resolved.kind === "websocket") return openWebSocket(state, response, request, resolved);
    const { decoder, kind } = buildDecoder(resolved, response);
    if (state.closed) throw new DockerError("Stream cancelled by its reader");
    return {
      response,
      decoder,
      kind,
      read: async () => {
        let piece: Uint8Array | null;
        try {
          piece = await connection.read();
        } catch (error) {
          // Closed here (cancel): the output just ends.
          if (connection.closed) return null;
          throw sessionBroke(error, host);
        }
        return piece === null ? null : [piece];
      },
      end: () => connection.close(),
      cancel: () => connection.close(),
    };
  } catch (error) {
    connection.close();
    throw error;
  }
}

/**
 * A WebSocket attach: the handshake checked as on the main thread, then
 * the WebSocket run here; each message's payload is one item.
 */
function openWebSocket(
  state: StreamState,
  response: HttpResponse,
  request: WireRequest,
  spec: { accept: string },
): Opened {
  const connection = state.connection!;
  checkWebSocketAccept(response.headers.get("sec-websocket-accept"), spec.accept, request.action);
  const session = webSocketSession(connection);
  const messages = session.readable.getReader();
  state.webSocket = session.writable.getWriter();
  state.close = () => void session.close();
  return {
    response,
    ...buildDecoder({ kind: "bytes" }, response),
    read: async () => {
      let next;
      try {
        next = await messages.read();
      } catch (error) {
        if (connection.closed) return null; // Closed here (cancel): the output just ends.
        throw sessionBroke(error, host);
      }
      // A copy: the payload may be a view into a read buffer the WebSocket
      // still reads from, which a transfer would detach.
      return next.done ? null : [next.value.data.slice()];
    },
    end: () => void session.close(),
    cancel: () => void session.close(),
  };
}

function open(message: OpenMessage): void {
  const abort = new AbortController();
  let resolveSpec!: (spec: DecoderSpec) => void;
  let rejectSpec!: (error: unknown) => void;
  const spec = new Promise<DecoderSpec>((resolve, reject) => {
    resolveSpec = resolve;
    rejectSpec = reject;
  });
  spec.catch(() => {});
  if (message.spec !== undefined) resolveSpec(message.spec);
  const state: StreamState = {
    id: message.id,
    action: message.request.action,
    abort,
    opened: undefined as unknown as Promise<Opened>,
    close: undefined,
    connection: undefined,
    writes: Promise.resolve(),
    writeClosed: false,
    resolveSpec,
    rejectSpec,
    credit: 0,
    wake: undefined,
    running: undefined,
    closed: false,
    held: [],
    heldBytes: 0,
    lastPost: -Infinity,
    flushTimer: undefined,
    kind: "values",
  };
  const { request } = message;
  (state as { opened: Promise<Opened> }).opened = (async () => {
    if (!client) throw new DockerError("Stream worker used before init");
    const response = await client.request({
      method: request.method,
      target: request.target,
      headers: request.headers ?? {},
      body: request.body,
      signal: abort.signal,
      longLived: request.longLived === true,
      ...(request.idempotent !== undefined ? { idempotent: request.idempotent } : {}),
      ...(request.headersTimeout !== undefined ? { headersTimeout: request.headersTimeout } : {}),
      ...(request.upgrade !== undefined ? { upgrade: request.upgrade } : {}),
    });
    state.close = (reason) => response.cancel(reason);
    if (isErrorStatus(response.status)) {
      throw await apiError(
        response,
        { method: request.method, action: request.action, signal: abort.signal },
        request.target,
      );
    }
    return request.upgrade !== undefined
      ? await openSession(state, response, request, spec)
      : await openBody(response, spec);
  })();
  // Consumed by the first pull; this only keeps an unread failure quiet.
  state.opened.catch(() => {});
  streams.set(message.id, state);
  if (message.head !== undefined) reportHead(state, message.head);
}

/**
 * Sends the response head (with the header fields asked for) as soon as
 * the request succeeded, or the failure at once: the caller waits for it
 * before it has a stream to read.
 */
function reportHead(state: StreamState, fields: string[]): void {
  state.opened.then(
    ({ response }) => {
      if (state.closed) return;
      const headers: Record<string, string> = {};
      for (const name of fields) {
        const value = response.headers.get(name);
        if (value !== null) headers[name] = value;
      }
      const message: HeadMessage = {
        type: "head",
        id: state.id,
        status: response.status,
        statusText: response.statusText,
        headers,
      };
      scope.postMessage(message);
    },
    (error) => {
      if (!state.closed && streams.get(state.id) === state) finish(state, error);
    },
  );
}

/**
 * Carries out a session's `write` or `closeWrite` after the ones before it
 * and answers it: with no error once the bytes are written (or the write
 * side half-closed), with a `DockerConnectionError` when the socket failed
 * or the session is gone (its output ended, or it was closed).
 */
function write(message: WriteMessage | CloseWriteMessage): void {
  const state = streams.get(message.id);
  const carryOut = async () => {
    const connection = state?.connection;
    if (state?.webSocket) return await writeWebSocket(state, state.webSocket, message);
    if (message.type === "closeWrite") {
      // As on the main thread: a closed session has nothing to half-close.
      if (!state || !connection || state.writeClosed || connection.closed) return;
      state.writeClosed = true;
      try {
        await connection.closeWrite();
      } catch (error) {
        if (!connection.closed) throw sessionBroke(error, host);
      }
      return;
    }
    if (!connection || connection.closed) {
      throw sessionBroke(new Error("the session is closed"), host);
    }
    try {
      await connection.write(new Uint8Array(message.data));
    } catch (error) {
      throw sessionBroke(error, host);
    }
  };
  const answer = (error?: unknown) => {
    const reply: WrittenMessage = { type: "written", id: message.id, seq: message.seq };
    if (error !== undefined) reply.error = serializeError(error);
    scope.postMessage(reply);
  };
  const next = () => carryOut().then(() => answer(), answer);
  if (state) state.writes = state.writes.then(next);
  else next();
}

const textDecoder = new TextDecoder();

/**
 * A WebSocket session's `write` (a text or binary message) or `closeWrite`
 * (a close frame: end of stdin, while output keeps arriving).
 */
async function writeWebSocket(
  state: StreamState,
  writer: WritableStreamDefaultWriter<Uint8Array | string>,
  message: WriteMessage | CloseWriteMessage,
): Promise<void> {
  if (message.type === "closeWrite") {
    if (state.writeClosed || state.connection?.closed) return;
    state.writeClosed = true;
    await writer.close().catch(() => {});
    return;
  }
  if (state.writeClosed || state.connection?.closed) {
    throw new DockerError("WebSocket session is closed"); // As on the main thread.
  }
  const data = new Uint8Array(message.data);
  try {
    await writer.write(message.text ? textDecoder.decode(data) : data);
  } catch (error) {
    throw sessionBroke(error, host);
  }
}

/** Adds credit from a `pull`; the first one starts the reader loop. */
function grant(state: StreamState, credit: number): void {
  state.credit += credit;
  if (!state.running) state.running = run(state);
  else state.wake?.();
}

/**
 * The reader loop of one stream: reads a batch (at least one item, or the
 * end) and sends it, or holds it to send with the next ones, and goes on
 * while the main side's credit lasts. Reads land in buffers of their own
 * (`useExclusiveReadBuffers`), so a batch can be sent, its buffers
 * transferred, while the next read is in flight.
 */
async function run(state: StreamState): Promise<void> {
  let opened: Opened;
  try {
    opened = await state.opened;
  } catch (error) {
    if (!state.closed) finish(state, error);
    return;
  }
  const { decoder, kind } = opened;
  state.kind = kind;
  while (!state.closed) {
    if (state.credit <= 0) {
      // The main side gives credit back only for what it has received.
      flush(state);
      await new Promise<void>((resolve) => state.wake = resolve);
      state.wake = undefined;
      continue;
    }
    // Not `state.held`: a flush during the read replaces that array.
    const out: unknown[] = [];
    let bytes = 0;
    let done = false;
    try {
      while (out.length === 0) {
        const batch = await opened.read();
        if (state.closed) return;
        try {
          if (batch === null) {
            decoder.finish(out);
            done = true;
            break;
          }
          for (const piece of batch) {
            bytes += piece.byteLength;
            decoder.push(piece, out);
          }
        } catch (error) {
          // The body's bytes are not what the call expects: say which call.
          throw protocolErrorIn(error, `Cannot ${state.action}`);
        }
      }
    } catch (error) {
      // A cancel closed the socket under the read: nobody waits for this.
      if (state.closed) return;
      // Unread bytes remain: the connection cannot be reused.
      opened.cancel(error);
      hold(state, out, bytes);
      finish(state, error);
      return;
    }
    state.credit -= bytes;
    hold(state, out, bytes);
    if (done) {
      streams.delete(state.id);
      opened.end();
      flush(state, true);
      return;
    }
    const now = performance.now();
    if (state.heldBytes >= COALESCE_BYTES || now - state.lastPost >= QUIET_MS) flush(state);
    else state.flushTimer ??= setTimeout(() => flush(state), FLUSH_MS);
  }
}

/** Adds what one read produced to the held items. */
function hold(state: StreamState, out: unknown[], bytes: number): void {
  const held = state.held;
  for (let i = 0; i < out.length; i++) held.push(out[i]);
  state.heldBytes += bytes;
}

/** Sends the held items (if any, or the end). */
function flush(state: StreamState, done = false, error?: unknown): void {
  if (state.flushTimer !== undefined) {
    clearTimeout(state.flushTimer);
    state.flushTimer = undefined;
  }
  if (state.closed || (state.held.length === 0 && !done && error === undefined)) return;
  const out = state.held;
  const message: BatchMessage = {
    type: "batch",
    id: state.id,
    kind: state.kind,
    done,
    bytes: state.heldBytes,
  };
  if (error !== undefined) {
    message.error = error instanceof SpecFailed ? "local" : serializeError(error);
  }
  state.held = [];
  state.heldBytes = 0;
  state.lastPost = performance.now();
  post(message, out);
}

/** Ends a stream with an error, after the items held so far. */
function finish(state: StreamState, error: unknown): void {
  streams.delete(state.id);
  flush(state, false, error);
}

/** Posts a batch, packing byte items into transferred buffers. */
function post(message: BatchMessage, out: unknown[]): void {
  if (message.kind === "values") {
    message.values = out;
    send(message);
    return;
  }
  const frames = message.kind === "frames";
  const count = out.length;
  const layout = new Uint32Array(count * 4);
  // Bytes of each distinct buffer the items point into.
  const used = new Map<ArrayBuffer, number>();
  for (let i = 0; i < count; i++) {
    const data = frames ? (out[i] as Frame).data : out[i] as Uint8Array;
    const buffer = data.buffer as ArrayBuffer;
    used.set(buffer, (used.get(buffer) ?? 0) + data.byteLength);
  }
  const buffers: ArrayBuffer[] = [];
  const index = new Map<ArrayBuffer, number>();
  // Small pieces of a large buffer are copied together into one buffer.
  let compact: Uint8Array | undefined;
  let compactOffset = 0;
  let compactIndex = -1;
  let compactSize = 0;
  for (const [buffer, bytes] of used) {
    if (bytes <= COPY_LIMIT && bytes * 4 <= buffer.byteLength) compactSize += bytes;
    else {
      index.set(buffer, buffers.length);
      buffers.push(buffer);
    }
  }
  if (compactSize > 0) {
    compact = new Uint8Array(compactSize);
    compactIndex = buffers.length;
    buffers.push(compact.buffer as ArrayBuffer);
  }
  for (let i = 0; i < count; i++) {
    const item = out[i];
    const data = frames ? (item as Frame).data : item as Uint8Array;
    const at = i * 4;
    layout[at] = frames ? STREAM_CODE[(item as Frame).stream] : 0;
    const bufferIndex = index.get(data.buffer as ArrayBuffer);
    if (bufferIndex !== undefined) {
      layout[at + 1] = bufferIndex;
      layout[at + 2] = data.byteOffset;
    } else {
      compact!.set(data, compactOffset);
      layout[at + 1] = compactIndex;
      layout[at + 2] = compactOffset;
      compactOffset += data.byteLength;
    }
    layout[at + 3] = data.byteLength;
  }
  message.layout = layout;
  message.buffers = buffers;
  send(message, [layout.buffer, ...buffers]);
}

/**
 * Posts a batch. Should it not be cloneable (a bug, not an input: JSON
 * values always are), the stream fails with that error instead of the
 * worker, which would take its other streams down with it.
 */
function send(message: BatchMessage, transfer: Transferable[] = []): void {
  try {
    scope.postMessage(message, transfer);
  } catch (error) {
    const state = streams.get(message.id);
    if (state) {
      state.closed = true;
      state.abort.abort(error);
      streams.delete(message.id);
    }
    scope.postMessage({
      type: "batch",
      id: message.id,
      kind: "values",
      done: false,
      bytes: message.bytes,
      error: serializeError(error),
    });
  }
}

/** Stops a stream: aborts its request or closes its socket, then acknowledges. */
async function cancel(id: number): Promise<void> {
  const state = streams.get(id);
  if (state) {
    streams.delete(id);
    state.closed = true;
    const reason = new DockerError("Stream cancelled by its reader");
    state.rejectSpec(reason);
    state.abort.abort(reason);
    state.close?.(reason);
    if (state.flushTimer !== undefined) clearTimeout(state.flushTimer);
    state.held = [];
    state.wake?.();
    // A read in flight ends now (its socket is closed); wait for the loop
    // and the writes so that `closed` means nothing more happens on that socket.
    await state.running;
    await state.writes;
  }
  scope.postMessage({ type: "closed", id });
}

scope.onmessage = (event) => {
  const message = event.data;
  switch (message.type) {
    case "init":
      init(message.settings);
      break;
    case "open":
      open(message);
      break;
    case "spec":
      streams.get(message.id)?.resolveSpec(message.spec);
      break;
    case "specFailed":
      streams.get(message.id)?.rejectSpec(new SpecFailed());
      break;
    case "pull":
      // A stream that already ended may still get credit sent before its
      // last batch arrived: nothing to do then.
      {
        const state = streams.get(message.id);
        if (state) grant(state, message.credit);
      }
      break;
    case "cancel":
      cancel(message.id);
      break;
    case "write":
    case "closeWrite":
      write(message);
      break;
  }
};
