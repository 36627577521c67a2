/**
 * HTTP/1.1 request writing: one buffer for the request line and headers,
 * then the body as is (`Content-Length`) or chunked (streams).
 *
 * @module
 */

import type { Connection } from "./connection.ts";

/** A request body: none, bytes, text (sent as UTF-8), or a stream sent chunked. */
export type RequestBody = Uint8Array | string | ReadableStream<Uint8Array> | null | undefined;

/**
 * Request header fields by name: a value, or a list of values sent as one
 * line each.
 */
export type HeaderFields = Record<string, string | readonly string[]>;

/** The fields of a request that has none of its own (most calls): never enumerated. */
export const NO_HEADERS: HeaderFields = Object.freeze({});

const CRLF = "\r\n";
const encoder = new TextEncoder();

/** Token characters (RFC 9110 §5.6.2) by char code: methods and field names. */
const TOKEN_CHARS = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TOKEN_CHARS[c.charCodeAt(0)] = 1;
}

function isToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 128 || TOKEN_CHARS[code] === 0) return false;
  }
  return true;
}

/**
 * Writes `text` as Latin-1 bytes at `at`, checking each character is one
 * a field value may hold: HTAB, visible ASCII, SP and obs-text (0x80-0xFF);
 * never CR, LF, NUL, DEL or anything above U+00FF.
 *
 * @returns The index after the text, or -1 at the first bad character.
 */
function writeFieldValue(out: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 32 ? code !== 9 : code === 127 || code > 255) return -1;
    out[at++] = code;
  }
  return at;
}

/** Writes ASCII `text` (already checked) at `at`; returns the index after it. */
function writeAscii(out: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) out[at++] = text.charCodeAt(i);
  return at;
}

/**
 * Checks a request before anything is written, so a bad header can never
 * split the request on the wire.
 *
 * @param method Request method token.
 * @param target Request target (origin form: path and query).
 * @param headers Header fields.
 * @throws {TypeError} On an invalid method, target, header name or value, a
 *   `Content-Length` or `Transfer-Encoding` field (the writer sets those), or
 *   a field named twice in different case.
 */
export function validateRequest(method: string, target: string, headers: HeaderFields): void {
  headBytes(method, target, headers, undefined, 0, "");
}

/**
 * Encodes the request line and header fields (and the framing field) as
 * one buffer, validating as it writes. Field values are sent as Latin-1
 * bytes (one byte per character), as HTTP defines them.
 *
 * @param method Request method.
 * @param target Request target.
 * @param headers Header fields, in order.
 * @param framing `Content-Length` value, `"chunked"`, or `undefined` for none.
 * @returns The head bytes, ending with the empty line.
 * @throws {TypeError} As {@linkcode validateRequest}.
 */
export function encodeHead(
  method: string,
  target: string,
  headers: HeaderFields,
  framing: number | "chunked" | undefined,
): Uint8Array {
  return headBytes(method, target, headers, framing, 0, "");
}

/** A request ready for the wire. */
export interface EncodedRequest {
  /** The head, followed by the body when it is small: written in one go. */
  head: Uint8Array;
  /** What follows the head: a large body, a stream (sent chunked), or nothing. */
  rest: Uint8Array | ReadableStream<Uint8Array> | undefined;
}

/** Bodies up to this size go in the same write as the head. */
const COALESCE_LIMIT = 64 * 1024;

/**
 * Validates and encodes a request: the head and a small body in one buffer
 * (so a small request is one socket write), or the head and what follows.
 * A string body is sent as UTF-8.
 *
 * @param method Request method.
 * @param target Request target.
 * @param headers Header fields (no framing fields: the body decides them).
 * @param body The body.
 * @param hostLine `Host: <value>\r\n`, already validated, sent right after
 *   the request line unless `headers` has a `Host` field of its own.
 * @param scratch A buffer to write a request that is sent in one piece
 *   into, when it fits (a fresh buffer per request costs more than the
 *   encoding); the returned head is then a view of it. Never used for a
 *   request with a separate body.
 * @returns The bytes to write.
 * @throws {TypeError} As {@linkcode validateRequest}.
 */
export function encodeRequest(
  method: string,
  target: string,
  headers: HeaderFields | undefined,
  body: RequestBody,
  hostLine = "",
  scratch?: Uint8Array,
): EncodedRequest {
  headers ??= NO_HEADERS;
  if (body === null || body === undefined) {
    // A POST without a body still says so, or some servers wait for one.
    const framing = method === "POST" || method === "PUT" ? 0 : undefined;
    return {
      head: headBytes(method, target, headers, framing, 0, hostLine, scratch),
      rest: undefined,
    };
  }
  if (body instanceof ReadableStream) {
    return { head: headBytes(method, target, headers, "chunked", 0, hostLine), rest: body };
  }
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  if (bytes.length > COALESCE_LIMIT) {
    return { head: headBytes(method, target, headers, bytes.length, 0, hostLine), rest: bytes };
  }
  const head = headBytes(method, target, headers, bytes.length, bytes.length, hostLine, scratch);
  head.set(bytes, head.length - bytes.length);
  return { head, rest: undefined };
}

/**
 * The head as bytes, with `room` spare bytes after it (for a small body),
 * in `scratch` when it fits. One pass: sizes from string lengths (every
 * character is one byte once validated), then validation and writing
 * together.
 */
function headBytes(
  method: string,
  target: string,
  headers: HeaderFields,
  framing: number | "chunked" | undefined,
  room: number,
  hostLine: string,
  scratch?: Uint8Array,
): Uint8Array {
  if (!isToken(method)) throw new TypeError(`Invalid HTTP method "${method}"`);
  if (!isTarget(target)) {
    throw new TypeError(`Invalid request target "${target}": it must be an encoded absolute path`);
  }
  // "METHOD SP target SP HTTP/1.1 CRLF", fields, framing field, CRLF.
  let size = method.length + target.length + 12 + 2;
  const lowerNames: string[] = [];
  // Most calls send no fields of their own: skip the enumeration.
  if (headers !== NO_HEADERS) {
    for (const name in headers) {
      if (!isToken(name)) throw new TypeError(`Invalid header name "${name}"`);
      const lower = name.toLowerCase();
      // The writer frames the body itself; a caller's framing field would sit
      // next to it and let the engine read the body two ways (smuggling).
      if (lower === "content-length" || lower === "transfer-encoding") {
        throw new TypeError(`Header "${name}" is set from the body; do not pass it`);
      }
      // Names differing only in case (`Host` and `host`) would both be sent.
      if (lowerNames.includes(lower)) throw new TypeError(`Header "${name}" is given twice`);
      lowerNames.push(lower);
      if (lower === "host") hostLine = "";
      const value = headers[name]!;
      if (typeof value === "string") size += name.length + value.length + 4;
      else {
        // A list is sent as one line per value (fields some servers read
        // line by line, like the engine's session methods).
        if (value.length === 0) throw new TypeError(`Header "${name}" has no value`);
        for (const item of value) size += name.length + item.length + 4;
      }
    }
  }
  const framingField = framing === undefined
    ? ""
    : framing === "chunked"
    ? `Transfer-Encoding: chunked${CRLF}`
    : `Content-Length: ${framing}${CRLF}`;
  size += framingField.length + hostLine.length;
  const total = size + room;
  const out = scratch !== undefined && total <= scratch.length
    ? scratch.subarray(0, total)
    : new Uint8Array(total);
  let at = writeAscii(out, 0, method);
  out[at++] = 32;
  at = writeAscii(out, at, target);
  at = writeAscii(out, at, ` HTTP/1.1${CRLF}`);
  at = writeAscii(out, at, hostLine);
  if (headers !== NO_HEADERS) {
    for (const name in headers) {
      const value = headers[name]!;
      // A string needs no wrapping list: this runs on every request with fields.
      if (typeof value === "string") at = writeField(out, at, name, value);
      else for (const item of value) at = writeField(out, at, name, item);
    }
  }
  at = writeAscii(out, at, framingField);
  out[at++] = 13;
  out[at] = 10;
  return out;
}

/** Writes one `name: value` CRLF line; returns the offset after it. */
function writeField(out: Uint8Array, at: number, name: string, value: string): number {
  at = writeAscii(out, at, name);
  out[at++] = 58;
  out[at++] = 32;
  at = writeFieldValue(out, at, value);
  if (at === -1) {
    throw new TypeError(`Invalid value for header "${name}": it contains CR, LF or NUL`);
  }
  out[at++] = 13;
  out[at++] = 10;
  return at;
}

/** An origin-form target: `/` then visible ASCII only (no space, CR, LF). */
function isTarget(target: string): boolean {
  if (target.charCodeAt(0) !== 47) return false;
  for (let i = 1; i < target.length; i++) {
    const code = target.charCodeAt(i);
    if (code < 0x21 || code > 0x7e) return false;
  }
  return true;
}

/**
 * Carries a failure of the caller's body stream (not of the connection) up
 * to the exchange, which rethrows `error` unchanged.
 */
export class BodySourceError extends Error {
  override name = "BodySourceError";
  /** What the body stream failed with. */
  readonly error: unknown;

  /** @param error What the body stream failed with. */
  constructor(error: unknown) {
    super("Request body stream failed", { cause: error });
    this.error = error;
  }
}

/**
 * Writes a whole encoded request: the head (with a small body), then a
 * large body or a stream.
 *
 * @param connection Where to write.
 * @param request From {@linkcode encodeRequest}.
 */
export async function writeRequest(connection: Connection, request: EncodedRequest): Promise<void> {
  await connection.write(request.head);
  const rest = request.rest;
  if (rest instanceof ReadableStream) await writeChunked(connection, rest);
  else if (rest !== undefined) await connection.write(rest);
}

/** Sends a stream as chunks, one chunk per piece, then the last-chunk. */
async function writeChunked(
  connection: Connection,
  body: ReadableStream<Uint8Array>,
): Promise<void> {
  const reader = body.getReader();
  try {
    while (true) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (error) {
        throw new BodySourceError(error);
      }
      const { done, value } = result;
      if (done) break;
      if (!(value instanceof Uint8Array)) {
        throw new BodySourceError(
          new TypeError("A request body stream must yield Uint8Array chunks"),
        );
      }
      if (value.length === 0) continue;
      const size = encoder.encode(value.length.toString(16) + CRLF);
      const chunk = new Uint8Array(size.length + value.length + 2);
      chunk.set(size);
      chunk.set(value, size.length);
      chunk[chunk.length - 2] = 13;
      chunk[chunk.length - 1] = 10;
      await connection.write(chunk);
    }
    await connection.write(encoder.encode(`0${CRLF}${CRLF}`));
  } catch (error) {
    await reader.cancel(error instanceof BodySourceError ? error.error : error).catch(() => {});
    throw error;
  } finally {
    reader.releaseLock();
  }
}
