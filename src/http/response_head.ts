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

const STATUS_LINE = /^HTTP\/1\.[01] ([1-9]\d\d)(?: ([^\r\n]*))?$/;
// Field values are ISO-8859-1 (obs-text), but heads are ASCII in practice,
// and for ASCII the UTF-8 decoder gives the same text several times faster.
const asciiDecoder = new TextDecoder();
const latin1Decoder = new TextDecoder("latin1");

/** Decodes head bytes as ISO-8859-1, through the fast decoder when all ASCII. */
function decodeHead(bytes: Uint8Array): string {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i]! >= 0x80) return latin1Decoder.decode(bytes);
  }
  return asciiDecoder.decode(bytes);
}

/**
 * Finds the end of a head: the index just past the first CRLF CRLF.
 *
 * @param bytes Bytes received so far.
 * @param from Index to start searching at.
 * @returns The index after the empty line, or -1.
 */
export function findHeadEnd(bytes: Uint8Array, from: number): number {
  let i = bytes.indexOf(13, from);
  while (i !== -1 && i + 3 < bytes.length) {
    if (bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i + 4;
    i = bytes.indexOf(13, i + 1);
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
  const text = decodeHead(bytes.subarray(0, bytes.length - 4));
  let lineEnd = text.indexOf("\r\n");
  if (lineEnd === -1) lineEnd = text.length;
  const statusLine = text.slice(0, lineEnd);
  const match = STATUS_LINE.exec(statusLine);
  if (!match) {
    throw new DockerProtocolError(
      "INVALID_STATUS_LINE",
      `Invalid HTTP status line ${JSON.stringify(statusLine.slice(0, 80))}`,
    );
  }
  const headers = new HeaderMap();
  let count = 0;
  let start = lineEnd + 2;
  while (start < text.length) {
    let end = text.indexOf("\r\n", start);
    if (end === -1) end = text.length;
    if (++count > limits.maxHeaderCount) {
      throw new DockerProtocolError(
        "TOO_MANY_HEADERS",
        `Response has more than ${limits.maxHeaderCount} header fields`,
      );
    }
    parseField(text, start, end, headers);
    start = end + 2;
  }
  return { status: Number(match[1]), statusText: match[2] ?? "", headers };
}

/** Token characters (RFC 9110 §5.6.2), by char code. */
const TOKEN_CHARS = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TOKEN_CHARS[c.charCodeAt(0)] = 1;
}

/** Parses `text[start, end)` as one `name: value` field into `headers`. */
function parseField(text: string, start: number, end: number, headers: HeaderMap): void {
  let colon = start;
  while (colon < end) {
    const code = text.charCodeAt(colon);
    if (code === 58) break;
    // Covers a missing colon, obsolete line folding (leading whitespace),
    // whitespace before the colon and bare CR or LF inside the head.
    if (code >= 128 || TOKEN_CHARS[code] === 0) colon = end;
    else colon++;
  }
  if (colon === start || colon >= end) {
    throw new DockerProtocolError(
      "INVALID_HEADER",
      `Invalid header line ${JSON.stringify(text.slice(start, Math.min(end, start + 80)))}`,
    );
  }
  let valueStart = colon + 1;
  let valueEnd = end;
  while (valueStart < valueEnd && isOws(text.charCodeAt(valueStart))) valueStart++;
  while (valueEnd > valueStart && isOws(text.charCodeAt(valueEnd - 1))) valueEnd--;
  for (let i = valueStart; i < valueEnd; i++) {
    const code = text.charCodeAt(i);
    if (code === 13 || code === 10 || code === 0) {
      throw new DockerProtocolError(
        "INVALID_HEADER",
        `Invalid value for header "${text.slice(start, colon)}"`,
      );
    }
  }
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
