/**
 * Response head parsing: status line and header fields (RFC 9112 §4, §5),
 * strict about what could smuggle or confuse framing, with size and count
 * limits.
 *
 * @module
 */

import { DockerError, DockerProtocolError } from "../errors.ts";

/**
 * Response header fields. Names match case-insensitively; repeated fields
 * are joined with `, ` (RFC 9110 §5.3). Nothing is decoded until asked
 * for: the map keeps the head's bytes (a view into the read buffer, never
 * overwritten) and where each field is, and a value becomes a string when
 * it is read — most calls read none of the engine's ten or so fields, and
 * the parser has already validated every line. Bytes are read as
 * ISO-8859-1 (one character per byte, obs-text included).
 */
export class HeaderMap {
  /** The head's bytes (possibly followed by more: every value ends at a CR). */
  readonly #bytes: Uint8Array;
  /** Per field: start of its name and its colon (indices into `#bytes`). */
  readonly #fields: readonly number[];
  /**
   * Which of the fields that decide framing are present (the
   * {@linkcode FRAMING_FIELDS} bits), noted while parsing so the common
   * answer (no `Transfer-Encoding`, no `Connection`) costs no lookup.
   */
  readonly framingFields: number;
  /**
   * The value of the one `Content-Length` field when it is a plain number
   * (read while parsing); -1 when absent, repeated or anything else (then
   * read it with {@linkcode HeaderMap.get}).
   */
  readonly plainContentLength: number;

  /**
   * @param bytes The head (status line first; each field line ending in CR LF).
   * @param fields Name start and colon of each field, in order.
   * @param framingFields The {@linkcode FRAMING_FIELDS} bits present (all
   *   assumed present when left out).
   * @param plainContentLength See {@linkcode HeaderMap.plainContentLength}.
   */
  constructor(
    bytes: Uint8Array = new Uint8Array(0),
    fields: readonly number[] = [],
    framingFields = ALL_FRAMING_FIELDS,
    plainContentLength = -1,
  ) {
    this.#bytes = bytes;
    this.#fields = fields;
    this.framingFields = framingFields;
    this.plainContentLength = plainContentLength;
  }

  /**
   * @param name Field name, any case.
   * @returns The value (repeats joined with `, `), or `null` when absent.
   * @throws {DockerError} When the bytes were transferred away (a view of
   *   the same read buffer was posted with its buffer in the transfer list).
   */
  get(name: string): string | null {
    const wanted = name.toLowerCase();
    const fields = this.#readable();
    let found: string | null = null;
    for (let i = 0; i < fields.length; i += 2) {
      const start = fields[i]!;
      if (fields[i + 1]! - start !== wanted.length || !nameIs(this.#bytes, start, wanted)) {
        continue;
      }
      const value = this.#value(i);
      found = found === null ? value : `${found}, ${value}`;
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

  /** @returns The fields as a plain object with lower-case names. */
  toObject(): Record<string, string> {
    const out: Record<string, string> = {};
    const fields = this.#readable();
    for (let i = 0; i < fields.length; i += 2) {
      const name = latin1(this.#bytes, fields[i]!, fields[i + 1]!).toLowerCase();
      const value = this.#value(i);
      out[name] = name in out ? `${out[name]}, ${value}` : value;
    }
    return out;
  }

  /**
   * A map over a copy of the head's bytes, for a head whose read buffer is
   * about to be transferred (a stream worker posts its read buffers).
   *
   * @param size Bytes of the head.
   * @returns The copy.
   */
  ownCopy(size: number): HeaderMap {
    return new HeaderMap(
      this.#bytes.slice(0, size),
      this.#fields,
      this.framingFields,
      this.plainContentLength,
    );
  }

  /** The field positions, once it is sure the bytes are still there. */
  #readable(): readonly number[] {
    if (this.#bytes.length === 0 && this.#fields.length > 0) {
      throw new DockerError(
        "Response headers are gone: their read buffer was transferred (post a copy of a frame's bytes, not its buffer)",
      );
    }
    return this.#fields;
  }

  /** The value of field `i` (up to its line's CR) without surrounding whitespace. */
  #value(i: number): string {
    const bytes = this.#bytes;
    let start = this.#fields[i + 1]! + 1;
    let end = bytes.indexOf(13, start);
    while (start < end && isOws(bytes[start]!)) start++;
    while (end > start && isOws(bytes[end - 1]!)) end--;
    return latin1(bytes, start, end);
  }
}

/** Whether the name at `bytes[start]` is `lower` (already lower case), ignoring ASCII case. */
function nameIs(bytes: Uint8Array, start: number, lower: string): boolean {
  for (let j = 0; j < lower.length; j++) {
    let code = bytes[start + j]!;
    if (code >= 65 && code <= 90) code += 32;
    if (code !== lower.charCodeAt(j)) return false;
  }
  return true;
}

/**
 * `bytes[start, end)` as ISO-8859-1 text (each byte one character). Heads
 * are small: this beats a decoder call, whose fixed cost dominated a
 * round trip's head handling.
 */
function latin1(bytes: Uint8Array, start: number, end: number): string {
  let out = "";
  for (let at = start; at < end; at += 4096) {
    const piece = bytes.subarray(at, Math.min(end, at + 4096));
    out += String.fromCharCode.apply(null, piece as unknown as number[]);
  }
  return out;
}

/** Bits of {@linkcode HeaderMap.framingFields}, by lower-case field name. */
export const FRAMING_FIELDS = {
  "content-length": 1,
  "transfer-encoding": 2,
  "connection": 4,
} as const;
const ALL_FRAMING_FIELDS = 7;

/** A parsed response head. */
export interface ResponseHead {
  /** Status code. */
  readonly status: number;
  /** Reason phrase (may be empty). */
  readonly statusText: string;
  /** The minor HTTP version: 1 for HTTP/1.1, 0 for HTTP/1.0. */
  readonly minorVersion: number;
  /** Header fields. */
  readonly headers: HeaderMap;
  /** Bytes of the head, its empty line included (where the body starts). */
  readonly size: number;
  /**
   * The same head over a copy of its bytes (see {@linkcode HeaderMap.ownCopy}).
   *
   * @returns The copy.
   */
  ownCopy(): ResponseHead;
}

/** A head as {@linkcode parseHead} found it; the reason is decoded when read. */
class ParsedHead implements ResponseHead {
  readonly status: number;
  readonly minorVersion: number;
  readonly headers: HeaderMap;
  readonly size: number;
  readonly #bytes: Uint8Array;
  readonly #statusEnd: number;

  constructor(
    status: number,
    headers: HeaderMap,
    size: number,
    bytes: Uint8Array,
    statusEnd: number,
  ) {
    this.status = status;
    // The status line was checked: byte 7 is the minor version's digit.
    this.minorVersion = bytes[7]! - 48;
    this.headers = headers;
    this.size = size;
    this.#bytes = bytes;
    this.#statusEnd = statusEnd;
  }

  get statusText(): string {
    return this.#statusEnd > 13 ? latin1(this.#bytes, 13, this.#statusEnd) : "";
  }

  ownCopy(): ResponseHead {
    const headers = this.headers.ownCopy(this.size);
    // The reason is short: decoded now rather than kept as a second copy.
    const statusText = this.statusText;
    return {
      status: this.status,
      statusText,
      minorVersion: this.minorVersion,
      headers,
      size: this.size,
      ownCopy() {
        return this;
      },
    };
  }
}

/** Limits for {@linkcode parseHead}. */
export interface HeadLimits {
  /** Largest head in bytes, status line and empty line included. */
  maxHeaderSize: number;
  /** Most header fields. */
  maxHeaderCount: number;
}

/**
 * Finds the end of a head: the index just past the first CRLF CRLF.
 *
 * @param bytes Bytes received so far.
 * @param from Index to start searching at.
 * @param length How many bytes of `bytes` to search (all by default).
 * @returns The index after the empty line, or -1.
 */
export function findHeadEnd(bytes: Uint8Array, from: number, length = bytes.length): number {
  // A plain loop beats repeated indexOf calls on heads of a few hundred
  // bytes; it steps to each LF and looks back for CR LF CR.
  for (let i = Math.max(from, 3); i < length; i++) {
    if (
      bytes[i] === 10 && bytes[i - 1] === 13 && bytes[i - 2] === 10 && bytes[i - 3] === 13
    ) return i + 1;
  }
  return -1;
}

/**
 * Parses the head at the start of `bytes` (status line, fields, empty
 * line), finding where it ends as it goes: a whole head in the first read
 * (the usual case) is scanned once.
 *
 * @param bytes Bytes received so far.
 * @param limits Header count limit.
 * @param length How many bytes of `bytes` to look at (all by default).
 * @returns Status, reason, fields and the head's size; `undefined` when
 *   the bytes end before the head does.
 * @throws {DockerProtocolError} `INVALID_STATUS_LINE`, `INVALID_HEADER` or
 *   `TOO_MANY_HEADERS`, as soon as the bytes show it.
 */
export function parseHead(
  bytes: Uint8Array,
  limits: HeadLimits,
  length = bytes.length,
): ResponseHead | undefined {
  // One pass over the bytes validates every line (NUL, or a CR or LF
  // outside a CRLF pair, anywhere; a field name that is not a token or has
  // no colon) and records where each field's parts are; nothing is decoded
  // (see HeaderMap). The loops are kept tight: a value byte above 13 is the
  // common case and costs one comparison. They stop at the first byte of
  // 13 or less, or past the end (a typed array reads `undefined` there), so
  // every exit checks for the end.
  if (length !== bytes.length) bytes = bytes.subarray(0, length);
  let i = 0;
  while (bytes[i]! > 13) i++;
  const statusEnd = lineEnd(bytes, i, 0);
  if (statusEnd === -1) return undefined;
  const maxFields = limits.maxHeaderCount * 2;
  const fields = fieldScratch;
  let count = 0;
  let framing = 0;
  let contentLength = -1;
  i = statusEnd + 2;
  while (true) {
    if (i + 1 >= length) return undefined;
    if (bytes[i] === 13 && bytes[i + 1] === 10) break; // the empty line
    const lineStart = i;
    while (TOKEN_CHARS[bytes[i]!] === 1) i++;
    if (bytes[i] !== 58 || i === lineStart) {
      if (i >= length) return undefined;
      throw badLine(bytes, lineStart, false);
    }
    const colon = i++;
    const nameLength = colon - lineStart;
    let field = 0;
    if (nameLength === 10 || nameLength === 14 || nameLength === 17) {
      field = framingField(bytes, lineStart, nameLength);
    }
    while (bytes[i]! > 13) i++;
    i = lineEnd(bytes, i, lineStart);
    if (i === -1) return undefined;
    if (field === FRAMING_FIELDS["content-length"]) {
      // A second one is left to bodyFraming, which checks that they agree.
      contentLength = framing & field ? -1 : plainNumber(bytes, colon + 1, i);
    }
    framing |= field;
    if (count === maxFields) {
      throw new DockerProtocolError(
        "TOO_MANY_HEADERS",
        `Response has more than ${limits.maxHeaderCount} header fields`,
      );
    }
    fields[count++] = lineStart;
    fields[count++] = colon;
    i += 2;
  }
  const status = parseStatusLine(bytes, statusEnd);
  const headers = new HeaderMap(bytes, fields.slice(0, count), framing, contentLength);
  return new ParsedHead(status, headers, i + 2, bytes, statusEnd);
}

/**
 * Where parseHead collects field positions before copying them out at
 * their exact size (pushing to a fresh array grew it twice per head).
 * parseHead runs to completion without yielding, so one array serves all.
 */
const fieldScratch: number[] = [];

/** The {@linkcode FRAMING_FIELDS} bit of the token at `start`, or 0. */
function framingField(bytes: Uint8Array, start: number, length: number): number {
  const name = length === 10
    ? "connection"
    : length === 14
    ? "content-length"
    : "transfer-encoding";
  return nameIs(bytes, start, name) ? FRAMING_FIELDS[name] : 0;
}

/**
 * The number in `bytes[start, end)` when it is digits only (at most 15,
 * so always a safe integer) between optional spaces and tabs, else -1.
 */
function plainNumber(bytes: Uint8Array, start: number, end: number): number {
  while (start < end && isOws(bytes[start]!)) start++;
  while (end > start && isOws(bytes[end - 1]!)) end--;
  if (start === end || end - start > 15) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = bytes[i]! - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * Finishes a line the fast loop stopped in (at a byte of 13 or less, or
 * the end): finds its CR, checks that LF follows and that no NUL, CR or LF
 * comes before it. Other control bytes (tab) are allowed.
 *
 * @param from Where the fast loop stopped.
 * @param lineStart Where the line starts (0: the status line).
 * @returns The index of the CR, or -1 when the bytes end first.
 */
function lineEnd(bytes: Uint8Array, from: number, lineStart: number): number {
  const length = bytes.length;
  let i = from;
  while (true) {
    if (i >= length) return -1;
    const byte = bytes[i]!;
    if (byte === 13) break;
    if (byte === 0 || byte === 10) throw badLine(bytes, lineStart, lineStart === 0);
    i++;
  }
  if (i + 1 >= length) return -1;
  if (bytes[i + 1] !== 10) throw badLine(bytes, lineStart, lineStart === 0);
  return i;
}

/** The error for a malformed line. */
function badLine(bytes: Uint8Array, start: number, isStatusLine: boolean): DockerProtocolError {
  const text = latin1(bytes, start, Math.min(bytes.length, start + 80));
  const lineEnd = text.indexOf("\r\n");
  const line = JSON.stringify(lineEnd === -1 ? text : text.slice(0, lineEnd));
  return isStatusLine
    ? new DockerProtocolError("INVALID_STATUS_LINE", `Invalid HTTP status line ${line}`)
    : new DockerProtocolError("INVALID_HEADER", `Invalid header line ${line}`);
}

/**
 * Parses `HTTP/1.x NNN reason` (`bytes[0, end)`): version 1.0 or 1.1, a
 * status from 100 to 999, then nothing or a space and any reason phrase.
 *
 * @returns The status code.
 */
function parseStatusLine(bytes: Uint8Array, end: number): number {
  const d0 = bytes[9]! - 48;
  const d1 = bytes[10]! - 48;
  const d2 = bytes[11]! - 48;
  const minor = bytes[7];
  const valid = end >= 12 && bytes[0] === 72 && bytes[1] === 84 && bytes[2] === 84 &&
    bytes[3] === 80 && bytes[4] === 47 && bytes[5] === 49 && bytes[6] === 46 && // "HTTP/1."
    (minor === 48 || minor === 49) && bytes[8] === 32 && d0 >= 1 && d0 <= 9 && d1 >= 0 &&
    d1 <= 9 && d2 >= 0 && d2 <= 9 && (end === 12 || bytes[12] === 32);
  if (!valid) throw badLine(bytes, 0, true);
  return d0 * 100 + d1 * 10 + d2;
}

/** Token characters (RFC 9110 §5.6.2), by byte (0x80 and up are not). */
const TOKEN_CHARS = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TOKEN_CHARS[c.charCodeAt(0)] = 1;
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
  const present = headers.framingFields;
  // The usual answer: one plain Content-Length, read while parsing.
  if (present === FRAMING_FIELDS["content-length"] && headers.plainContentLength >= 0) {
    return { kind: "length", length: headers.plainContentLength };
  }
  const transferEncoding = present & FRAMING_FIELDS["transfer-encoding"]
    ? headers.get("transfer-encoding")
    : null;
  const contentLength = present & FRAMING_FIELDS["content-length"]
    ? headers.get("content-length")
    : null;
  if (transferEncoding !== null) {
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty
    // framing (a 1.0 peer does not know it; something in between added it).
    if (head.minorVersion === 0) {
      throw new DockerProtocolError(
        "UNSUPPORTED_TRANSFER_ENCODING",
        "HTTP/1.0 response has a Transfer-Encoding",
      );
    }
    if (contentLength !== null) {
      throw new DockerProtocolError(
        "CONFLICTING_FRAMING",
        "Response has both Transfer-Encoding and Content-Length",
      );
    }
    const codings = transferEncoding.toLowerCase().split(",").map(trimOws);
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
    const values = contentLength.split(",").map(trimOws);
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

/**
 * `text` without the spaces and tabs (OWS) around it. Not `trim()`: that
 * also drops VT, FF and NBSP, which would let `Content-Length: 5\f` or
 * `Transfer-Encoding: \xa0chunked` pass for a valid value.
 */
function trimOws(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isOws(text.charCodeAt(start))) start++;
  while (end > start && isOws(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

function isDigits(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 48 || code > 57) return false;
  }
  return true;
}
