/**
 * HTTP/1.1 request writing: one buffer for the request line and headers,
 * then the body as is (`Content-Length`) or chunked (streams).
 *
 * @module
 */

import type { Connection } from "./connection.ts";

/** A request body: none, bytes, text (sent as UTF-8), or a stream sent chunked. */
export type RequestBody = Uint8Array | string | ReadableStream<Uint8Array> | null | undefined;

/** Request header fields as name/value pairs. */
export type HeaderFields = Record<string, string>;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible ASCII, SP, HTAB and obs-text; never CR, LF or NUL.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const TARGET = /^[\x21-\x7e]+$/;
const CRLF = "\r\n";
const encoder = new TextEncoder();

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
  if (!TOKEN.test(method)) throw new TypeError(`Invalid HTTP method "${method}"`);
  if (!target.startsWith("/") || !TARGET.test(target)) {
    throw new TypeError(`Invalid request target "${target}": it must be an encoded absolute path`);
  }
  const seen = new Set<string>();
  for (const name in headers) {
    if (!TOKEN.test(name)) throw new TypeError(`Invalid header name "${name}"`);
    if (!FIELD_VALUE.test(headers[name]!)) {
      throw new TypeError(`Invalid value for header "${name}": it contains CR, LF or NUL`);
    }
    const lower = name.toLowerCase();
    // The writer frames the body itself; a caller's framing field would sit
    // next to it and let the engine read the body two ways (smuggling).
    if (lower === "content-length" || lower === "transfer-encoding") {
      throw new TypeError(`Header "${name}" is set from the body; do not pass it`);
    }
    // Names differing only in case (`Host` and `host`) would both be sent.
    if (seen.has(lower)) throw new TypeError(`Header "${name}" is given twice`);
    seen.add(lower);
  }
}

/**
 * Serialises the request line and header block.
 *
 * @param method Request method.
 * @param target Request target.
 * @param headers Header fields (already validated).
 * @param framing `Content-Length` value, or `"chunked"`, or `undefined` for
 *   no body.
 * @returns The head as bytes, ending with the empty line.
 */
export function encodeHead(
  method: string,
  target: string,
  headers: HeaderFields,
  framing: number | "chunked" | undefined,
): Uint8Array {
  let head = `${method} ${target} HTTP/1.1${CRLF}`;
  for (const name in headers) head += `${name}: ${headers[name]}${CRLF}`;
  if (framing === "chunked") head += `Transfer-Encoding: chunked${CRLF}`;
  else if (framing !== undefined) head += `Content-Length: ${framing}${CRLF}`;
  head += CRLF;
  return encoder.encode(head);
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

/** Writes below this size are joined with the head into one write. */
const COALESCE_LIMIT = 64 * 1024;

/**
 * Writes a whole request: head and body.
 *
 * @param connection Where to write.
 * @param method Request method.
 * @param target Request target.
 * @param headers Header fields (already validated).
 * @param body The body.
 */
export async function writeRequest(
  connection: Connection,
  method: string,
  target: string,
  headers: HeaderFields,
  body: RequestBody,
): Promise<void> {
  if (body === null || body === undefined) {
    // A POST without a body still says so, or some servers wait for one.
    const framing = method === "POST" || method === "PUT" ? 0 : undefined;
    await connection.write(encodeHead(method, target, headers, framing));
    return;
  }
  if (body instanceof ReadableStream) {
    await connection.write(encodeHead(method, target, headers, "chunked"));
    await writeChunked(connection, body);
    return;
  }
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  const head = encodeHead(method, target, headers, bytes.length);
  if (bytes.length <= COALESCE_LIMIT) {
    const joined = new Uint8Array(head.length + bytes.length);
    joined.set(head);
    joined.set(bytes, head.length);
    await connection.write(joined);
  } else {
    await connection.write(head);
    await connection.write(bytes);
  }
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
