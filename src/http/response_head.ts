/**
 * Response head parsing: status line and header fields (RFC 9112 §4, §5),
 * strict about what could smuggle or confuse framing, with size and count
 * limits.
 *
 * @module
 */

import { DockerProtocolError } from "../errors.ts";

/**
 * Response header fields. Names match case-insensitively; repeated fields
 * are joined with `, ` (RFC 9110 §5.3). Kept as a flat list: a response has
 * a handful of fields, and a scan is cheaper than hashing each name.
 */
export class HeaderMap {
  readonly #names: string[] = [];
  readonly #values: string[] = [];

  /**
   * @param name Field name, any case.
   * @returns The value (repeats joined with `, `), or `null` when absent.
   */
  get(name: string): string | null {
    const wanted = name.toLowerCase();
    let found: string | null = null;
    for (let i = 0; i < this.#names.length; i++) {
      const candidate = this.#names[i]!;
      if (candidate.length === wanted.length && candidate.toLowerCase() === wanted) {
        found = found === null ? this.#values[i]! : `${found}, ${this.#values[i]}`;
      }
    }
    return found;
  }

  /**
   * @param name Field name, any case.
   * @returns Whether the field is present.
   */
  has(name: string): boolean {
    return this.get(name) !== null;
  }

  /**
   * Adds a field.
   *
   * @param name Field name as received.
   * @param value Field value.
   */
  append(name: string, value: string): void {
    this.#names.push(name);
    this.#values.push(value);
  }

  /** @returns The fields as a plain object with lower-case names. */
  toObject(): Record<string, string> {
    const out: Record<string, string> = {};
    for (let i = 0; i < this.#names.length; i++) {
      const name = this.#names[i]!.toLowerCase();
      out[name] = name in out ? `${out[name]}, ${this.#values[i]}` : this.#values[i]!;
    }
    return out;
  }
}

/** A parsed response head. */
export interface ResponseHead {
  /** Status code. */
  status: number;
  /** Reason phrase (may be empty). */
  statusText: string;
  /** Header fields. */
  headers: HeaderMap;
}

/** Limits for {@linkcode parseHead}. */
export interface HeadLimits {
  /** Largest head in bytes, status line and empty line included. */
  maxHeaderSize: number;
  /** Most header fields. */
  maxHeaderCount: number;
}

// Field values are ISO-8859-1 (obs-text), but heads are ASCII in practice,
// and for ASCII the UTF-8 decoder gives the same text several times faster.
const asciiDecoder = new TextDecoder();
const latin1Decoder = new TextDecoder("latin1");

/**
 * Finds the end of a head: the index just past the first CRLF CRLF.
 *
 * @param bytes Bytes received so far.
 * @param from Index to start searching at.
 * @returns The index after the empty line, or -1.
 */
export function findHeadEnd(bytes: Uint8Array, from: number): number {
  // A plain loop beats repeated indexOf calls on heads of a few hundred
  // bytes; it steps to each LF and looks back for CR LF CR.
  for (let i = Math.max(from, 3); i < bytes.length; i++) {
    if (
      bytes[i] === 10 && bytes[i - 1] === 13 && bytes[i - 2] === 10 && bytes[i - 3] === 13
    ) return i + 1;
  }
  return -1;
}

/**
 * Parses a complete head (status line, fields, empty line).
 *
 * @param bytes The head, ending with CRLF CRLF.
 * @param limits Header count limit.
 * @returns Status, reason and fields.
 * @throws {DockerProtocolError} `INVALID_STATUS_LINE`, `INVALID_HEADER` or
 *   `TOO_MANY_HEADERS`.
 */
export function parseHead(bytes: Uint8Array, limits: HeadLimits): ResponseHead {
  const end = bytes.length - 4;
  // One pass over the bytes: obs-text picks the decoder, and NUL or a CR or
  // LF outside a CRLF pair is rejected here, so the text below splits on
  // CRLF only and field values need no second scan.
  let ascii = true;
  let statusEnd = -1;
  let lineStart = 0;
  for (let i = 0; i < end; i++) {
    const byte = bytes[i]!;
    if (byte > 13) {
      if (byte >= 0x80) ascii = false;
    } else if (byte === 13 && bytes[i + 1] === 10) {
      if (statusEnd === -1) statusEnd = i;
      lineStart = i + 2;
      i++;
    } else if (byte === 13 || byte === 10 || byte === 0) {
      throw badLine(bytes, lineStart, end, statusEnd === -1);
    }
  }
  const text = (ascii ? asciiDecoder : latin1Decoder).decode(bytes.subarray(0, end));
  if (statusEnd === -1) statusEnd = text.length;
  const { status, statusText } = parseStatusLine(text, statusEnd);
  const headers = new HeaderMap();
  let count = 0;
  let start = statusEnd + 2;
  while (start < text.length) {
    let lineEnd = text.indexOf("\r\n", start);
    if (lineEnd === -1) lineEnd = text.length;
    if (++count > limits.maxHeaderCount) {
      throw new DockerProtocolError(
        "TOO_MANY_HEADERS",
        `Response has more than ${limits.maxHeaderCount} header fields`,
      );
    }
    parseField(text, start, lineEnd, headers);
    start = lineEnd + 2;
  }
  return { status, statusText, headers };
}

/** The error for a line holding NUL or a bare CR or LF. */
function badLine(
  bytes: Uint8Array,
  start: number,
  end: number,
  isStatusLine: boolean,
): DockerProtocolError {
  const text = latin1Decoder.decode(bytes.subarray(start, Math.min(end, start + 80)));
  const lineEnd = text.indexOf("\r\n");
  const line = JSON.stringify(lineEnd === -1 ? text : text.slice(0, lineEnd));
  return isStatusLine
    ? new DockerProtocolError("INVALID_STATUS_LINE", `Invalid HTTP status line ${line}`)
    : new DockerProtocolError("INVALID_HEADER", `Invalid header line ${line}`);
}

/**
 * Parses `HTTP/1.x NNN reason` (`text[0, end)`): version 1.0 or 1.1, a
 * status from 100 to 999, then nothing or a space and any reason phrase.
 */
function parseStatusLine(text: string, end: number): { status: number; statusText: string } {
  const d0 = text.charCodeAt(9) - 48;
  const d1 = text.charCodeAt(10) - 48;
  const d2 = text.charCodeAt(11) - 48;
  const minor = text.charCodeAt(7);
  const valid = end >= 12 && text.startsWith("HTTP/1.") && (minor === 48 || minor === 49) &&
    text.charCodeAt(8) === 32 && d0 >= 1 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 &&
    d2 <= 9 && (end === 12 || text.charCodeAt(12) === 32);
  if (!valid) {
    throw new DockerProtocolError(
      "INVALID_STATUS_LINE",
      `Invalid HTTP status line ${JSON.stringify(text.slice(0, Math.min(end, 80)))}`,
    );
  }
  return { status: d0 * 100 + d1 * 10 + d2, statusText: end > 13 ? text.slice(13, end) : "" };
}

/** Token characters (RFC 9110 §5.6.2), by char code. */
const TOKEN_CHARS = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TOKEN_CHARS[c.charCodeAt(0)] = 1;
}

/**
 * Parses `text[start, end)` as one `name: value` field into `headers`. The
 * caller has already rejected NUL, CR and LF inside the line.
 */
function parseField(text: string, start: number, end: number, headers: HeaderMap): void {
  let colon = text.indexOf(":", start);
  if (colon >= end) colon = -1;
  // Covers a missing colon, obsolete line folding (leading whitespace) and
  // whitespace before the colon.
  let valid = colon > start;
  for (let i = start; valid && i < colon; i++) {
    const code = text.charCodeAt(i);
    if (code >= 128 || TOKEN_CHARS[code] === 0) valid = false;
  }
  if (!valid) {
    throw new DockerProtocolError(
      "INVALID_HEADER",
      `Invalid header line ${JSON.stringify(text.slice(start, Math.min(end, start + 80)))}`,
    );
  }
  let valueStart = colon + 1;
  let valueEnd = end;
  while (valueStart < valueEnd && isOws(text.charCodeAt(valueStart))) valueStart++;
  while (valueEnd > valueStart && isOws(text.charCodeAt(valueEnd - 1))) valueEnd--;
  headers.append(text.slice(start, colon), text.slice(valueStart, valueEnd));
}

function isOws(code: number): boolean {
  return code === 32 || code === 9;
}

/** How a response body is delimited. */
export type BodyFraming =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

/**
 * Decides how the body is delimited (RFC 9112 §6.3), rejecting ambiguous
 * framing rather than guessing.
 *
 * @param head The parsed head.
 * @param method The request method (HEAD responses have no body).
 * @returns The framing.
 * @throws {DockerProtocolError} `CONFLICTING_FRAMING`,
 *   `UNSUPPORTED_TRANSFER_ENCODING` or `INVALID_CONTENT_LENGTH`.
 */
export function bodyFraming(head: ResponseHead, method: string): BodyFraming {
  const { status, headers } = head;
  if (method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    return { kind: "none" };
  }
  const transferEncoding = headers.get("transfer-encoding");
  const contentLength = headers.get("content-length");
  if (transferEncoding !== null) {
    if (contentLength !== null) {
      throw new DockerProtocolError(
        "CONFLICTING_FRAMING",
        "Response has both Transfer-Encoding and Content-Length",
      );
    }
    const codings = transferEncoding.toLowerCase().split(",").map((c) => c.trim());
    if (codings.length !== 1 || codings[0] !== "chunked") {
      throw new DockerProtocolError(
        "UNSUPPORTED_TRANSFER_ENCODING",
        `Unsupported Transfer-Encoding "${transferEncoding.slice(0, 80)}"`,
      );
    }
    return { kind: "chunked" };
  }
  if (contentLength !== null) {
    // The usual case, one plain number, without the split below.
    if (contentLength.length <= 15 && isDigits(contentLength)) {
      return { kind: "length", length: Number(contentLength) };
    }
    const values = contentLength.split(",").map((v) => v.trim());
    const first = values[0]!;
    if (!/^\d{1,16}$/.test(first) || values.some((v) => v !== first)) {
      throw new DockerProtocolError(
        "INVALID_CONTENT_LENGTH",
        `Invalid Content-Length "${contentLength.slice(0, 80)}"`,
      );
    }
    const length = Number(first);
    if (!Number.isSafeInteger(length)) {
      throw new DockerProtocolError(
        "INVALID_CONTENT_LENGTH",
        `Content-Length ${first} is too large`,
      );
    }
    return { kind: "length", length };
  }
  return { kind: "close" };
}

function isDigits(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 48 || code > 57) return false;
  }
  return true;
}
