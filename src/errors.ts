/**
 * The error hierarchy of berth. Every failure berth reports is a
 * {@linkcode DockerError}; the subclasses say which layer failed:
 *
 * - {@linkcode DockerApiError}: the engine answered with an error status
 *   ({@linkcode DockerNotFoundError} for 404, {@linkcode DockerConflictError}
 *   for 409).
 * - {@linkcode DockerConnectionError}: the engine could not be reached, or the
 *   connection broke.
 * - {@linkcode DockerTimeoutError}: a configured timeout ran out.
 * - {@linkcode DockerProtocolError}: the bytes on the wire were not valid
 *   HTTP/1.1 or not a valid Docker stream.
 * - {@linkcode DockerStreamError}: the engine reported an error inside a
 *   stream that had started with a success status (pull, push, build, ...).
 * - {@linkcode DockerOutputLimitError}: output collected in memory
 *   (`containers.run`, `exec.run`) outgrew its limit.
 *
 * Aborts are the one exception: when a caller's `AbortSignal` fires, the
 * signal's `reason` is thrown unchanged.
 *
 * @module
 */

/**
 * Base class of every error berth throws (aborts excepted, which rethrow the
 * signal's reason).
 *
 * @example Catch any berth failure
 * ```ts
 * import { DockerError } from "@berth/docker";
 *
 * try {
 *   throw new DockerError("example");
 * } catch (error) {
 *   if (error instanceof DockerError) console.log(error.message);
 * }
 * ```
 */
export class DockerError extends Error {
  /** Always `"DockerError"`. */
  override name = "DockerError";
}

/** Options of {@linkcode DockerApiError}. */
export interface DockerApiErrorOptions {
  /** HTTP status the engine answered with. */
  status: number;
  /** HTTP reason phrase, such as `"Not Found"`. */
  statusText: string;
  /** Request method, such as `"POST"`. */
  method: string;
  /** Request path with query, as sent (never containing credentials). */
  path: string;
  /** The engine's own message (`{"message": …}` body), or `""`. */
  engineMessage: string;
  /** What berth was doing, for the message, such as `stop container "web"`. */
  action?: string;
}

/**
 * The engine answered with an error status (4xx or 5xx).
 *
 * @example Inspect the status of a failed call
 * ```ts
 * import { DockerApiError } from "@berth/docker";
 *
 * const error = new DockerApiError({
 *   status: 500, statusText: "Internal Server Error", method: "GET",
 *   path: "/info", engineMessage: "boom", action: "read engine info",
 * });
 * console.log(error.status, error.message);
 * ```
 */
export class DockerApiError extends DockerError {
  /** Always `"DockerApiError"`. */
  override name = "DockerApiError";
  /** HTTP status the engine answered with. */
  readonly status: number;
  /** HTTP reason phrase. */
  readonly statusText: string;
  /** Request method. */
  readonly method: string;
  /** Request path with query. */
  readonly path: string;
  /** The engine's own error message, or `""` when it sent none. */
  readonly engineMessage: string;

  /**
   * Builds the error and its message: `Cannot <action>: engine answered
   * <status> <text>: <engine message>`.
   *
   * @param options What was sent and what came back.
   */
  constructor(options: DockerApiErrorOptions) {
    const what = options.action ?? `${options.method} ${options.path}`;
    const tail = options.engineMessage ? `: ${options.engineMessage}` : "";
    super(`Cannot ${what}: engine answered ${options.status} ${options.statusText}${tail}`);
    this.status = options.status;
    this.statusText = options.statusText;
    this.method = options.method;
    this.path = options.path;
    this.engineMessage = options.engineMessage;
  }
}

/**
 * The engine answered 404: the container, image, network, ... does not exist.
 *
 * @example Treat a missing container as already gone
 * ```ts
 * import { DockerNotFoundError } from "@berth/docker";
 *
 * function ignoreMissing(error: unknown): void {
 *   if (!(error instanceof DockerNotFoundError)) throw error;
 * }
 * ignoreMissing(new DockerNotFoundError({
 *   status: 404, statusText: "Not Found", method: "DELETE",
 *   path: "/containers/x", engineMessage: "No such container: x",
 * }));
 * ```
 */
export class DockerNotFoundError extends DockerApiError {
  /** Always `"DockerNotFoundError"`. */
  override name = "DockerNotFoundError";
}

/**
 * The engine answered 409: the request conflicts with the object's state
 * (a name in use, removing a running container, ...). A swarm update with
 * a stale `version` is one too, though the engine answers it with 500 or
 * 400 (`status` keeps what it sent): read the object again and retry.
 *
 * @example Recognise a name clash
 * ```ts
 * import { DockerConflictError } from "@berth/docker";
 *
 * const error = new DockerConflictError({
 *   status: 409, statusText: "Conflict", method: "POST",
 *   path: "/containers/create?name=web", engineMessage: "name in use",
 * });
 * console.log(error instanceof DockerConflictError);
 * ```
 */
export class DockerConflictError extends DockerApiError {
  /** Always `"DockerConflictError"`. */
  override name = "DockerConflictError";
}

/**
 * The engine could not be reached, refused the connection, or the connection
 * broke while a request was in flight.
 *
 * @example Report which socket was tried
 * ```ts
 * import { DockerConnectionError } from "@berth/docker";
 *
 * const error = new DockerConnectionError("Cannot connect", "unix:///var/run/docker.sock");
 * console.log(error.host);
 * ```
 */
export class DockerConnectionError extends DockerError {
  /** Always `"DockerConnectionError"`. */
  override name = "DockerConnectionError";
  /** The address that was tried, such as `unix:///var/run/docker.sock`. */
  readonly host: string;

  /**
   * Builds the error.
   *
   * @param message What failed, naming the address.
   * @param host The address that was tried.
   * @param options `cause`: the underlying error, kept for debugging.
   */
  constructor(message: string, host: string, options?: ErrorOptions) {
    super(message, options);
    this.host = host;
  }
}

/** Which wait ran out, for {@linkcode DockerTimeoutError}. */
export type DockerTimeoutPhase = "connect" | "headers" | "body";

/**
 * A timeout configured on the client or call ran out.
 *
 * @example Tell timeouts apart
 * ```ts
 * import { DockerTimeoutError } from "@berth/docker";
 *
 * const error = new DockerTimeoutError("No response headers within 10 ms", "headers", 10);
 * console.log(error.phase, error.timeout);
 * ```
 */
export class DockerTimeoutError extends DockerError {
  /** Always `"DockerTimeoutError"`. */
  override name = "DockerTimeoutError";
  /** The phase that timed out. */
  readonly phase: DockerTimeoutPhase;
  /** The limit that was exceeded, in milliseconds. */
  readonly timeout: number;

  /**
   * Builds the error.
   *
   * @param message What timed out.
   * @param phase `connect`, `headers` or `body`.
   * @param timeout The limit in milliseconds.
   */
  constructor(message: string, phase: DockerTimeoutPhase, timeout: number) {
    super(message);
    this.phase = phase;
    this.timeout = timeout;
  }
}

/**
 * Stable codes of {@linkcode DockerProtocolError}, one per kind of malformed
 * input.
 */
export type DockerProtocolErrorCode =
  | "INVALID_STATUS_LINE"
  | "INVALID_HEADER"
  | "HEADERS_TOO_LARGE"
  | "TOO_MANY_HEADERS"
  | "INVALID_CONTENT_LENGTH"
  | "CONFLICTING_FRAMING"
  | "UNSUPPORTED_TRANSFER_ENCODING"
  | "INVALID_CHUNK_SIZE"
  | "CHUNK_SIZE_TOO_LARGE"
  | "INVALID_CHUNK_DELIMITER"
  | "TRAILERS_TOO_LARGE"
  | "PREMATURE_CLOSE"
  | "UNEXPECTED_UPGRADE"
  | "INVALID_FRAME"
  | "INVALID_JSON"
  | "LINE_TOO_LONG"
  | "INVALID_TAR"
  | "TAR_LIMIT_EXCEEDED"
  | "INVALID_WEBSOCKET_FRAME"
  | "WEBSOCKET_MESSAGE_TOO_LARGE"
  | "INVALID_BUILDKIT_TRACE"
  | "INVALID_HTTP2"
  | "BODY_TOO_LARGE";

/**
 * The bytes the engine (or something pretending to be it) sent are not valid
 * HTTP/1.1, or not a valid Docker stream. The connection is closed, never
 * reused.
 *
 * @example Branch on the stable code
 * ```ts
 * import { DockerProtocolError } from "@berth/docker";
 *
 * const error = new DockerProtocolError("INVALID_CHUNK_SIZE", "Chunk size is not hex");
 * if (error.code === "INVALID_CHUNK_SIZE") console.log(error.message);
 * ```
 */
export class DockerProtocolError extends DockerError {
  /** Always `"DockerProtocolError"`. */
  override name = "DockerProtocolError";
  /** Stable code of the failure. */
  readonly code: DockerProtocolErrorCode;

  /**
   * Builds the error.
   *
   * @param code Stable code of the failure.
   * @param message What was wrong, with position or value where useful.
   */
  constructor(code: DockerProtocolErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * The engine reported an error inside a stream that started with a success
 * status: an `error`/`errorDetail` line of a pull, push, build or load, or a
 * system-error frame of an attach. A progress call's error names the call
 * (`Cannot push image "reg/app:1": unauthorized: authentication required`);
 * {@linkcode DockerStreamError.engineMessage} keeps the engine's own words.
 *
 * @example Read the engine's words and detail
 * ```ts
 * import { DockerStreamError } from "@berth/docker";
 *
 * const error = new DockerStreamError(
 *   'Cannot pull image "app:1": manifest unknown',
 *   { code: 1, message: "manifest unknown" },
 *   "manifest unknown",
 * );
 * console.log(error.engineMessage, error.detail);
 * ```
 */
export class DockerStreamError extends DockerError {
  /** Always `"DockerStreamError"`. */
  override name = "DockerStreamError";
  /** The engine's `errorDetail` object, when it sent one. */
  readonly detail: { code?: number; message?: string } | undefined;
  /** The engine's error message as it sent it, without berth's context. */
  readonly engineMessage: string;

  /**
   * Builds the error.
   *
   * @param message What failed: the engine's message, with the call it
   *   ended when known.
   * @param detail The engine's `errorDetail`, if any.
   * @param engineMessage The engine's message alone. @default message
   */
  constructor(
    message: string,
    detail?: { code?: number; message?: string },
    engineMessage: string = message,
  ) {
    super(message);
    this.detail = detail;
    this.engineMessage = engineMessage;
  }
}

/**
 * Output that a call collects in memory (`containers.run`, `exec.run`,
 * `collectFrames`) grew past its limit (`maxOutput`). The output stream was
 * cancelled; what had been collected is dropped.
 *
 * @example Tell a too-large output from other failures
 * ```ts
 * import { DockerOutputLimitError } from "@berth/docker";
 *
 * const error = new DockerOutputLimitError("Output exceeds 1024 bytes", 1024);
 * if (error instanceof DockerOutputLimitError) console.log(error.limit);
 * ```
 */
export class DockerOutputLimitError extends DockerError {
  /** Always `"DockerOutputLimitError"`. */
  override name = "DockerOutputLimitError";
  /** The limit, in bytes of stdout and stderr together. */
  readonly limit: number;

  /**
   * Builds the error.
   *
   * @param message What outgrew the limit, and what to do instead.
   * @param limit The limit in bytes.
   */
  constructor(message: string, limit: number) {
    super(message);
    this.limit = limit;
  }
}
