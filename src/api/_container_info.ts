/**
 * Reading about containers: the list, one container's record, its
 * processes (`top`), its filesystem changes, and its resource usage (one
 * stats sample or a stream of them). Each function takes the API client,
 * then the arguments of the {@linkcode Containers} method of the same
 * name, which documents the call; this module holds the work.
 *
 * @module
 */

import { JsonLinesDecoder } from "../stream/json_lines.ts";
import type {
  ContainerChangeResponseItem,
  ContainerInspectResponse,
  ContainerStats,
  ContainerSummary,
  ContainerTopResponse,
} from "../types/mod.ts";
import { type ApiClient, containerSegment, filtersQuery } from "./_client.ts";
import type {
  ContainerChangesOptions,
  ContainerInspectOptions,
  ContainerListOptions,
  ContainerStatsOptions,
  ContainerStatsStreamOptions,
  ContainerTopOptions,
} from "./_container_types.ts";
import { failing, rejecting } from "./_failing.ts";

/** `GET /containers/json`, for {@linkcode Containers.list}. */
export function list(api: ApiClient, options: ContainerListOptions): Promise<ContainerSummary[]> {
  return api.json<ContainerSummary[]>({
    method: "GET",
    path: "/containers/json",
    query: {
      all: options.all,
      limit: options.limit,
      size: options.size,
      filters: filtersQuery(options.filters),
    },
    signal: options.signal,
    action: "list containers",
  });
}

/** `GET /containers/{id}/json`, for {@linkcode Containers.inspect}. */
export function inspect(
  api: ApiClient,
  id: string,
  options: ContainerInspectOptions,
): Promise<ContainerInspectResponse> {
  return rejecting(() => {
    const path = `/containers/${containerSegment(id)}/json`;
    return api.json<ContainerInspectResponse>({
      method: "GET",
      path,
      query: { size: options.size },
      signal: options.signal,
      action: `inspect container "${id}"`,
    });
  });
}

/** `GET /containers/{id}/top`, for {@linkcode Containers.top}. */
export function top(
  api: ApiClient,
  id: string,
  options: ContainerTopOptions,
): Promise<ContainerTopResponse> {
  return rejecting(() =>
    api.json<ContainerTopResponse>({
      method: "GET",
      path: `/containers/${containerSegment(id)}/top`,
      query: { ps_args: options.psArgs },
      signal: options.signal,
      action: `list processes of container "${id}"`,
    })
  );
}

/** `GET /containers/{id}/changes`, for {@linkcode Containers.changes}. */
export async function changes(
  api: ApiClient,
  id: string,
  options: ContainerChangesOptions,
): Promise<ContainerChangeResponseItem[]> {
  const changes = await api.json<ContainerChangeResponseItem[] | null>({
    method: "GET",
    path: `/containers/${containerSegment(id)}/changes`,
    signal: options.signal,
    action: `list changes of container "${id}"`,
  });
  // The engine sends `null` when nothing changed.
  return changes ?? [];
}

/** `GET /containers/{id}/stats?stream=0`, for {@linkcode Containers.stats}. */
export function stats(
  api: ApiClient,
  id: string,
  options: ContainerStatsOptions,
): Promise<ContainerStats> {
  return rejecting(() => {
    if (options.stream !== undefined && options.stream !== false) {
      throw new TypeError(
        "containers.stats returns one sample; use containers.statsStream for a stream",
      );
    }
    return api.json<ContainerStats>({
      method: "GET",
      path: `/containers/${containerSegment(id)}/stats`,
      query: { stream: false, "one-shot": options.oneShot },
      signal: options.signal,
      action: `read stats of container "${id}"`,
    });
  });
}

/** `GET /containers/{id}/stats?stream=1`, for {@linkcode Containers.statsStream}. */
export function statsStream(
  api: ApiClient,
  id: string,
  options: ContainerStatsStreamOptions,
): ReadableStream<ContainerStats> {
  return failing(() =>
    api.stream<ContainerStats>(
      {
        method: "GET",
        path: `/containers/${containerSegment(id)}/stats`,
        query: { stream: true },
        signal: options.signal,
        longLived: true,
        worker: options.worker,
        action: `stream stats of container "${id}"`,
      },
      () => new JsonLinesDecoder<ContainerStats>(),
      { kind: "json" },
    )
  );
}
