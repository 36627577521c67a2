/**
 * What an exchange is given and what it reports: the request as the
 * client hands it over, the client's settings, the record the observer
 * gets, and the reader that turns a response into a call's result.
 *
 * @module
 */

import type { Deadlines } from "./deadlines.ts";
import type { EncodedRequest, HeaderFields } from "./request.ts";
import type { HttpResponse } from "./response.ts";
import type { HeadLimits } from "./response_head.ts";

/** What happened in one exchange, reported once when it ends. */
export interface ExchangeRecord {
  /** Request method. */
  method: string;
  /** Request target (path and query). */
  target: string;
  /** Request header fields as sent (callers redact before exposing). */
  requestHeaders: HeaderFields;
  /** Response status, when a head arrived. */
  status: number | undefined;
  /** `performance.timeOrigin + performance.now()` when the call began (ms). */
  startTime: number;
  /** Same clock, when the body ended, the call failed or a handed-over connection closed. */
  endTime: number;
  /** Bytes written to the socket (head and body; after an upgrade, the session's too). */
  bytesSent: number;
  /** Bytes read from the socket (head and body; after an upgrade, the session's too). */
  bytesReceived: number;
  /** Whether the connection had served an earlier request. */
  reusedConnection: boolean;
  /** Why the exchange failed or was cut short, if it did. */
  error: unknown;
}

/** Settings an exchange needs from its client. */
export interface ExchangeSettings extends HeadLimits {
  /** Address for messages. */
  host: string;
  /** Milliseconds to wait for the response head once the request is sent; 0 = forever. */
  headersTimeout: number;
  /** Milliseconds a body read may idle; 0 = forever. */
  bodyTimeout: number;
  /** Reports the record when the exchange ends. */
  onRecord: ((record: ExchangeRecord) => void) | undefined;
  /** The client's timeout watchdog. */
  deadlines: Deadlines;
  /** The `Host` value sent unless a request names its own. */
  hostHeader: string;
  /** Takes back a request buffer (see `ExchangeRequest.scratch`). */
  recycleScratch: (scratch: Uint8Array) => void;
}

/** The request side of an exchange. */
export interface ExchangeRequest {
  method: string;
  target: string;
  headers: HeaderFields;
  /** The request bytes, already validated. */
  encoded: EncodedRequest;
  signal: AbortSignal | undefined;
  expectUpgrade: boolean;
  /** Body reads reuse one buffer (see `HttpRequest.reuseReadBuffer`). */
  reuseReadBuffer?: boolean;
  /** Whether a retry on a new connection is safe; unset: by the method. */
  idempotent: boolean | undefined;
  /** The client's buffer `encoded.head` lies in, given back once the request is done with it. */
  scratch: Uint8Array | undefined;
  /** See `HttpRequest.rejectWith`. */
  rejectWith: ((response: HttpResponse) => Promise<unknown> | undefined) | undefined;
}

/**
 * Makes a request's result out of its accepted response, inside the
 * exchange's own promise (see `HttpClient.request`).
 */
export type ResponseReader<T> = (response: HttpResponse) => T | PromiseLike<T>;
