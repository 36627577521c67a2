/**
 * A reference reader of HTTP/1.1 responses for the fuzz tests, written from
 * RFC 9112 with berth's documented limits, for clarity, not speed: the head,
 * the body framing, the chunked coding and a whole exchange. Where it
 * accepts, berth must read the same status, fields and body; where it
 * rejects, berth must throw a `DockerError`.
 *
 * @module
 */

import type { BodyFraming, HeadLimits } from "../../src/http/response_head.ts";

/** Longest chunk-size line `ChunkedDecoder` takes by default (its options left out). */
export const MAX_CHUNK_LINE = 4096;
/** Most trailer bytes `ChunkedDecoder` takes by default. */
export const MAX_TRAILERS = 16_384;

/**
 * Bytes as ISO-8859-1 text (one character per byte), as the parsers read heads.
 *
 * @param bytes The bytes.
 * @returns The text.
 */
export function latin1(bytes: Uint8Array): string {
  let out = "";
  for (let at = 0; at < bytes.length; at += 4096) {
    out += String.fromCharCode.apply(null, bytes.subarray(at, at + 4096) as unknown as number[]);
  }
  return out;
}

/**
 * ISO-8859-1 text as bytes (each character below 256).
 *
 * @param text The text.
 * @returns The bytes.
 */
export function bytesOf(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/**
 * Fields as `toObject` gives them: lower-case names, repeats joined with `, `.
 *
 * @param fields Name and value of each field, in order.
 * @returns The object.
 */
export function joinFields(fields: readonly (readonly [string, string])[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of fields) {
    const lower = name.toLowerCase();
    out[lower] = lower in out ? `${out[lower]}, ${value}` : value;
  }
  return out;
}

/** A head as the reference reads it. */
export interface RefHead {
  status: number;
  reason: string;
  fields: [string, string][];
  /** Offset just past the head's empty line. */
  end: number;
}

/** What the reference makes of a head: the head, why it is refused, or that it goes on. */
export type RefHeadResult = RefHead | { error: string } | { incomplete: true };

const STATUS_LINE = /^HTTP\/1\.[01] ([1-9][0-9][0-9])(?: ([^]*))?$/;
const FIELD_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):([^]*)$/;
const OWS_EDGES = /^[ \t]+|[ \t]+$/g;

/**
 * Reads the head starting at `start` of `text`. Lenient where berth is
 * (control bytes other than NUL, CR and LF in values), strict elsewhere: a
 * CR or LF outside a CRLF, NUL, a field name that is not a token or has
 * whitespace before the colon, an obs-fold line.
 *
 * @param text The bytes as ISO-8859-1.
 * @param start Where the head starts.
 * @param limits Size (of the head, empty line included) and field count.
 * @returns The head, an error, or `incomplete` when no empty line came.
 */
export function referenceHead(text: string, start: number, limits: HeadLimits): RefHeadResult {
  const blank = text.indexOf("\r\n\r\n", start);
  if (blank === -1) {
    return text.length - start > limits.maxHeaderSize
      ? { error: "head over maxHeaderSize" }
      : { incomplete: true };
  }
  const end = blank + 4;
  if (end - start > limits.maxHeaderSize) return { error: "head over maxHeaderSize" };
  const lines = text.slice(start, blank + 2).split("\r\n").slice(0, -1);
  if (lines.some((line) => /[\0\r\n]/.test(line))) return { error: "NUL, bare CR or bare LF" };
  const status = STATUS_LINE.exec(lines[0]!);
  if (!status) return { error: "bad status line" };
  const fields: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const field = FIELD_LINE.exec(line);
    if (!field) return { error: "bad field line" };
    fields.push([field[1]!, field[2]!.replace(OWS_EDGES, "")]);
  }
  if (fields.length > limits.maxHeaderCount) return { error: "too many fields" };
  return { status: Number(status[1]), reason: status[2] ?? "", fields, end };
}

/** How the reference frames a body, or why it refuses the head. */
export type RefFraming = BodyFraming | { kind: "error"; why: string };

/**
 * RFC 9112 §6.3 as berth applies it: no body for HEAD, 1xx, 204 and 304;
 * Transfer-Encoding must be exactly `chunked` and never with
 * Content-Length; Content-Length values (a list of equal ones allowed) are
 * 1 to 16 digits and a safe integer.
 *
 * @param head The head.
 * @param method The request method.
 * @returns The framing, or why it is rejected.
 */
export function referenceFraming(head: RefHead, method: string): RefFraming {
  const { status, fields } = head;
  if (method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    return { kind: "none" };
  }
  const joined = joinFields(fields);
  const transferEncoding = joined["transfer-encoding"];
  const contentLength = joined["content-length"];
  if (transferEncoding !== undefined) {
    if (contentLength !== undefined) return { kind: "error", why: "both TE and CL" };
    const codings = transferEncoding.split(",").map((c) => c.replace(OWS_EDGES, "").toLowerCase());
    return codings.length === 1 && codings[0] === "chunked"
      ? { kind: "chunked" }
      : { kind: "error", why: "TE not chunked" };
  }
  if (contentLength !== undefined) {
    const values = contentLength.split(",").map((v) => v.replace(OWS_EDGES, ""));
    const first = values[0]!;
    if (!/^[0-9]{1,16}$/.test(first) || values.some((v) => v !== first)) {
      return { kind: "error", why: "bad CL" };
    }
    const length = Number(first);
    if (!Number.isSafeInteger(length)) return { kind: "error", why: "CL too large" };
    return { kind: "length", length };
  }
  return { kind: "close" };
}

/** What the reference makes of a chunked body. */
export type RefChunked =
  | { error: string }
  | { done: false; payload: string }
  | { done: true; payload: string; end: number };

const SIZE_LINE = /^([0-9A-Fa-f]+)[ \t]*(?:;[\t\x20-\x7e\x80-\xff]*)?$/;
const SIZE_DIGITS = /^[0-9A-Fa-f]*$/;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Index of the first CR or LF in `text` from `from`, or -1. */
function lineBreak(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 13 || code === 10) return i;
  }
  return -1;
}

/**
 * Decodes a chunked body (RFC 9112 §7.1) with the decoder's limits: size
 * lines of hex digits, optional whitespace and `;` extensions (no control
 * bytes but HTAB) up to 4096 bytes, sizes up to 2^53 - 1, trailer lines
 * (anything but CR and LF) up to 16384 bytes in all.
 *
 * @param text The bytes as ISO-8859-1.
 * @param start Where the body starts.
 * @returns The payload and where the body ends; the payload so far when
 *   the bytes end first; or an error.
 */
export function referenceChunked(text: string, start: number): RefChunked {
  let at = start;
  let payload = "";
  while (true) {
    const stop = lineBreak(text, at);
    const line = text.slice(at, stop === -1 ? text.length : stop);
    const digits = /^[0-9A-Fa-f]*/.exec(line)![0];
    if (BigInt(`0x0${digits}`) > MAX_SAFE) return { error: "chunk size over 2^53 - 1" };
    if (line.length > MAX_CHUNK_LINE) return { error: "size line too long" };
    if (stop === -1) {
      return SIZE_LINE.test(line) || SIZE_DIGITS.test(line)
        ? { done: false, payload }
        : { error: "bad size line" };
    }
    if (!SIZE_LINE.test(line)) return { error: "bad size line" };
    if (text[stop] === "\n") return { error: "bare LF after size" };
    if (stop + 1 === text.length) return { done: false, payload };
    if (text[stop + 1] !== "\n") return { error: "CR without LF after size" };
    const size = Number.parseInt(digits, 16);
    at = stop + 2;
    if (size === 0) break;
    if (text.length - at < size) return { done: false, payload: payload + text.slice(at) };
    payload += text.slice(at, at + size);
    at += size;
    if (at === text.length) return { done: false, payload };
    if (text[at] !== "\r") return { error: "no CRLF after data" };
    if (at + 1 === text.length) return { done: false, payload };
    if (text[at + 1] !== "\n") return { error: "no LF after data" };
    at += 2;
  }
  let trailers = 0;
  while (true) {
    if (at === text.length) return { done: false, payload };
    if (text[at] === "\r") {
      if (at + 1 === text.length) return { done: false, payload };
      return text[at + 1] === "\n"
        ? { done: true, payload, end: at + 2 }
        : { error: "no LF after final CR" };
    }
    if (text[at] === "\n") return { error: "bare LF ends the body" };
    const stop = lineBreak(text, at);
    const length = (stop === -1 ? text.length : stop) - at;
    if (stop === -1) {
      return trailers + length > MAX_TRAILERS ? { error: "trailers too large" } : {
        done: false,
        payload,
      };
    }
    if (trailers + length + 1 > MAX_TRAILERS) return { error: "trailers too large" };
    if (text[stop] === "\n") return { error: "bare LF in trailers" };
    if (stop + 1 === text.length) return { done: false, payload };
    if (text[stop + 1] !== "\n") return { error: "no LF after trailer CR" };
    trailers += length + 2;
    if (trailers > MAX_TRAILERS) return { error: "trailers too large" };
    at = stop + 2;
  }
}

/** The reference's verdict on a whole response stream. */
export type Reference =
  | {
    ok: true;
    status: number;
    reason: string;
    fields: Record<string, string>;
    body: Uint8Array;
    /** Offset just past the response. */
    end: number;
    /** Whether the end of the stream decided it (a close-delimited body). */
    untilEof: boolean;
  }
  | { ok: false; why: string; untilEof: boolean };

/**
 * Reads one response (after any interim ones) from `wire`, followed by the
 * end of the stream, as a client that sent `method` without asking to
 * upgrade must.
 *
 * @param wire Everything the server sent.
 * @param method The request method.
 * @param limits Head limits.
 * @returns The response, or why there is none; `untilEof` says whether the
 *   verdict needed the end of the stream.
 */
export function referenceExchange(wire: Uint8Array, method: string, limits: HeadLimits): Reference {
  const text = latin1(wire);
  let at = 0;
  while (true) {
    const head = referenceHead(text, at, limits);
    if ("incomplete" in head) return { ok: false, why: "closed inside a head", untilEof: true };
    if ("error" in head) return { ok: false, why: head.error, untilEof: false };
    at = head.end;
    if (head.status === 101) return { ok: false, why: "101 not asked for", untilEof: false };
    if (head.status < 200) continue;
    const framing = referenceFraming(head, method);
    const response = (body: string, end: number, untilEof: boolean): Reference => ({
      ok: true,
      status: head.status,
      reason: head.reason,
      fields: joinFields(head.fields),
      body: bytesOf(body),
      end,
      untilEof,
    });
    switch (framing.kind) {
      case "error":
        return { ok: false, why: framing.why, untilEof: false };
      case "none":
        return response("", at, false);
      case "close":
        return response(text.slice(at), text.length, true);
      case "length":
        return text.length - at < framing.length
          ? { ok: false, why: "closed inside the body", untilEof: true }
          : response(text.slice(at, at + framing.length), at + framing.length, false);
      case "chunked": {
        const body = referenceChunked(text, at);
        if ("error" in body) return { ok: false, why: body.error, untilEof: false };
        if (!body.done) return { ok: false, why: "closed inside a chunked body", untilEof: true };
        return response(body.payload, body.end, false);
      }
    }
  }
}
