/**
 * Copying files into and out of containers (`/containers/{id}/archive`):
 * the path-stat header, the tar download, and the tar upload. The methods
 * on {@linkcode Containers} document the calls; this module holds the work.
 *
 * @module
 */

import { DockerProtocolError } from "../errors.ts";
import type { ContainerPathStat } from "../types/mod.ts";
import {
  type ApiCall,
  type ApiClient,
  bytesDecoder,
  containerSegment,
  type RequestOptions,
  type StreamOptions,
} from "./_client.ts";

/**
 * Options of {@linkcode Containers.getArchive}. With `worker` the download
 * runs in a stream worker: the worker reports the response head (and its
 * stat header) first, then hands the body over in transferred buffers.
 */
export interface ContainerGetArchiveOptions extends StreamOptions {}

/** Options of {@linkcode Containers.statPath}. */
export interface ContainerStatPathOptions extends RequestOptions {}

/** Result of {@linkcode Containers.getArchive}. */
export interface ContainerGetArchiveResult {
  /** What the path is: name, size, mode, modification time, link target. */
  stat: ContainerPathStat;
  /**
   * The tar archive of the path (a directory's entries are under its base
   * name). Read it to its end or cancel it: until then it holds a connection.
   */
  body: ReadableStream<Uint8Array>;
}

/** Options of {@linkcode Containers.putArchive}. */
export interface ContainerPutArchiveOptions extends RequestOptions {
  /**
   * Fail instead of replacing an existing directory with a non-directory
   * (or the other way round). @default false
   */
  noOverwriteDirNonDir?: boolean;
  /** Give the extracted files the container user's UID and GID. @default false */
  copyUIDGID?: boolean;
}

/** The header that carries a {@linkcode ContainerPathStat}. */
const PATH_STAT_HEADER = "x-docker-container-path-stat";

/**
 * Checks a container path before any I/O.
 *
 * @param path A path inside the container.
 * @throws {TypeError} When it is not a non-empty string or contains a NUL byte.
 */
function assertContainerPath(path: string): void {
  if (typeof path !== "string" || path === "" || path.includes("\0")) {
    throw new TypeError(`A path inside the container is required (got ${JSON.stringify(path)})`);
  }
}

/**
 * Decodes the `X-Docker-Container-Path-Stat` header: base64 (standard
 * alphabet) of a JSON object.
 *
 * @param value The header value.
 * @param action What was being done, for the message.
 * @returns The stat.
 * @throws {DockerProtocolError} `INVALID_HEADER` when the header is
 *   missing or not base64 JSON.
 */
export function decodePathStat(
  value: string | null | undefined,
  action: string,
): ContainerPathStat {
  if (!value) {
    throw new DockerProtocolError(
      "INVALID_HEADER",
      `Cannot ${action}: the engine sent no X-Docker-Container-Path-Stat header`,
    );
  }
  try {
    const binary = atob(value.trim());
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const stat = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes),
    ) as ContainerPathStat;
    if (
      !stat || typeof stat !== "object" || typeof stat.name !== "string" ||
      typeof stat.mode !== "number"
    ) {
      throw new TypeError("not a path stat");
    }
    return stat;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DockerProtocolError(
      "INVALID_HEADER",
      `Cannot ${action}: the X-Docker-Container-Path-Stat header is not base64 JSON (${reason})`,
    );
  }
}

/** The `HEAD` or `GET /containers/{id}/archive` call; checks id and path before any I/O. */
function archiveCall(
  method: "HEAD" | "GET",
  id: string,
  path: string,
  options: RequestOptions,
): ApiCall & { action: string } {
  const route = `/containers/${containerSegment(id)}/archive`;
  assertContainerPath(path);
  const action = method === "HEAD"
    ? `stat ${JSON.stringify(path)} in container "${id}"`
    : `copy ${JSON.stringify(path)} from container "${id}"`;
  return { method, path: route, query: { path }, signal: options.signal, action };
}

/**
 * `HEAD /containers/{id}/archive`.
 *
 * @param api The API client.
 * @param id Container id or name.
 * @param path Path inside the container.
 * @param options `signal`.
 * @returns The stat.
 */
export async function statPath(
  api: ApiClient,
  id: string,
  path: string,
  options: ContainerStatPathOptions,
): Promise<ContainerPathStat> {
  const call = archiveCall("HEAD", id, path, options);
  const response = await api.send(call);
  try {
    const stat = decodePathStat(response.headers.get(PATH_STAT_HEADER), call.action);
    await response.discard();
    return stat;
  } catch (error) {
    response.cancel(error);
    throw error;
  }
}

/**
 * `GET /containers/{id}/archive`, on this thread or in a stream worker
 * (the worker sends the head with the stat header before the body).
 *
 * @param api The API client.
 * @param id Container id or name.
 * @param path Path inside the container.
 * @param options `signal`, `worker`.
 * @returns The stat and the tar body.
 */
export async function getArchive(
  api: ApiClient,
  id: string,
  path: string,
  options: ContainerGetArchiveOptions,
): Promise<ContainerGetArchiveResult> {
  const call = archiveCall("GET", id, path, options);
  call.worker = options.worker;
  const { head, body } = await api.streamWithHead<Uint8Array>(
    call,
    () => bytesDecoder(),
    { kind: "bytes" },
    [PATH_STAT_HEADER],
  );
  try {
    return { stat: decodePathStat(head.headers[PATH_STAT_HEADER], call.action), body };
  } catch (error) {
    // The body is never handed out: close its connection.
    await body.cancel(error).catch(() => {});
    throw error;
  }
}

/**
 * `PUT /containers/{id}/archive`.
 *
 * @param api The API client.
 * @param id Container id or name.
 * @param path Directory inside the container.
 * @param tar The archive.
 * @param options Flags and `signal`.
 */
export async function putArchive(
  api: ApiClient,
  id: string,
  path: string,
  tar: ReadableStream<Uint8Array> | Uint8Array,
  options: ContainerPutArchiveOptions,
): Promise<void> {
  const route = `/containers/${containerSegment(id)}/archive`;
  assertContainerPath(path);
  if (!(tar instanceof Uint8Array) && !(tar instanceof ReadableStream)) {
    throw new TypeError("A tar archive (Uint8Array or ReadableStream<Uint8Array>) is required");
  }
  await api.empty({
    method: "PUT",
    path: route,
    query: {
      path,
      noOverwriteDirNonDir: options.noOverwriteDirNonDir,
      copyUIDGID: options.copyUIDGID,
    },
    body: tar,
    headers: { "Content-Type": "application/x-tar" },
    signal: options.signal,
    action: `copy an archive to ${JSON.stringify(path)} in container "${id}"`,
  });
}
