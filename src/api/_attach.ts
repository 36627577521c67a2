/**
 * Attaching to a container's main process: over a hijacked HTTP connection
 * (`POST /containers/{id}/attach`) or over a WebSocket
 * (`GET /containers/{id}/attach/ws`). The methods on {@linkcode Containers}
 * document the calls; this module holds the work.
 *
 * @module
 */

import { ttyMode } from "./_frames.ts";
import { DockerProtocolError } from "../errors.ts";
import type { Connection } from "../http/connection.ts";
import type { HttpResponse } from "../http/response.ts";
import {
  checkWebSocketAccept,
  webSocketAccept,
  webSocketKey,
  type WebSocketMessage,
  webSocketSession,
} from "../stream/websocket.ts";
import {
  type ApiCall,
  type ApiClient,
  containerSegment,
  type StreamOptions,
  withSignal,
} from "./_client.ts";
import { type HijackedSession, hijackedSession, throwIfAborted } from "./_session.ts";

/**
 * Options of {@linkcode Containers.attach}. With `worker` the session runs
 * in a stream worker, which opens the attach itself (a socket cannot move
 * between threads), decodes the output there and writes the stdin chunks
 * sent to it; the session looks the same.
 */
export interface ContainerAttachOptions extends StreamOptions {
  /**
   * Send the session's `writable` to the process's stdin. The container
   * needs `OpenStdin: true`; with `StdinOnce: true` (and no TTY) closing
   * `writable` closes the process's stdin, so `cat` sees EOF. With a TTY
   * (or without `StdinOnce`) closing `writable` ends the session's output
   * instead and the process does not see EOF; a TTY process's input ends
   * as on a terminal, with the EOF character Ctrl-D (`"\x04"`) at the
   * start of a line. @default false
   */
  stdin?: boolean;
  /** Receive stdout. @default true */
  stdout?: boolean;
  /** Receive stderr. @default true */
  stderr?: boolean;
  /** Stream output from now on (until the process ends or the session closes). @default true */
  stream?: boolean;
  /** First replay the output logged so far. @default false */
  logs?: boolean;
  /**
   * Key sequence that detaches the session (TTY only), such as
   * `ctrl-p,ctrl-q` or `ctrl-x,x`. The engine only looks for it in stdin
   * reads of a single byte.
   * @default the engine's, `ctrl-p,ctrl-q`
   */
  detachKeys?: string;
  /**
   * Whether the container has a TTY (output is then raw, not multiplexed).
   * When unset berth asks the engine, concurrently with the attach request.
   */
  tty?: boolean;
}

/** An attached session with a container's main process. */
export interface ContainerAttachSession extends HijackedSession {
  /** The container id or name the session is attached to. */
  readonly id: string;
  /**
   * Resizes the container's TTY (`POST /containers/{id}/resize`).
   *
   * @param rows Terminal height.
   * @param columns Terminal width.
   */
  resize(rows: number, columns: number): Promise<void>;
}

/**
 * Options of {@linkcode Containers.attachWebSocket}. With `worker` the
 * WebSocket runs in a stream worker, which opens the attach and checks the
 * handshake itself; the session looks the same.
 */
export interface ContainerAttachWebSocketOptions extends StreamOptions {
  /** First replay the output logged so far. @default false */
  logs?: boolean;
  /** Stream output from now on. @default true */
  stream?: boolean;
  /** Key sequence that detaches the session (TTY only), such as `ctrl-p,ctrl-q`. */
  detachKeys?: string;
}

/**
 * A WebSocket session with a container's main process. The engine attaches
 * stdin, stdout and stderr; output arrives raw (stdout and stderr are not
 * told apart over a WebSocket). Aborting the `signal` of the call that
 * opened it closes the WebSocket: the next read of `readable` rejects with
 * `signal.reason` (output received but not read yet is dropped), and so do
 * writes to `writable`. Its own `close()` (or cancelling `readable`) ends
 * the output quietly instead.
 */
export interface ContainerWebSocketSession extends AsyncDisposable {
  /**
   * The process's output: the payload of each message the engine sends.
   * Ends when the engine closes the WebSocket (the process ended), or when
   * the session is closed.
   */
  readonly readable: ReadableStream<Uint8Array>;
  /**
   * The process's stdin: strings go as text messages, bytes as binary
   * messages. Closing it sends a close frame, which the engine takes as
   * end of stdin while output keeps arriving.
   */
  readonly writable: WritableStream<Uint8Array | string>;
  /** Sends a close frame and closes the connection; never rejects. */
  close(): Promise<void>;
}

/** Takes over the connection of a response that should have switched protocols. */
function takeUpgraded(response: HttpResponse, call: ApiCall): Connection {
  if (!response.upgraded) {
    response.cancel();
    throw new DockerProtocolError(
      "UNEXPECTED_UPGRADE",
      `Cannot ${call.action}: engine answered ${response.status} without switching protocols`,
    );
  }
  return response.takeConnection().connection;
}

/** Sends the attach on this thread, or has a stream worker open it. */
async function openSession(
  api: ApiClient,
  call: ApiCall,
  options: ContainerAttachOptions,
  tty: Promise<boolean>,
): Promise<HijackedSession> {
  if (api.inWorker(options)) {
    // The worker makes the same choice (`frameDecoder`): the Content-Type,
    // else the TTY mode looked up here while the attach request runs.
    return await api.sessionInWorker(call, tty.then((raw) => ({ kind: "frames", tty: raw })));
  }
  const response = await api.send(call);
  const connection = takeUpgraded(response, call);
  let raw: boolean;
  try {
    // API 1.42+ engines label multiplexed output; 1.41 calls both kinds raw.
    const multiplexed = (response.headers.get("content-type") ?? "").includes(
      "multiplexed-stream",
    );
    raw = !multiplexed && await tty;
  } catch (error) {
    connection.close();
    throw error;
  }
  return hijackedSession(connection, raw, api.host, options.signal);
}

/**
 * `POST /containers/{id}/attach`, hijacked: on this thread, or in a stream
 * worker when `options.worker` (or the client's default) says so.
 *
 * @param api The API client.
 * @param id Container id or name.
 * @param options Streams, `tty`, `signal`, `worker`.
 * @param lookupTty Asks the engine whether the container has a TTY, with
 *   the signal that calls the question off (the caller's, or the attach
 *   failing first).
 * @param resize Resizes the container's TTY.
 * @returns The session.
 */
export async function attach(
  api: ApiClient,
  id: string,
  options: ContainerAttachOptions,
  lookupTty: (signal: AbortSignal) => Promise<boolean>,
  resize: (rows: number, columns: number) => Promise<void>,
): Promise<ContainerAttachSession> {
  const call: ApiCall = {
    method: "POST",
    path: `/containers/${containerSegment(id)}/attach`,
    query: {
      stdin: options.stdin ?? false,
      stdout: options.stdout ?? true,
      stderr: options.stderr ?? true,
      stream: options.stream ?? true,
      logs: options.logs ?? false,
      detachKeys: options.detachKeys,
    },
    upgrade: true,
    signal: options.signal,
    action: `attach to container "${id}"`,
  };
  const lookups = new AbortController();
  const tty = ttyMode(
    options.tty,
    () => lookupTty(withSignal(options.signal, lookups.signal)),
  );
  let session: HijackedSession;
  try {
    session = await openSession(api, call, options, tty);
  } catch (error) {
    // The TTY lookup is a request of its own: none outlives the failed call.
    lookups.abort(error);
    await tty.then(() => {}, () => {});
    throw error;
  }
  // The session watches the signal itself (an abort fails its streams).
  throwIfAborted(session, options.signal);
  return { ...session, id, resize };
}

/**
 * `GET /containers/{id}/attach/ws`: the WebSocket handshake (key sent,
 * `Sec-WebSocket-Accept` checked), then the session.
 *
 * @param api The API client.
 * @param id Container id or name.
 * @param options `logs`, `stream`, `detachKeys`, `signal`, `worker`.
 * @returns The session.
 */
export async function attachWebSocket(
  api: ApiClient,
  id: string,
  options: ContainerAttachWebSocketOptions,
): Promise<ContainerWebSocketSession> {
  const key = webSocketKey();
  const call: ApiCall = {
    method: "GET",
    path: `/containers/${containerSegment(id)}/attach/ws`,
    query: {
      logs: options.logs ?? false,
      stream: options.stream ?? true,
      detachKeys: options.detachKeys,
      // API 1.42+ attaches only the streams named (none when unnamed);
      // older engines attach all three and ignore these.
      stdin: true,
      stdout: true,
      stderr: true,
    },
    headers: { "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13" },
    upgrade: true,
    upgradeProtocol: "websocket",
    signal: options.signal,
    action: `attach to container "${id}" over a WebSocket`,
  };
  // Computed before the call is sent: the digest is an async op of its
  // own, which a failed call would otherwise leave running behind it.
  const expected = await webSocketAccept(key);
  const signal = options.signal;
  if (api.inWorker(options)) {
    // The worker's session watches the signal itself (an abort fails its streams).
    const remote = await api.webSocketInWorker(call, expected);
    if (signal?.aborted) {
      await remote.close();
      throw signal.reason;
    }
    return { ...remote, [Symbol.asyncDispose]: remote.close };
  }
  const response = await api.send(call);
  if (response.status !== 101) {
    response.cancel();
    throw new DockerProtocolError(
      "UNEXPECTED_UPGRADE",
      `Cannot ${call.action}: engine answered ${response.status} instead of 101 Switching Protocols`,
    );
  }
  const connection = takeUpgraded(response, call);
  try {
    checkWebSocketAccept(response.headers.get("sec-websocket-accept"), expected, call.action);
    if (signal?.aborted) throw signal.reason;
  } catch (error) {
    connection.close();
    throw error;
  }
  return webSocketOnConnection(connection, signal);
}

/**
 * Runs the WebSocket over an upgraded connection, as the session the
 * caller gets: messages become their payloads, and an abort of `signal`
 * closes the WebSocket and fails the output and stdin with its reason,
 * as for a hijacked session ({@linkcode hijackedSession}).
 */
function webSocketOnConnection(
  connection: Connection,
  signal: AbortSignal | undefined,
): ContainerWebSocketSession {
  const session = webSocketSession(connection);
  /** Set by an abort of the signal: what reads and writes fail with. */
  let aborted: { reason: unknown } | undefined;
  /**
   * Stops watching the signal once the caller closes the session
   * (`close()`, cancelling `readable`, aborting `writable`) or the
   * connection closes (the output is over): an abort then changes nothing.
   */
  let end = () => {};
  const close = () => {
    end();
    return session.close();
  };
  // Messages become their payloads; pulled one at a time, so the socket is
  // read only as fast as the consumer reads.
  const messages = session.readable.getReader();
  let readController!: ReadableStreamDefaultController<Uint8Array>;
  const readable = new ReadableStream<Uint8Array>({
    start: (controller) => {
      readController = controller;
    },
    pull: async (controller) => {
      let next: ReadableStreamReadResult<WebSocketMessage>;
      try {
        next = await messages.read();
      } catch (error) {
        // The abort has failed the stream already.
        if (aborted) return;
        throw error;
      }
      if (aborted) return;
      if (next.done) controller.close();
      else controller.enqueue(next.value.data);
    },
    cancel: (reason) => {
      end();
      return messages.cancel(reason);
    },
  }, { highWaterMark: 0 });
  // The session's own writable, behind one that an abort can fail.
  const stdin = session.writable.getWriter();
  let writeController!: WritableStreamDefaultController;
  const writable = new WritableStream<Uint8Array | string>({
    start: (controller) => {
      writeController = controller;
    },
    write: async (chunk) => {
      try {
        await stdin.write(chunk);
      } catch (error) {
        // A write the abort cut short fails as later ones do.
        throw aborted ? aborted.reason : error;
      }
    },
    close: () => stdin.close(),
    abort: (reason) => {
      end();
      return stdin.abort(reason);
    },
  });
  if (signal) {
    // The WebSocket closes as after `close()` (the close frame, then the
    // socket), and both streams fail at once with the reason.
    const abort = () => {
      aborted = { reason: signal.reason };
      readController.error(signal.reason);
      writeController.error(signal.reason);
      void session.close();
    };
    signal.addEventListener("abort", abort, { once: true });
    end = () => signal.removeEventListener("abort", abort);
    // However the session ends, the WebSocket closes the connection.
    connection.onClose(end);
  }
  return { readable, writable, close, [Symbol.asyncDispose]: close };
}
