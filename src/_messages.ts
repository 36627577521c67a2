/**
 * Putting a low-level failure in the context of the call it broke.
 *
 * @module
 */

import { DockerProtocolError } from "./errors.ts";

/**
 * `message` with its first letter lowered, unless the first word is an
 * acronym ("HTTP"): how a message reads after a colon.
 *
 * @param message A message that starts a sentence.
 * @returns The message to follow `context: `.
 */
export function lowerFirst(message: string): string {
  const second = message.charAt(1);
  return second !== "" && second === second.toLowerCase()
    ? message.charAt(0).toLowerCase() + message.slice(1)
    : message;
}

/**
 * A `DockerProtocolError` said of the call it broke, with the same code:
 * `GET /v1.41/…: engine closed …`, `Cannot read logs of container "web": …`.
 * Other errors are returned as they are.
 *
 * @param error What was thrown.
 * @param context The request or the action, without a trailing colon.
 * @returns The error to report.
 */
export function protocolErrorIn(error: unknown, context: string): unknown {
  return error instanceof DockerProtocolError
    ? new DockerProtocolError(error.code, `${context}: ${lowerFirst(error.message)}`)
    : error;
}
