/**
 * Reading the engine's answers for `ApiClient`: which statuses are
 * errors, the typed error of one, and whole bodies read within a limit.
 *
 * @module
 */

import { protocolErrorIn } from "../_messages.ts";
import {
  DockerApiError,
  DockerConflictError,
  DockerNotFoundError,
  DockerProtocolError,
} from "../errors.ts";
import type { HttpResponse } from "../http/response.ts";

/**
 * Whether a status is an error for berth: 4xx and 5xx, and redirects (the
 * engine's router answers odd paths with them; berth never follows). 304 is
 * an answer ("already started").
 *
 * @param status The response status.
 * @returns `true` when the call failed.
 */
export function isErrorStatus(status: number): boolean {
  return status >= 400 || (status >= 300 && status !== 304);
}

/**
 * The most a JSON answer may hold: far above any real one (a list of
 * 100,000 containers is ~100 MB), it keeps an endless or huge body from
 * exhausting memory, and stays under V8's longest string.
 */
export const MAX_JSON_BODY: number = 256 * 1024 * 1024;

/**
 * Reads a whole body as text, at most `limit` bytes.
 *
 * @param response The response.
 * @param limit Largest body accepted, in bytes.
 * @param call The call, for the message.
 * @returns The text.
 * @throws {DockerProtocolError} `BODY_TOO_LARGE`, naming the call.
 */
export async function readText(
  response: HttpResponse,
  limit: number,
  call: { action: string },
): Promise<string> {
  try {
    return await response.text(limit);
  } catch (error) {
    throw protocolErrorIn(error, `Cannot ${call.action}`);
  }
}

/** Reads a body that does not matter to its end. */
export function discardBody(response: HttpResponse): number | Promise<number> {
  // Most such answers (204, or a short body that came with the head) are done already.
  if (response.finished) return response.status;
  return response.discard().then(() => response.status);
}

/**
 * Reads an error response and builds the typed error (404 →
 * {@linkcode DockerNotFoundError}, 409 → {@linkcode DockerConflictError},
 * and so is a swarm update with a stale version, which the engine answers
 * with 500 or 400: see {@linkcode STALE_VERSION}).
 *
 * @param response The error response; its body is read (up to 1 MiB).
 * @param call What was sent: `method`, `action`, and `signal` (an abort
 *   while reading rethrows its reason).
 * @param target The request target as sent.
 * @returns The error to throw.
 */
export async function apiError(
  response: HttpResponse,
  call: { method: string; action: string; signal?: AbortSignal | undefined },
  target: string,
): Promise<DockerApiError> {
  let text = "";
  try {
    text = await response.text(1 << 20);
  } catch (error) {
    if (call.signal?.aborted) throw call.signal.reason;
    if (error instanceof DockerProtocolError && error.code !== "BODY_TOO_LARGE") throw error;
    // The status alone still tells what failed (an answer over 1 MiB is not read).
  }
  let message = text.trim();
  const location = response.headers.get("location");
  if (response.status < 400 && location !== null) {
    message = `redirect to ${location} (berth does not follow redirects)`;
  }
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === "string") message = parsed.message;
  } catch {
    // Not JSON: keep the text.
  }
  const options = {
    status: response.status,
    statusText: response.statusText,
    method: call.method,
    path: target,
    engineMessage: message,
    action: call.action,
  };
  if (response.status === 404) return new DockerNotFoundError(options);
  if (response.status === 409 || STALE_VERSION.test(message)) {
    return new DockerConflictError(options);
  }
  return new DockerApiError(options);
}

/**
 * What swarmkit says of an update whose `version` is not the object's
 * current one (`ErrSequenceConflict`: another update came first). The
 * engine passes it on as a 500 (services, nodes, the swarm) or a 400
 * (secrets, configs), never as 409; it is the conflict of an optimistic
 * update all the same, met by reading the object again and retrying.
 */
const STALE_VERSION = /\bupdate out of sequence\b/;
