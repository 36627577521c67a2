/**
 * The engine's own image store: list, inspect, history, tag, remove,
 * prune, and commit (a container's filesystem made an image). Each
 * function takes the API client, then the arguments of the
 * {@linkcode Images} method of the same name, which documents the call;
 * this module holds the work.
 *
 * @module
 */

import { parseImageReference } from "../auth.ts";
import type {
  IdResponse,
  ImageDeleteResponseItem,
  ImageHistoryResponseItem,
  ImageInspect,
  ImagePruneResponse,
  ImageSummary,
} from "../types/mod.ts";
import { type ApiClient, filtersQuery, imageSegment, segment } from "./_client.ts";
import { rejecting } from "./_failing.ts";
import { required, stringList } from "./_image_checks.ts";
import type {
  ImageCommitOptions,
  ImageHistoryOptions,
  ImageInspectOptions,
  ImageListOptions,
  ImagePruneOptions,
  ImagePruneResult,
  ImageRemoveOptions,
  ImageTagOptions,
} from "./_image_types.ts";

/** `GET /images/json`, for {@linkcode Images.list}. */
export async function list(api: ApiClient, options: ImageListOptions): Promise<ImageSummary[]> {
  const images = await api.json<ImageSummary[] | null>({
    method: "GET",
    path: "/images/json",
    query: { all: options.all, filters: filtersQuery(options.filters), digests: options.digests },
    signal: options.signal,
    action: "list images",
  });
  return images ?? [];
}

/** `GET /images/{name}/json`, for {@linkcode Images.inspect}. */
export function inspect(
  api: ApiClient,
  name: string,
  options: ImageInspectOptions,
): Promise<ImageInspect> {
  return rejecting(() =>
    api.json<ImageInspect>({
      method: "GET",
      path: `/images/${imageSegment(name)}/json`,
      signal: options.signal,
      action: `inspect image "${name}"`,
    })
  );
}

/** `GET /images/{name}/history`, for {@linkcode Images.history}. */
export async function history(
  api: ApiClient,
  name: string,
  options: ImageHistoryOptions,
): Promise<ImageHistoryResponseItem[]> {
  const layers = await api.json<ImageHistoryResponseItem[] | null>({
    method: "GET",
    path: `/images/${imageSegment(name)}/history`,
    signal: options.signal,
    action: `read history of image "${name}"`,
  });
  return layers ?? [];
}

/** `POST /images/{name}/tag?repo=…&tag=…`, for {@linkcode Images.tag}. */
export async function tag(
  api: ApiClient,
  name: string,
  repo: string,
  options: ImageTagOptions,
): Promise<void> {
  const path = `/images/${imageSegment(name)}/tag`;
  const target = parseImageReference(repo);
  if (target.digest !== undefined) {
    throw new TypeError(`Cannot tag "${name}" as "${repo}": a tag cannot be a digest`);
  }
  if (options.tag !== undefined) required(options.tag, "tag");
  if (target.tag !== undefined && options.tag !== undefined) {
    throw new TypeError(
      `Cannot tag "${name}": the tag is given both in "${repo}" and as an option`,
    );
  }
  const tag = options.tag ?? target.tag;
  await api.empty({
    method: "POST",
    path,
    query: { repo: target.repository, tag },
    signal: options.signal,
    action: `tag image "${name}" as "${target.repository}${tag === undefined ? "" : `:${tag}`}"`,
  });
}

/** `DELETE /images/{name}`, for {@linkcode Images.remove}. */
export async function remove(
  api: ApiClient,
  name: string,
  options: ImageRemoveOptions,
): Promise<ImageDeleteResponseItem[]> {
  const items = await api.json<ImageDeleteResponseItem[] | null>({
    method: "DELETE",
    path: `/images/${imageSegment(name)}`,
    query: { force: options.force, noprune: options.noprune },
    signal: options.signal,
    action: `remove image "${name}"`,
  });
  return items ?? [];
}

/** `POST /images/prune`, for {@linkcode Images.prune}. */
export async function prune(api: ApiClient, options: ImagePruneOptions): Promise<ImagePruneResult> {
  const result = await api.json<ImagePruneResponse>({
    method: "POST",
    path: "/images/prune",
    query: { filters: filtersQuery(options.filters) },
    signal: options.signal,
    action: "prune images",
  });
  return {
    ...result,
    ImagesDeleted: result.ImagesDeleted ?? [],
    SpaceReclaimed: result.SpaceReclaimed ?? 0,
  };
}

/** `POST /commit?container=…`, for {@linkcode Images.commit}. */
export function commit(
  api: ApiClient,
  container: string,
  options: ImageCommitOptions,
): Promise<IdResponse> {
  return rejecting(() => {
    segment(container, "container id");
    stringList(options.changes, "changes");
    if (options.config !== undefined && (!options.config || typeof options.config !== "object")) {
      throw new TypeError("A commit config must be an object");
    }
    return api.json<IdResponse>({
      method: "POST",
      path: "/commit",
      query: {
        container,
        repo: options.repo,
        tag: options.tag,
        comment: options.comment,
        author: options.author,
        pause: options.pause,
        changes: options.changes,
      },
      json: options.config ?? {},
      signal: options.signal,
      headersTimeout: 0,
      action: `commit container "${container}"`,
    });
  });
}
