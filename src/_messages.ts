/**
 * Putting a low-level failure in the context of the call it broke.
 *
 * @module
 */

import { DockerError, DockerProtocolError } from "./errors.ts";

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

/**
 * A failure of the file system (a Deno permission missing, or the OS
 * refusing: no permission, no space, ...) as a `DockerError` saying what
 * was being done, with the original as `cause`. Other errors (berth's own,
 * an abort's reason) are returned as they are.
 *
 * @param error What was thrown.
 * @param doing What failed, such as `Cannot extract into "/out"`.
 * @param flags The Deno flags that would allow it, for a missing permission.
 * @returns The error to report.
 */
export function fileSystemError(error: unknown, doing: string, flags: string): unknown {
  if (error instanceof Deno.errors.NotCapable) {
    return new DockerError(`${doing}: run with ${flags}`, { cause: error });
  }
  const isDenoError = Object.values(Deno.errors).some((kind) => error instanceof kind);
  return isDenoError || isPlainOsError(error)
    ? new DockerError(`${doing}: ${(error as Error).message}`, { cause: error })
    : error;
}

/**
 * Whether `error` is an OS error that Deno reports as a plain `Error` with
 * a `code` rather than as a `Deno.errors` class (`ENAMETOOLONG`, `ENOSPC`,
 * `EROFS`, ...).
 */
function isPlainOsError(error: unknown): boolean {
  return error instanceof Error && error.constructor === Error &&
    typeof (error as { code?: unknown }).code === "string";
}
