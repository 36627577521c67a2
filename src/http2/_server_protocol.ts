/**
 * The wire vocabulary of berth's HTTP/2 server (RFC 9113): the preface,
 * frame types, flags, error codes and settings, the two kinds of failure,
 * and the pure pieces of reading and writing frame payloads (padding,
 * SETTINGS entries, a header block cut to the peer's frame size).
 *
 * @module
 */

import { encodeHeaderBlock } from "./hpack.ts";
import { frame } from "./_buffers.ts";

export const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
export const DEFAULT_FRAME_SIZE = 16_384;
export const DEFAULT_WINDOW = 65_535;
export const MAX_WINDOW = 2 ** 31 - 1;
/** Least window given back at once (a quarter of the default window). */
export const WINDOW_REFRESH = 16 * 1024;

export const enum Type {
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

export const END_STREAM = 0x1;
export const ACK = 0x1;
export const END_HEADERS = 0x4;
export const PADDED = 0x8;
export const PRIORITY = 0x20;

export const enum Code {
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

export const enum Setting {
  HeaderTableSize = 1,
  EnablePush = 2,
  MaxConcurrentStreams = 3,
  InitialWindowSize = 4,
  MaxFrameSize = 5,
  MaxHeaderListSize = 6,
}

/** A connection-level failure: sent as GOAWAY, then thrown. */
export class ConnectionError extends Error {
  constructor(readonly code: Code, message: string) {
    super(message);
  }
}

/** A stream-level failure: sent as RST_STREAM; the connection goes on. */
export class StreamError extends Error {
  constructor(readonly code: Code, message: string) {
    super(message);
  }
}

/** The payload without its padding (and, for HEADERS, its priority fields). */
export function unpad(flags: number, payload: Uint8Array, priority: boolean): Uint8Array {
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

/** A SETTINGS payload of `entries`. */
export function settingsPayload(entries: [Setting, number][]): Uint8Array {
  const out = new Uint8Array(entries.length * 6);
  const view = new DataView(out.buffer);
  entries.forEach(([id, value], i) => {
    view.setUint16(i * 6, id);
    view.setUint32(i * 6 + 2, value);
  });
  return out;
}

/**
 * The entries of the peer's SETTINGS frame, in order, or `undefined` for
 * an acknowledgement of ours.
 *
 * @throws {ConnectionError} For a frame on a stream, an ACK with a payload,
 *   or a partial entry.
 */
export function settingsEntries(
  flags: number,
  streamId: number,
  payload: Uint8Array,
): [number, number][] | undefined {
  if (streamId !== 0) throw new ConnectionError(Code.ProtocolError, "SETTINGS on a stream");
  if (flags & ACK) {
    if (payload.length !== 0) {
      throw new ConnectionError(Code.FrameSizeError, "a SETTINGS ACK with a payload");
    }
    return undefined;
  }
  if (payload.length % 6 !== 0) {
    throw new ConnectionError(Code.FrameSizeError, "a SETTINGS frame of a partial entry");
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
  const entries: [number, number][] = [];
  for (let at = 0; at < payload.length; at += 6) {
    entries.push([view.getUint16(at), view.getUint32(at + 2)]);
  }
  return entries;
}

/**
 * Checks one of the peer's settings against the values RFC 9113 §6.5.2
 * allows; unknown settings pass (they are ignored).
 *
 * @throws {ConnectionError} For a value out of its range.
 */
export function checkSetting(id: number, value: number): void {
  if (id === Setting.InitialWindowSize) {
    if (value > MAX_WINDOW) {
      throw new ConnectionError(Code.FlowControlError, "window too large");
    }
  } else if (id === Setting.MaxFrameSize) {
    if (value < DEFAULT_FRAME_SIZE || value > 16_777_215) {
      throw new ConnectionError(Code.ProtocolError, `MAX_FRAME_SIZE ${value}`);
    }
  } else if (id === Setting.EnablePush && value > 1) {
    throw new ConnectionError(Code.ProtocolError, `ENABLE_PUSH ${value}`);
  }
}

/**
 * The increment of a WINDOW_UPDATE payload (its reserved bit cleared).
 *
 * @throws {ConnectionError} `FRAME_SIZE_ERROR` for a payload that is not 4 bytes.
 */
export function windowIncrement(payload: Uint8Array): number {
  if (payload.length !== 4) {
    throw new ConnectionError(Code.FrameSizeError, "a WINDOW_UPDATE size");
  }
  return new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0) & 0x7fffffff;
}

/**
 * A header section as frames: HEADERS, then CONTINUATION frames when the
 * block is over `frameSize` bytes.
 */
export function headerFrames(
  streamId: number,
  fields: [string, string][],
  endStream: boolean,
  frameSize: number,
): Uint8Array[] {
  const block = encodeHeaderBlock(fields);
  const first = block.subarray(0, frameSize);
  const flags = (endStream ? END_STREAM : 0) | (block.length <= frameSize ? END_HEADERS : 0);
  const frames = [frame(Type.Headers, flags, streamId, first)];
  for (let at = frameSize; at < block.length; at += frameSize) {
    const end = at + frameSize >= block.length;
    frames.push(
      frame(Type.Continuation, end ? END_HEADERS : 0, streamId, block.subarray(at, at + frameSize)),
    );
  }
  return frames;
}
