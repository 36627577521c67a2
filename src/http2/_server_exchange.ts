/**
 * A streamed request of berth's HTTP/2 server (the `streaming` option): its
 * body handed to the handler as DATA arrives, and the answer written piece
 * by piece, in call order, within the peer's windows.
 *
 * @module
 */

import { frame, Inbound } from "./_buffers.ts";
import { fieldValue } from "./_fields.ts";
import { Code, END_STREAM, Type } from "./_server_protocol.ts";
import type { Stream } from "./_server_streams.ts";
import type { Http2Exchange, Http2StreamHandler } from "./types.ts";

/** What a streamed exchange asks of its connection. */
export interface ExchangeHost {
  /** Whether the connection is closing or closed: nothing more goes out. */
  closed(): boolean;
  /** Gives bytes the handler read back to the stream's window. */
  giveBack(stream: Stream, size: number): void;
  /** Queues a frame for the wire. */
  send(bytes: Uint8Array): void;
  /** Sends a header section (HEADERS, then CONTINUATION frames if needed). */
  sendHeaders(streamId: number, fields: [string, string][], endStream: boolean): void;
  /**
   * Sends `body` in DATA frames within the windows, END_STREAM on the last when `last`.
   *
   * @returns `false` when the stream or connection closed first.
   */
  sendData(stream: Stream, body: Uint8Array, last: boolean): Promise<boolean>;
  /** Resets the stream with `code`. */
  reset(streamId: number, code: Code): void;
  /** The stream is done with: it closes and leaves the connection's streams. */
  forget(stream: Stream): void;
}

/** Hands a new stream's request to a streaming handler as it arrives. */
export function startExchange(
  stream: Stream,
  handler: Http2StreamHandler,
  host: ExchangeHost,
): void {
  const inbound = new Inbound((size) => host.giveBack(stream, size));
  stream.inbound = inbound;
  const fields = stream.headers ?? [];
  let headSent = false;
  let ended = false;
  let sending: Promise<unknown> = Promise.resolve();
  const gone = () => inbound.signal.reason ?? new Error("The HTTP/2 stream was closed");
  const sendHead = (status: number, headers: readonly [string, string][]) => {
    if (headSent) return;
    headSent = true;
    host.sendHeaders(stream.id, [[":status", String(status)], ...headers], false);
  };
  /** Why nothing more can be sent, if so. */
  const refusal = (): Error | undefined => {
    if (stream.closed || host.closed()) return gone();
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
        if (!await host.sendData(stream, bytes, false)) throw gone();
      });
    },
    end: (trailers = []) => {
      const refused = refusal();
      if (refused) return Promise.reject(refused);
      sendHead(200, []);
      ended = true;
      return queue(() => {
        if (stream.closed || host.closed()) throw gone();
        if (trailers.length > 0) host.sendHeaders(stream.id, [...trailers], true);
        else host.send(frame(Type.Data, END_STREAM, stream.id, new Uint8Array(0)));
        if (!stream.remoteEnded) {
          // Answered before the request ended: ask the peer to stop (§8.1).
          inbound.end();
          host.reset(stream.id, Code.NoError);
        }
        host.forget(stream);
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
    if (!stream.closed && !host.closed()) host.reset(stream.id, code);
  })();
}
