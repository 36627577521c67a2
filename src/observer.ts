/**
 * The per-client observer: one event per Engine API call, with secrets
 * redacted before the observer sees anything.
 *
 * @module
 */

import type { ExchangeRecord } from "./http/exchange_types.ts";

/** One finished call, as an observer sees it. */
export interface DockerCallEvent {
  /** Request method. */
  method: string;
  /**
   * Request path with query, including the `/v1.xx` prefix (none for a
   * call that failed while its API version was still being asked for).
   */
  path: string;
  /** Response status, or `undefined` when no response head arrived. */
  status: number | undefined;
  /** When the call began, in ms since the epoch (`performance.timeOrigin` based). */
  startTime: number;
  /**
   * When the body ended or the call failed; for an upgraded call (attach,
   * exec session, BuildKit session), when its connection closed.
   */
  endTime: number;
  /** `endTime - startTime`, in ms. */
  duration: number;
  /** Bytes written to the socket for this call (an upgraded call's session included). */
  bytesSent: number;
  /** Bytes read from the socket for this call (an upgraded call's session included). */
  bytesReceived: number;
  /** Request headers, with credentials replaced by `<redacted>`. */
  requestHeaders: Record<string, string>;
  /** Whether a pooled connection was reused. */
  reusedConnection: boolean;
  /** The error, if the call failed or its stream was cancelled. */
  error: unknown;
}

/**
 * Receives one {@linkcode DockerCallEvent} per call. It runs synchronously
 * on the hot path, so keep it cheap; anything it throws is ignored.
 */
export type DockerObserver = (event: DockerCallEvent) => void;

const SECRET_HEADERS = new Set(["x-registry-auth", "x-registry-config", "authorization"]);

/** The text that replaces every secret. */
export const REDACTED = "<redacted>";

/**
 * Copies headers with credentials replaced by `<redacted>`.
 *
 * @param headers Request headers as sent.
 * @returns A redacted copy.
 */
export function redactHeaders(
  headers: Record<string, string | readonly string[]>,
): Record<string, string> {
  const copy: Record<string, string> = {};
  for (const name in headers) {
    const value = headers[name]!;
    // A field sent as several lines reads as its values joined (RFC 9110 §5.3).
    copy[name] = SECRET_HEADERS.has(name.toLowerCase())
      ? REDACTED
      : typeof value === "string"
      ? value
      : value.join(", ");
  }
  return copy;
}

/**
 * Adapts an observer to the HTTP layer's exchange records.
 *
 * @param observer The user's observer.
 * @returns The record callback.
 */
export function recordObserver(observer: DockerObserver): (record: ExchangeRecord) => void {
  return (record) => {
    observer({
      method: record.method,
      path: record.target,
      status: record.status,
      startTime: record.startTime,
      endTime: record.endTime,
      duration: record.endTime - record.startTime,
      bytesSent: record.bytesSent,
      bytesReceived: record.bytesReceived,
      requestHeaders: redactHeaders(record.requestHeaders),
      reusedConnection: record.reusedConnection,
      error: record.error,
    });
  };
}
