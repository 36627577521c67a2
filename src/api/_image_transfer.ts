/**
 * Images in and out of the engine: from and to a registry (pull, push, and
 * search, which asks a registry with the same credentials), and as tar
 * archives (import, save, load). Holds the registry credential lookup and
 * the JSON-lines progress call they share. Each function takes the API
 * client (and, for the registry calls, the client's credential store),
 * then the arguments of the {@linkcode Images} method of the same name,
 * which documents the call; this module holds the work.
 *
 * @module
 */

import {
  authSecrets,
  type CredentialStore,
  encodeAuthHeader,
  parseImageReference,
  type RegistryAuth,
  registryKey,
  registryOfImage,
  scrubSecrets,
} from "../auth.ts";
import { registryOfSearchTerm } from "../image_reference.ts";
import { JsonLinesDecoder } from "../stream/json_lines.ts";
import {
  type ImageImportResult,
  type ImageLoadEvent,
  type ImageLoadResult,
  type ImagePullResult,
  type ImagePushEvent,
  type ImagePushResult,
  importCollector,
  loadCollector,
  type ProgressCollector,
  ProgressStream,
  pullCollector,
  pushCollector,
} from "../stream/progress.ts";
import type { CreateImageInfo, ImageSearchResponseItem } from "../types/mod.ts";
import {
  type ApiCall,
  type ApiClient,
  bytesDecoder,
  filtersQuery,
  imageSegment,
} from "./_client.ts";
import { failing, failingProgress } from "./_failing.ts";
import { archive, required, stringList } from "./_image_checks.ts";
import type {
  ImageArchive,
  ImageGetOptions,
  ImageImportOptions,
  ImageLoadOptions,
  ImagePullOptions,
  ImagePushOptions,
  ImageSearchOptions,
} from "./_image_types.ts";

/**
 * The `repo` and `tag` of an import. A tag goes inside `repo` when `repo`
 * has none: Docker reads `repo=app:1` as `repo=app&tag=1`, and Podman 4.3
 * ignores `tag` on import (the image came out as `app:latest`).
 */
function importName(
  repo: string | undefined,
  tag: string | undefined,
): { repo: string | undefined; tag?: string | undefined } {
  if (repo === undefined || tag === undefined || tag === "") return { repo, tag };
  const tagged = repo.lastIndexOf(":") > repo.lastIndexOf("/");
  return tagged ? { repo, tag } : { repo: `${repo}:${tag}` };
}

/** The credentials for `registry`: the call's, else the client store's. */
async function registryAuth(
  credentials: CredentialStore | undefined,
  registry: string,
  explicit: RegistryAuth | false | undefined,
  signal: AbortSignal | undefined,
): Promise<RegistryAuth | undefined> {
  if (explicit === false) return undefined;
  const found = explicit ??
    await credentials?.get(registry, signal ? { signal } : {});
  if (!found) return undefined;
  if (found.serveraddress) return found;
  return { ...found, serveraddress: registryKey(registry) };
}

/** Starts a JSON-lines progress call once `prepare` built it. */
function progress<TEvent, TResult>(
  api: ApiClient,
  prepare: (secrets: string[]) => Promise<ApiCall>,
  collector: ProgressCollector<TEvent, TResult>,
  action: string,
  options: { onProgress?: ((event: TEvent) => void) | undefined; worker?: boolean | undefined },
): ProgressStream<TEvent, TResult> {
  const secrets: string[] = [];
  const source = prepare(secrets).then((call) =>
    api.stream<TEvent>(
      { ...call, worker: options.worker },
      () => new JsonLinesDecoder<TEvent>(),
      { kind: "json" },
    )
  );
  return new ProgressStream<TEvent, TResult>(source, collector, {
    onProgress: options.onProgress,
    action,
    mapError: (error) => scrubSecrets(error, secrets),
  });
}

/** `POST /images/create?fromImage=…`, for {@linkcode Images.pull}. */
export function pull(
  api: ApiClient,
  credentials: CredentialStore | undefined,
  ref: string,
  options: ImagePullOptions,
): ProgressStream<CreateImageInfo, ImagePullResult> {
  return failingProgress(() => {
    const parts = parseImageReference(ref);
    if (options.tag !== undefined) required(options.tag, "tag");
    if (
      options.allTags && (parts.tag !== undefined || parts.digest !== undefined || options.tag)
    ) {
      throw new TypeError(
        `Cannot pull every tag of "${ref}": give a repository without tag or digest`,
      );
    }
    if (options.auth) encodeAuthHeader(options.auth); // checks it before any I/O
    const tag = options.allTags ? undefined : options.tag ?? parts.digest ?? parts.tag ?? "latest";
    const image = tag === undefined
      ? parts.repository
      : `${parts.repository}${tag.includes(":") ? "@" : ":"}${tag}`;
    const action = `pull image "${image}"`;
    return progress<CreateImageInfo, ImagePullResult>(
      api,
      async (secrets) => {
        const auth = await registryAuth(
          credentials,
          registryOfImage(ref),
          options.auth,
          options.signal,
        );
        secrets.push(...authSecrets(auth));
        const call: ApiCall = {
          method: "POST",
          path: "/images/create",
          query: { fromImage: parts.repository, tag, platform: options.platform },
          signal: options.signal,
          action,
        };
        if (auth) call.headers = { "X-Registry-Auth": encodeAuthHeader(auth) };
        return call;
      },
      pullCollector(image),
      action,
      options,
    );
  });
}

/** `POST /images/{name}/push?tag=…`, for {@linkcode Images.push}. */
export function push(
  api: ApiClient,
  credentials: CredentialStore | undefined,
  name: string,
  options: ImagePushOptions,
): ProgressStream<ImagePushEvent, ImagePushResult> {
  return failingProgress(() => {
    const parts = parseImageReference(name);
    if (parts.digest !== undefined) {
      throw new TypeError(`Cannot push "${name}": push a tag, not a digest`);
    }
    if (options.tag !== undefined) required(options.tag, "tag");
    if (options.allTags && (parts.tag !== undefined || options.tag)) {
      throw new TypeError(`Cannot push every tag of "${name}": give a repository without tag`);
    }
    if (options.auth) encodeAuthHeader(options.auth);
    const tag = options.allTags ? undefined : options.tag ?? parts.tag ?? "latest";
    const image = tag === undefined ? parts.repository : `${parts.repository}:${tag}`;
    const action = `push image "${image}"`;
    const path = `/images/${imageSegment(parts.repository)}/push`;
    return progress<ImagePushEvent, ImagePushResult>(
      api,
      async (secrets) => {
        const auth = await registryAuth(
          credentials,
          registryOfImage(name),
          options.auth,
          options.signal,
        );
        secrets.push(...authSecrets(auth));
        return {
          method: "POST",
          path,
          query: { tag },
          headers: { "X-Registry-Auth": encodeAuthHeader(auth ?? {}) },
          signal: options.signal,
          action,
        };
      },
      pushCollector(),
      action,
      options,
    );
  });
}

/** `GET /images/search?term=…`, for {@linkcode Images.search}. */
export async function search(
  api: ApiClient,
  credentials: CredentialStore | undefined,
  term: string,
  options: ImageSearchOptions,
): Promise<ImageSearchResponseItem[]> {
  required(term, "search term");
  if (
    options.limit !== undefined && !(Number.isSafeInteger(options.limit) && options.limit > 0)
  ) {
    throw new RangeError(`A search limit must be a positive integer (got ${options.limit})`);
  }
  if (options.auth) encodeAuthHeader(options.auth); // checks it before any I/O
  const auth = await registryAuth(
    credentials,
    registryOfSearchTerm(term),
    options.auth,
    options.signal,
  );
  const call: ApiCall = {
    method: "GET",
    path: "/images/search",
    query: { term, limit: options.limit, filters: filtersQuery(options.filters) },
    signal: options.signal,
    action: `search images for "${term}"`,
  };
  if (auth) call.headers = { "X-Registry-Auth": encodeAuthHeader(auth) };
  try {
    return await api.json<ImageSearchResponseItem[] | null>(call) ?? [];
  } catch (error) {
    throw scrubSecrets(error, authSecrets(auth));
  }
}

/**
 * `POST /images/create?fromSrc=…`, for {@linkcode Images.import}
 * (`import` is a reserved word, hence the name).
 */
export function importImage(
  api: ApiClient,
  source: ImageArchive | URL,
  options: ImageImportOptions,
): ProgressStream<CreateImageInfo, ImageImportResult> {
  return failingProgress(() => {
    const url = source instanceof URL;
    if (!url) archive(source, "An image import source");
    stringList(options.changes, "changes");
    const name = importName(options.repo, options.tag);
    const action = name.repo === undefined
      ? "import an image"
      : `import image "${name.repo}${name.tag ? `:${name.tag}` : ""}"`;
    const call: ApiCall = {
      method: "POST",
      path: "/images/create",
      query: {
        fromSrc: url ? source.href : "-",
        ...name,
        message: options.message,
        changes: options.changes,
        platform: options.platform,
      },
      signal: options.signal,
      headersTimeout: 0,
      action,
    };
    if (!url) {
      call.body = source;
      call.headers = { "Content-Type": "application/x-tar" };
    }
    return progress<CreateImageInfo, ImageImportResult>(
      api,
      () => Promise.resolve(call),
      importCollector(),
      action,
      options,
    );
  });
}

/** `GET /images/{name}/get` or `GET /images/get?names=…`, for {@linkcode Images.get}. */
export function get(
  api: ApiClient,
  names: string | string[],
  options: ImageGetOptions,
): ReadableStream<Uint8Array> {
  return failing(() => {
    let call: ApiCall;
    if (Array.isArray(names)) {
      if (names.length === 0) throw new TypeError("At least one image name is required");
      for (const name of names) required(name, "image name");
      call = {
        method: "GET",
        path: "/images/get",
        query: { names },
        signal: options.signal,
        headersTimeout: 0,
        action: `save images ${names.map((name) => `"${name}"`).join(", ")}`,
      };
    } else {
      call = {
        method: "GET",
        path: `/images/${imageSegment(names)}/get`,
        signal: options.signal,
        headersTimeout: 0,
        action: `save image "${names}"`,
      };
    }
    call.worker = options.worker;
    return api.stream<Uint8Array>(call, bytesDecoder, { kind: "bytes" });
  });
}

/** `POST /images/load`, for {@linkcode Images.load}. */
export function load(
  api: ApiClient,
  source: ImageArchive,
  options: ImageLoadOptions,
): ProgressStream<ImageLoadEvent, ImageLoadResult> {
  return failingProgress(() => {
    archive(source, "An image archive");
    const call: ApiCall = {
      method: "POST",
      path: "/images/load",
      // The engine's default is quiet: ask explicitly.
      query: { quiet: options.quiet ?? false },
      body: source,
      headers: { "Content-Type": "application/x-tar" },
      signal: options.signal,
      headersTimeout: 0,
      action: "load images",
    };
    return progress<ImageLoadEvent, ImageLoadResult>(
      api,
      () => Promise.resolve(call),
      loadCollector(),
      "load images",
      options,
    );
  });
}
