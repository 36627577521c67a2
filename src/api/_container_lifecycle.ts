/**
 * A container's lifecycle: create, start, stop, restart, kill, pause,
 * unpause, wait, remove and prune; and the settings that change while it
 * exists: update, rename and the TTY size. Each function takes the API
 * client, then the arguments of the {@linkcode Containers} method of the
 * same name, which documents the call; this module holds the work.
 *
 * @module
 */

import type {
  ContainerCreateBody,
  ContainerCreateResponse,
  ContainerPruneResponse,
  ContainerUpdateBody,
  ContainerUpdateResponse,
  ContainerWaitResponse,
} from "../types/mod.ts";
import { type ApiClient, containerSegment, filtersQuery } from "./_client.ts";
import type {
  ContainerCreateOptions,
  ContainerKillOptions,
  ContainerPauseOptions,
  ContainerPruneOptions,
  ContainerRemoveOptions,
  ContainerRenameOptions,
  ContainerResizeOptions,
  ContainerRestartOptions,
  ContainerStartOptions,
  ContainerStartResult,
  ContainerStopOptions,
  ContainerStopResult,
  ContainerUnpauseOptions,
  ContainerUpdateOptions,
  ContainerWaitOptions,
} from "./_container_types.ts";
import { rejecting } from "./_failing.ts";
import { assertSize } from "./_session.ts";

/** Head timeout for a stop or restart: past the grace period, or none when unknown. */
function stopHeadersTimeout(t: number | undefined): number {
  return t !== undefined && t >= 0 ? (t + 30) * 1000 : 0;
}

/** Checks a stop timeout before any I/O. */
function assertStopTimeout(t: number | undefined): void {
  if (t !== undefined && !Number.isInteger(t)) {
    throw new RangeError(`A stop timeout must be whole seconds (got ${t})`);
  }
}

/** `POST /containers/create`, for {@linkcode Containers.create}. */
export function create(
  api: ApiClient,
  body: ContainerCreateBody,
  options: ContainerCreateOptions,
): Promise<ContainerCreateResponse> {
  return rejecting(() => {
    if (!body || typeof body !== "object") {
      throw new TypeError("A container create body is required");
    }
    return api.json<ContainerCreateResponse>({
      method: "POST",
      path: "/containers/create",
      query: { name: options.name, platform: options.platform },
      json: body,
      signal: options.signal,
      action: options.name ? `create container "${options.name}"` : "create a container",
    });
  });
}

/** `POST /containers/{id}/start`, for {@linkcode Containers.start}. */
export async function start(
  api: ApiClient,
  id: string,
  options: ContainerStartOptions,
): Promise<ContainerStartResult> {
  const status = await api.empty({
    method: "POST",
    path: `/containers/${containerSegment(id)}/start`,
    query: { detachKeys: options.detachKeys },
    signal: options.signal,
    action: `start container "${id}"`,
  });
  return { alreadyStarted: status === 304 };
}

/** `POST /containers/{id}/wait`, for {@linkcode Containers.wait}. */
export function wait(
  api: ApiClient,
  id: string,
  options: ContainerWaitOptions,
): Promise<ContainerWaitResponse> {
  return rejecting(() =>
    api.json<ContainerWaitResponse>({
      method: "POST",
      path: `/containers/${containerSegment(id)}/wait`,
      query: { condition: options.condition },
      signal: options.signal,
      longLived: true,
      headersTimeout: 0,
      action: `wait for container "${id}"`,
    })
  );
}

/** `DELETE /containers/{id}`, for {@linkcode Containers.remove}. */
export async function remove(
  api: ApiClient,
  id: string,
  options: ContainerRemoveOptions,
): Promise<void> {
  await api.empty({
    method: "DELETE",
    path: `/containers/${containerSegment(id)}`,
    query: { force: options.force, v: options.volumes, link: options.link },
    signal: options.signal,
    action: `remove container "${id}"`,
  });
}

/** `POST /containers/{id}/resize`, for {@linkcode Containers.resize}. */
export async function resize(
  api: ApiClient,
  id: string,
  options: ContainerResizeOptions,
): Promise<void> {
  const path = `/containers/${containerSegment(id)}/resize`;
  assertSize(options.h, options.w);
  await api.empty({
    method: "POST",
    path,
    query: { h: options.h, w: options.w },
    signal: options.signal,
    action: `resize the TTY of container "${id}"`,
  });
}

/** `POST /containers/{id}/stop`, for {@linkcode Containers.stop}. */
export async function stop(
  api: ApiClient,
  id: string,
  options: ContainerStopOptions,
): Promise<ContainerStopResult> {
  const path = `/containers/${containerSegment(id)}/stop`;
  assertStopTimeout(options.t);
  const status = await api.empty({
    method: "POST",
    path,
    query: { t: options.t, signal: options.stopSignal },
    signal: options.signal,
    headersTimeout: stopHeadersTimeout(options.t),
    action: `stop container "${id}"`,
  });
  return { alreadyStopped: status === 304 };
}

/** `POST /containers/{id}/restart`, for {@linkcode Containers.restart}. */
export async function restart(
  api: ApiClient,
  id: string,
  options: ContainerRestartOptions,
): Promise<void> {
  const path = `/containers/${containerSegment(id)}/restart`;
  assertStopTimeout(options.t);
  await api.empty({
    method: "POST",
    path,
    query: { t: options.t, signal: options.stopSignal },
    signal: options.signal,
    headersTimeout: stopHeadersTimeout(options.t),
    action: `restart container "${id}"`,
  });
}

/** `POST /containers/{id}/kill`, for {@linkcode Containers.kill}. */
export async function kill(
  api: ApiClient,
  id: string,
  options: ContainerKillOptions,
): Promise<void> {
  const path = `/containers/${containerSegment(id)}/kill`;
  const signal = options.killSignal;
  if (typeof signal === "number" && (!Number.isSafeInteger(signal) || signal < 1)) {
    throw new RangeError(`killSignal must be a positive signal number or a name (got ${signal})`);
  }
  await api.empty({
    method: "POST",
    path,
    query: { signal: options.killSignal },
    signal: options.signal,
    action: `kill container "${id}"`,
  });
}

/** `POST /containers/{id}/update`, for {@linkcode Containers.update}. */
export async function update(
  api: ApiClient,
  id: string,
  body: ContainerUpdateBody,
  options: ContainerUpdateOptions,
): Promise<ContainerUpdateResponse> {
  const path = `/containers/${containerSegment(id)}/update`;
  if (!body || typeof body !== "object") {
    throw new TypeError("A container update body is required");
  }
  const result = await api.json<ContainerUpdateResponse | null>({
    method: "POST",
    path,
    json: body,
    signal: options.signal,
    action: `update container "${id}"`,
  });
  return { ...result, Warnings: result?.Warnings ?? [] };
}

/** `POST /containers/{id}/rename`, for {@linkcode Containers.rename}. */
export async function rename(
  api: ApiClient,
  id: string,
  name: string,
  options: ContainerRenameOptions,
): Promise<void> {
  const path = `/containers/${containerSegment(id)}/rename`;
  if (typeof name !== "string" || name.trim() === "") {
    throw new TypeError(`A new container name is required (got ${JSON.stringify(name)})`);
  }
  await api.empty({
    method: "POST",
    path,
    query: { name },
    signal: options.signal,
    action: `rename container "${id}" to "${name}"`,
  });
}

/** `POST /containers/{id}/pause`, for {@linkcode Containers.pause}. */
export async function pause(
  api: ApiClient,
  id: string,
  options: ContainerPauseOptions,
): Promise<void> {
  await api.empty({
    method: "POST",
    path: `/containers/${containerSegment(id)}/pause`,
    signal: options.signal,
    action: `pause container "${id}"`,
  });
}

/** `POST /containers/{id}/unpause`, for {@linkcode Containers.unpause}. */
export async function unpause(
  api: ApiClient,
  id: string,
  options: ContainerUnpauseOptions,
): Promise<void> {
  await api.empty({
    method: "POST",
    path: `/containers/${containerSegment(id)}/unpause`,
    signal: options.signal,
    action: `unpause container "${id}"`,
  });
}

/** `POST /containers/prune`, for {@linkcode Containers.prune}. */
export async function prune(
  api: ApiClient,
  options: ContainerPruneOptions,
): Promise<ContainerPruneResponse> {
  const result = await api.json<ContainerPruneResponse>({
    method: "POST",
    path: "/containers/prune",
    query: { filters: filtersQuery(options.filters) },
    signal: options.signal,
    action: "prune containers",
  });
  return { ...result, ContainersDeleted: result.ContainersDeleted ?? [] };
}
