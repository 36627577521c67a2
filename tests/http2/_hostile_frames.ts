/**
 * Hostile HTTP/2 frame sequences for the serveHttp2 fuzz tests, each with
 * the answer RFC 9113 asks for: a connection error (GOAWAY) or a stream
 * error (RST_STREAM) with a given code.
 *
 * @module
 */

import { encodeHeaderBlock } from "../../src/http2/hpack.ts";
import type { Http2ServerOptions, Http2StreamHandler } from "../../src/http2/server.ts";
import {
  ACK,
  CANCEL,
  COMPRESSION_ERROR,
  concat,
  CONTINUATION,
  DATA,
  END_HEADERS,
  END_STREAM,
  type Fields,
  FLOW_CONTROL_ERROR,
  frame,
  FRAME_SIZE_ERROR,
  GOAWAY,
  HEADERS,
  PADDED,
  PING,
  PRIORITY,
  PROTOCOL_ERROR,
  PUSH_PROMISE,
  REFUSED_STREAM,
  requestFields,
  RST_STREAM,
  SETTINGS,
  SETTINGS_ENABLE_PUSH,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_FRAME_SIZE,
  settingsFrame,
  STREAM_CLOSED,
  u32,
  WINDOW_UPDATE,
  windowUpdate,
} from "./_client.ts";

/** A hostile frame sequence and the answer RFC 9113 asks for. */
export interface Hostile {
  name: string;
  /** What follows the preface and an empty SETTINGS. */
  frames: () => Uint8Array[];
  /** A connection error with this code, or a stream error on `stream`. */
  expect: { goaway: number } | { rst: number; stream: number };
  options?: Http2ServerOptions;
  /** For a stream error: frames to send before the request that shows the connection works. */
  then?: () => Uint8Array[];
}

/** A header block for the hostile cases (static table only). */
export const encode = (fields: Fields): Uint8Array => encodeHeaderBlock(fields);
/** Opens stream 1, streamed, without ending it. */
export const open1 = () => frame(HEADERS, END_HEADERS, 1, encode(requestFields("/s/1")));
/** A streamed handler that never reads: the body just queues until the stream ends. */
export const neverReads: Http2StreamHandler = (exchange) =>
  new Promise<void>((resolve) => exchange.signal.addEventListener("abort", () => resolve()));
/** Paths under `/s/` go to {@linkcode neverReads}. */
const streamingOnly: Http2ServerOptions = {
  streaming: (path) => path.startsWith("/s/") ? neverReads : undefined,
};

export const HOSTILE: Hostile[] = [
  {
    name: "a frame over 16384 bytes",
    frames: () => [frame(DATA, 0, 1, new Uint8Array(16_385))],
    expect: { goaway: FRAME_SIZE_ERROR },
  },
  {
    name: "a frame length of 2^24 - 1, header only",
    frames: () => [Uint8Array.of(0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1)],
    expect: { goaway: FRAME_SIZE_ERROR },
  },
  {
    name: "HEADERS on stream 0",
    frames: () => [frame(HEADERS, END_HEADERS, 0, encode(requestFields("/")))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "HEADERS on an even stream",
    frames: () => [frame(HEADERS, END_HEADERS, 2, encode(requestFields("/")))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "HEADERS on a stream below the last one",
    frames: () => [
      open1(),
      frame(HEADERS, END_HEADERS, 5, encode(requestFields("/"))),
      frame(HEADERS, END_HEADERS, 3, encode(requestFields("/"))),
    ],
    expect: { goaway: STREAM_CLOSED },
    options: streamingOnly,
  },
  {
    name: "CONTINUATION without HEADERS",
    frames: () => [frame(CONTINUATION, END_HEADERS, 1, encode(requestFields("/")))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "CONTINUATION on another stream",
    frames:
      () => [frame(HEADERS, 0, 1, encode(requestFields("/"))), frame(CONTINUATION, END_HEADERS, 3)],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "PING inside a header block",
    frames: () => [
      frame(HEADERS, 0, 1, encode(requestFields("/"))),
      frame(PING, 0, 0, new Uint8Array(8)),
    ],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "HEADERS of another stream inside a header block",
    frames: () => [
      frame(HEADERS, 0, 1, encode(requestFields("/"))),
      frame(HEADERS, END_HEADERS, 3, encode(requestFields("/"))),
    ],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "endless CONTINUATION frames past twice the header list limit",
    frames: () => [
      frame(HEADERS, 0, 1),
      ...Array.from({ length: 10 }, () => frame(CONTINUATION, 0, 1, new Uint8Array(16_384))),
    ],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "DATA on stream 0",
    frames: () => [frame(DATA, 0, 0, Uint8Array.of(1))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "DATA on an idle stream",
    frames: () => [frame(DATA, END_STREAM, 1, Uint8Array.of(1))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "DATA padding as long as the payload",
    frames: () => [open1(), frame(DATA, PADDED, 1, Uint8Array.of(3, 0, 0))],
    expect: { goaway: PROTOCOL_ERROR },
    options: streamingOnly,
  },
  {
    name: "DATA after END_STREAM",
    frames: () => [
      frame(HEADERS, END_HEADERS | END_STREAM, 1, encode(requestFields("/s/1"))),
      frame(DATA, 0, 1, Uint8Array.of(1)),
    ],
    expect: { rst: STREAM_CLOSED, stream: 1 },
    options: streamingOnly,
  },
  {
    name: "DATA past the stream window to a handler that never reads",
    frames: () => [
      open1(),
      ...Array.from({ length: 5 }, () => frame(DATA, 0, 1, new Uint8Array(16_384))),
    ],
    expect: { rst: FLOW_CONTROL_ERROR, stream: 1 },
    options: streamingOnly,
  },
  {
    // The peer may go by the default window until it has the server's SETTINGS.
    name: "DATA past the default stream window, padding included",
    frames: () => [
      open1(),
      ...Array.from({ length: 4 }, () => frame(DATA, 0, 1, new Uint8Array(16_320))),
      frame(DATA, PADDED, 1, concat(Uint8Array.of(255), new Uint8Array(255))),
    ],
    expect: { rst: FLOW_CONTROL_ERROR, stream: 1 },
    options: { ...streamingOnly, initialWindowSize: 1000 },
  },
  {
    name: "a connection window over 2^31 - 1",
    frames: () => [windowUpdate(0, 2 ** 31 - 1)],
    expect: { goaway: FLOW_CONTROL_ERROR },
  },
  {
    name: "a stream window over 2^31 - 1",
    frames: () => [open1(), windowUpdate(1, 2 ** 31 - 1)],
    expect: { rst: FLOW_CONTROL_ERROR, stream: 1 },
    options: streamingOnly,
  },
  {
    name: "a zero connection window increment",
    frames: () => [windowUpdate(0, 0)],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "a zero stream window increment",
    frames: () => [open1(), windowUpdate(1, 0)],
    expect: { rst: PROTOCOL_ERROR, stream: 1 },
    options: streamingOnly,
  },
  {
    name: "a WINDOW_UPDATE of 3 bytes",
    frames: () => [frame(WINDOW_UPDATE, 0, 0, new Uint8Array(3))],
    expect: { goaway: FRAME_SIZE_ERROR },
  },
  {
    name: "WINDOW_UPDATE on an idle stream",
    frames: () => [windowUpdate(9, 1)],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "SETTINGS_INITIAL_WINDOW_SIZE of 2^31",
    frames: () => [settingsFrame([[SETTINGS_INITIAL_WINDOW_SIZE, 2 ** 31]])],
    expect: { goaway: FLOW_CONTROL_ERROR },
  },
  {
    name: "SETTINGS_INITIAL_WINDOW_SIZE that overflows an open stream's window",
    frames: () => [
      open1(),
      windowUpdate(1, 2 ** 31 - 65_536),
      settingsFrame([[SETTINGS_INITIAL_WINDOW_SIZE, 65_536]]),
    ],
    expect: { goaway: FLOW_CONTROL_ERROR },
    options: streamingOnly,
  },
  {
    name: "SETTINGS_MAX_FRAME_SIZE of 16383",
    frames: () => [settingsFrame([[SETTINGS_MAX_FRAME_SIZE, 16_383]])],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "SETTINGS_MAX_FRAME_SIZE of 2^24",
    frames: () => [settingsFrame([[SETTINGS_MAX_FRAME_SIZE, 2 ** 24]])],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "SETTINGS_ENABLE_PUSH of 2",
    frames: () => [settingsFrame([[SETTINGS_ENABLE_PUSH, 2]])],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "SETTINGS of 7 bytes",
    frames: () => [frame(SETTINGS, 0, 0, new Uint8Array(7))],
    expect: { goaway: FRAME_SIZE_ERROR },
  },
  {
    name: "SETTINGS on a stream",
    frames: () => [frame(SETTINGS, 0, 1)],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "a SETTINGS ACK with a payload",
    frames: () => [frame(SETTINGS, ACK, 0, new Uint8Array(6))],
    expect: { goaway: FRAME_SIZE_ERROR },
  },
  {
    name: "PING of 7 bytes",
    frames: () => [frame(PING, 0, 0, new Uint8Array(7))],
    expect: { goaway: FRAME_SIZE_ERROR },
  },
  {
    name: "PING on a stream",
    frames: () => [frame(PING, 0, 1, new Uint8Array(8))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "RST_STREAM on stream 0",
    frames: () => [frame(RST_STREAM, 0, 0, u32(0))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "RST_STREAM on an idle stream",
    frames: () => [frame(RST_STREAM, 0, 7, u32(0))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "RST_STREAM of 5 bytes",
    frames: () => [frame(RST_STREAM, 0, 1, new Uint8Array(5))],
    expect: { goaway: FRAME_SIZE_ERROR },
  },
  {
    name: "PUSH_PROMISE",
    frames: () => [frame(PUSH_PROMISE, END_HEADERS, 1, u32(2))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "GOAWAY on a stream",
    frames: () => [frame(GOAWAY, 0, 1, u32(0, 0))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "GOAWAY of 7 bytes",
    frames: () => [frame(GOAWAY, 0, 0, new Uint8Array(7))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "PRIORITY on stream 0",
    frames: () => [frame(PRIORITY, 0, 0, new Uint8Array(5))],
    expect: { goaway: PROTOCOL_ERROR },
  },
  {
    name: "PRIORITY of 4 bytes",
    frames: () => [frame(PRIORITY, 0, 3, new Uint8Array(4))],
    expect: { rst: FRAME_SIZE_ERROR, stream: 3 },
  },
  {
    name: "HPACK index 0",
    frames: () => [frame(HEADERS, END_HEADERS | END_STREAM, 1, Uint8Array.of(0x80))],
    expect: { goaway: COMPRESSION_ERROR },
  },
  {
    name: "an HPACK string of 2^32 - 1 octets",
    frames: () => [
      frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        Uint8Array.of(0x00, 0x7f, 0x80, 0xff, 0xff, 0xff, 0x0f, 0x61),
      ),
    ],
    expect: { goaway: COMPRESSION_ERROR },
  },
  {
    name: "a header list over maxHeaderListSize",
    frames: () => [
      frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        encode([...requestFields("/"), ["x", "y".repeat(2000)]]),
      ),
    ],
    expect: { goaway: COMPRESSION_ERROR },
    options: { maxHeaderListSize: 1000 },
  },
  {
    name: "a connection-specific field in a request",
    frames: () => [
      frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        encode([...requestFields("/"), ["connection", "close"]]),
      ),
    ],
    expect: { rst: PROTOCOL_ERROR, stream: 1 },
  },
  {
    name: "a pseudo-header field in trailers",
    frames: () => [open1(), frame(HEADERS, END_HEADERS | END_STREAM, 1, encode([[":path", "/"]]))],
    expect: { rst: PROTOCOL_ERROR, stream: 1 },
    options: streamingOnly,
  },
  {
    name: "a stream past maxConcurrentStreams",
    frames: () => [open1(), frame(HEADERS, END_HEADERS, 3, encode(requestFields("/s/3")))],
    expect: { rst: REFUSED_STREAM, stream: 3 },
    options: { ...streamingOnly, maxConcurrentStreams: 1 },
    then: () => [frame(RST_STREAM, 0, 1, u32(CANCEL))],
  },
];
