/**
 * `docker.images`: list, inspect, history, pull, push, tag, remove, search,
 * prune, commit, import, save (`get`) and load.
 *
 * Pull, push, import and load answer with a {@linkcode ProgressStream}: a
 * stream of typed progress events that is also a promise of the result, so
 * `await docker.images.pull(ref)` resolves once the image exists and
 * rejects on an `error` line (see `src/stream/progress.ts`).
 *
 * Registry credentials (`X-Registry-Auth`) come from the call's `auth`
 * option, else from the client's {@linkcode CredentialStore}; they never
 * appear in errors (engine messages are scrubbed of them) or observer events.
 *
 * @module
 */

import type { CredentialStore } from "../auth.ts";
import type {
  ImageImportResult,
  ImageLoadEvent,
  ImageLoadResult,
  ImagePullResult,
  ImagePushEvent,
  ImagePushResult,
  ProgressStream,
} from "../stream/progress.ts";
import type {
  CreateImageInfo,
  IdResponse,
  ImageDeleteResponseItem,
  ImageHistoryResponseItem,
  ImageInspect,
  ImageSearchResponseItem,
  ImageSummary,
} from "../types/mod.ts";
import type { ApiClient } from "./_client.ts";
import { failingProgress } from "./_failing.ts";
import { commit, history, inspect, list, prune, remove, tag } from "./_image_store.ts";
import { get, importImage, load, pull, push, search } from "./_image_transfer.ts";
import {
  type BuildCachePruneOptions,
  type BuildCachePruneResult,
  buildImage,
  type ImageBuildContext,
  type ImageBuildEvent,
  type ImageBuildOptions,
  type ImageBuildResult,
  pruneBuildCache,
} from "./_build.ts";

export type {
  BuildCachePruneOptions,
  BuildCachePruneResult,
  BuildKitStatus,
  BuildKitVertex,
  BuildKitVertexLog,
  BuildKitVertexStatus,
  BuildKitVertexWarning,
  ImageBuildContext,
  ImageBuildEvent,
  ImageBuildOptions,
  ImageBuildOutput,
  ImageBuildRemoteContext,
  ImageBuildResult,
  ImageBuildUlimit,
} from "./_build.ts";

import type {
  ImageArchive,
  ImageCommitOptions,
  ImageGetOptions,
  ImageHistoryOptions,
  ImageImportOptions,
  ImageInspectOptions,
  ImageListOptions,
  ImageLoadOptions,
  ImagePruneOptions,
  ImagePruneResult,
  ImagePullOptions,
  ImagePushOptions,
  ImageRemoveOptions,
  ImageSearchOptions,
  ImagesOptions,
  ImageTagOptions,
} from "./_image_types.ts";

export type {
  ImageArchive,
  ImageCommitOptions,
  ImageGetOptions,
  ImageHistoryOptions,
  ImageImportOptions,
  ImageInspectOptions,
  ImageListOptions,
  ImageLoadOptions,
  ImageProgressOptions,
  ImagePruneOptions,
  ImagePruneResult,
  ImagePullOptions,
  ImagePushOptions,
  ImageRemoveOptions,
  ImageSearchOptions,
  ImagesOptions,
  ImageTagOptions,
} from "./_image_types.ts";

// Re-exported so this module documents on its own (`deno doc --lint`);
// mod.ts exports the same bindings.
export type { RequestOptions, StreamOptions } from "./_client.ts";
export type { CredentialLookupOptions, CredentialStore, RegistryAuth } from "../auth.ts";
export type * from "../types/images.ts";
export type { ContainerConfig } from "../types/containers.ts";
export type {
  ErrorDetail,
  GraphDriverData,
  HealthConfig,
  IdResponse,
  ProgressDetail,
} from "../types/common.ts";
export { ProgressStream } from "../stream/progress.ts";
export type {
  ImageImportResult,
  ImageLoadEvent,
  ImageLoadResult,
  ImagePullResult,
  ImagePushAux,
  ImagePushEvent,
  ImagePushResult,
  ProgressCollector,
  ProgressStreamOptions,
} from "../stream/progress.ts";

/** Image calls. Reach it as `docker.images`. */
export class Images {
  readonly #api: ApiClient;
  readonly #credentials: CredentialStore | undefined;

  /**
   * Creates the namespace; use `docker.images` rather than calling this.
   *
   * @param api The API client of a {@linkcode Docker} instance.
   * @param options `credentials`: the client's credential store.
   */
  constructor(api: ApiClient, options: ImagesOptions = {}) {
    this.#api = api;
    this.#credentials = options.credentials;
  }

  /**
   * Sends `GET /images/json`: lists local images.
   *
   * @param options `all`, `filters`, `digests`, `signal`.
   * @returns The images (always an array).
   *
   * @example List the tags of one repository
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const images = await docker.images.list({ filters: { reference: ["busybox"] } });
   * console.log(images.flatMap((image) => image.RepoTags ?? []));
   * ```
   */
  list(options: ImageListOptions = {}): Promise<ImageSummary[]> {
    return list(this.#api, options);
  }

  /**
   * Sends `GET /images/{name}/json`: everything the engine knows about an image.
   *
   * @param name Image name, `name:tag`, digest reference or id.
   * @param options `signal`.
   * @returns The image.
   * @throws {TypeError} When `name` is empty.
   * @throws {DockerNotFoundError} When no such image exists.
   *
   * @example Read an image's command
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Id, Config } = await docker.images.inspect("busybox:latest");
   * console.log(Id, Config?.Cmd);
   * ```
   */
  inspect(name: string, options: ImageInspectOptions = {}): Promise<ImageInspect> {
    return inspect(this.#api, name, options);
  }

  /**
   * Sends `GET /images/{name}/history`: the layers of an image, newest first.
   *
   * @param name Image name or id.
   * @param options `signal`.
   * @returns The layers (always an array).
   * @throws {TypeError} When `name` is empty.
   * @throws {DockerNotFoundError} When no such image exists.
   *
   * @example Print how an image was built
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * for (const layer of await docker.images.history("busybox")) console.log(layer.CreatedBy);
   * ```
   */
  history(
    name: string,
    options: ImageHistoryOptions = {},
  ): Promise<ImageHistoryResponseItem[]> {
    return history(this.#api, name, options);
  }

  /**
   * Sends `POST /images/create?fromImage=…&tag=…`: pulls an image from its
   * registry. The returned stream is also a promise: `await` it to wait
   * until the image exists, or iterate it for typed progress events (see
   * {@linkcode ProgressStream}). The request is sent at once (after the
   * credential lookup).
   *
   * A reference without tag or digest pulls `latest` (as `docker pull`);
   * `allTags` pulls every tag.
   *
   * @param ref Image reference such as `busybox`, `ghcr.io/team/app:1.0` or `app@sha256:…`.
   * @param options `tag`, `allTags`, `platform`, `auth`, `onProgress`, `signal`.
   * @returns The progress events; as a promise, `{ image, digest, status }`.
   * @throws {TypeError} Through the stream, never at the call: `ref` is empty or malformed, or
   *   `auth` is not credentials.
   * @throws {DockerNotFoundError} Through the stream: no such repository or
   *   tag, or no access to it.
   * @throws {DockerStreamError} Through the stream: the engine reported an
   *   error after the pull started.
   * @throws {DockerError} Through the stream: credentials could not be read.
   *
   * @example Pull and wait
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { digest } = await docker.images.pull("busybox:latest");
   * console.log(digest);
   * ```
   *
   * @example Show the progress of each layer
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * for await (const event of docker.images.pull("alpine:3.20")) {
   *   if (event.id && event.progressDetail?.total) {
   *     console.log(event.id, event.status, event.progressDetail.current, "/", event.progressDetail.total);
   *   }
   * }
   * ```
   */
  pull(
    ref: string,
    options: ImagePullOptions = {},
  ): ProgressStream<CreateImageInfo, ImagePullResult> {
    return pull(this.#api, this.#credentials, ref, options);
  }

  /**
   * Sends `POST /images/{name}/push?tag=…`: pushes a local image to the
   * registry its name points to (tag it first with {@linkcode Images.tag}).
   * `X-Registry-Auth` is always sent (the engine requires it): the call's
   * `auth`, else the client's store, else empty credentials. The returned
   * stream is also a promise of the pushed digest.
   *
   * @param name Image name such as `registry.example.com/team/app:1.0`;
   *   without tag, `latest` (or every tag with `allTags`).
   * @param options `tag`, `allTags`, `auth`, `onProgress`, `signal`.
   * @returns The progress events; as a promise, `{ digest, size, tag }`.
   * @throws {TypeError} Through the stream, never at the call: `name` is empty, has a digest, or
   *   `auth` is not credentials.
   * @throws {DockerStreamError} Through the stream: no such local image
   *   (`An image does not exist locally with the tag: …` when the
   *   repository has no image here, `tag does not exist: …` when the tag is
   *   missing), or the registry refused (such as `unauthorized:
   *   authentication required`) or failed; the message names the push,
   *   `engineMessage` has the engine's words.
   *
   * @example Push to a private registry
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.images.tag("app:dev", "registry.example.com/team/app", { tag: "1.0" });
   * const { digest } = await docker.images.push("registry.example.com/team/app:1.0", {
   *   auth: { username: "me", password: Deno.env.get("REGISTRY_PASSWORD")! },
   * });
   * console.log(digest);
   * ```
   */
  push(
    name: string,
    options: ImagePushOptions = {},
  ): ProgressStream<ImagePushEvent, ImagePushResult> {
    return push(this.#api, this.#credentials, name, options);
  }

  /**
   * Sends `POST /images/{name}/tag?repo=…&tag=…`: adds a name to an image.
   * An existing tag of that name moves to this image.
   *
   * @param name Source image name or id.
   * @param repo Target repository, such as `registry.example.com/team/app`,
   *   or `repo:tag`.
   * @param options `tag`, `signal`.
   * @throws {TypeError} When `name` or `repo` is empty, or a tag is given twice.
   * @throws {DockerNotFoundError} When no such image exists.
   * @throws {DockerApiError} When the target is not a valid reference (400).
   *
   * @example Tag for a registry
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.images.tag("busybox:latest", "registry.example.com/tools/busybox", { tag: "1" });
   * ```
   */
  tag(name: string, repo: string, options: ImageTagOptions = {}): Promise<void> {
    return tag(this.#api, name, repo, options);
  }

  /**
   * Sends `DELETE /images/{name}`: removes a tag, and the image once no tag
   * is left, with its untagged parents (unless `noprune`).
   *
   * @param name Image name or id.
   * @param options `force`, `noprune`, `signal`.
   * @returns What was untagged and deleted (always an array).
   * @throws {TypeError} When `name` is empty.
   * @throws {DockerNotFoundError} When no such image exists.
   * @throws {DockerConflictError} When a container uses it (running, or
   *   stopped without `force`), or an id names an image with several tags.
   *
   * @example Remove an image
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * for (const item of await docker.images.remove("app:old", { force: true })) {
   *   console.log(item.Untagged ?? item.Deleted);
   * }
   * ```
   */
  remove(name: string, options: ImageRemoveOptions = {}): Promise<ImageDeleteResponseItem[]> {
    return remove(this.#api, name, options);
  }

  /**
   * Sends `GET /images/search?term=…`: searches Docker Hub, or the registry
   * the term starts with (`registry.example.com/app`); the engine asks it,
   * so the engine needs to reach it. Credentials for that registry go in
   * `X-Registry-Auth` as for a pull: the call's `auth`, else the client's
   * store.
   *
   * @param term What to search for.
   * @param options `limit`, `filters`, `auth`, `signal`.
   * @returns The matching repositories (always an array).
   * @throws {TypeError} When `term` is empty or `auth` is not credentials.
   * @throws {RangeError} When `limit` is not a positive integer.
   * @throws {DockerApiError} When the engine cannot reach the registry, or
   *   the registry refuses the search.
   *
   * @example Find official images
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const found = await docker.images.search("redis", { limit: 5, filters: { "is-official": ["true"] } });
   * console.log(found.map((item) => item.name));
   * ```
   */
  search(term: string, options: ImageSearchOptions = {}): Promise<ImageSearchResponseItem[]> {
    return search(this.#api, this.#credentials, term, options);
  }

  /**
   * Sends `POST /images/prune`: removes unused images that match the
   * filters. Without filters that is every dangling (untagged) unused image
   * on the engine, so pass a label filter to stay within your own.
   *
   * @param options `filters`, `signal`.
   * @returns What was deleted (always an array) and the bytes reclaimed.
   *
   * @example Remove unused images of one project
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { ImagesDeleted, SpaceReclaimed } = await docker.images.prune({
   *   filters: { label: ["project=demo"] },
   * });
   * console.log(ImagesDeleted.length, SpaceReclaimed);
   * ```
   */
  prune(options: ImagePruneOptions = {}): Promise<ImagePruneResult> {
    return prune(this.#api, options);
  }

  /**
   * Sends `POST /commit?container=…`: makes an image of a container's
   * current filesystem (`docker commit`). No head timeout applies: a large
   * container takes a while.
   *
   * @param container Container id or name.
   * @param options `repo`, `tag`, `comment`, `author`, `pause`, `changes`, `config`, `signal`.
   * @returns `{ Id }` of the new image.
   * @throws {TypeError} When `container` is empty, or `changes` is not a list of strings.
   * @throws {DockerNotFoundError} When no such container exists.
   *
   * @example Save a container's changes as an image
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Id } = await docker.images.commit("web", {
   *   repo: "team/web", tag: "snapshot", changes: ['CMD ["/app"]'],
   * });
   * console.log(Id);
   * ```
   */
  commit(container: string, options: ImageCommitOptions = {}): Promise<IdResponse> {
    return commit(this.#api, container, options);
  }

  /**
   * Sends `POST /images/create?fromSrc=-` with a tar archive of a root
   * filesystem as the body (or `fromSrc=<url>` to let the engine download
   * it): makes a one-layer image (`docker import`). The returned stream is
   * also a promise of the new image's id. No head timeout applies.
   *
   * @param source The tar archive (a stream is sent chunked, never buffered),
   *   or a `URL` the engine fetches.
   * @param options `repo`, `tag`, `changes`, `message`, `platform`, `onProgress`, `signal`.
   * @returns The progress events; as a promise, `{ id }`.
   * @throws {TypeError} Through the stream, never at the call: `source` is not a stream, bytes or
   *   URL, or `changes` is not a list of strings.
   * @throws {DockerApiError} Through the stream: the archive is not a valid tar.
   *
   * @example Import a root filesystem archive
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * using file = await Deno.open("rootfs.tar");
   * const { id } = await docker.images.import(file.readable, {
   *   repo: "team/base", tag: "1", changes: ['CMD ["/bin/sh"]'], message: "from rootfs.tar",
   * });
   * console.log(id);
   * ```
   */
  import(
    source: ImageArchive | URL,
    options: ImageImportOptions = {},
  ): ProgressStream<CreateImageInfo, ImageImportResult> {
    return importImage(this.#api, source, options);
  }

  /**
   * Sends `GET /images/{name}/get` (one image) or `GET
   * /images/get?names=…` (several): the images with their layers, config
   * and tags as a tar archive (`docker save`), which {@linkcode Images.load}
   * takes back. The stream is returned at once; an error status rejects the
   * first read. Read it to its end or cancel it. No head timeout applies
   * (the engine assembles the archive before sending).
   *
   * @param names An image name or id, or several.
   * @param options `signal`.
   * @returns The tar archive (with `manifest.json` at its root).
   * @throws {TypeError} Through the stream, never at the call: a name is empty or the list is
   *   empty.
   * @throws {DockerNotFoundError} Through the stream: an image does not exist.
   *
   * @example Save an image to a file
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * using file = await Deno.create("busybox.tar");
   * await docker.images.get("busybox:latest").pipeTo(file.writable);
   * ```
   */
  get(names: string | string[], options: ImageGetOptions = {}): ReadableStream<Uint8Array> {
    return get(this.#api, names, options);
  }

  /**
   * Sends `POST /images/load?quiet=…` with a tar archive as made by
   * {@linkcode Images.get} (`docker load`). The returned stream is also a
   * promise of the loaded names. No head timeout applies.
   *
   * @param source The tar archive (a stream is sent chunked, never buffered).
   * @param options `quiet`, `onProgress`, `signal`.
   * @returns The progress events; as a promise, `{ images }` (`name:tag`,
   *   or ids for untagged images).
   * @throws {TypeError} Through the stream, never at the call: `source` is not a stream or bytes.
   * @throws {DockerStreamError} Through the stream: the archive is not a valid image archive.
   *
   * @example Load a saved image
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * using file = await Deno.open("busybox.tar");
   * const { images } = await docker.images.load(file.readable);
   * console.log(images); // ["busybox:latest"]
   * ```
   */
  load(
    source: ImageArchive,
    options: ImageLoadOptions = {},
  ): ProgressStream<ImageLoadEvent, ImageLoadResult> {
    return load(this.#api, source, options);
  }

  /**
   * Sends `POST /build`: builds an image like `docker build`, with the
   * classic builder or BuildKit. The context is a directory, a tar archive
   * (stream or bytes, possibly compressed), or `{ remote }` (a Git
   * repository or URL the engine fetches). A directory honours its
   * `.dockerignore` (or `excludes`) like the docker CLI. The classic
   * builder gets it packed as a tar stream while it is sent (the
   * Dockerfile and `.dockerignore` always in it). BuildKit reads it through
   * the build's session, as with the docker CLI (`remote=client-session`,
   * fsutil's DiffCopy): berth sends each entry's metadata and then only
   * the files the engine asks for, which on a later build of the same
   * directory are those that changed; the Dockerfile comes from its own
   * directory, whatever the patterns say. An engine that refuses the
   * session gets the tar.
   *
   * The returned {@linkcode ProgressStream} yields the build's events and
   * is also a promise of `{ imageId, tags }`; a failing step rejects it
   * with a {@linkcode DockerStreamError} carrying the engine's message. The
   * classic builder's events carry `stream` text such as `Step 1/5 : FROM
   * busybox` and the pull `status` of `FROM` images; BuildKit's
   * (`version: "2"`) carry each progress record decoded in `buildkit`:
   * steps (vertexes) started, cached, finished or failed, transfer
   * progress, and the output of `RUN` commands. The request is sent at
   * once (after the credential lookup and the context check). No head or
   * idle timeout applies: a silent `RUN` may take long.
   *
   * Credentials for `FROM` images: `auth`, else every credential of the
   * client's store (as `docker build` does). The classic builder gets them
   * in `X-Registry-Config`; BuildKit asks for them, host by host, through
   * the session berth opens for it (`POST /session`, upgraded to HTTP/2,
   * answering gRPC calls), which also serves `secrets` to `RUN
   * --mount=type=secret`, the SSH agents of `ssh` to `RUN --mount=type=ssh`
   * (read-only: keys can be listed and used, never added or removed), and
   * lends the context directory, and
   * takes the files of an `output` (`docker build --output`: a tar archive
   * to a file or stream, or a directory) instead of making an image. On an
   * engine with its default bridge network disabled, BuildKit needs
   * `networkMode: "none"` or `"host"`.
   *
   * Aborting `signal`, cancelling the stream or breaking out of `for
   * await` closes the connection, and either builder stops the build; a
   * BuildKit build is also cancelled by name (`POST /build/cancel`).
   *
   * @param context A directory (path or `file:` URL), a tar archive, or `{ remote }`.
   * @param options `dockerfile`, `tags`, `buildArgs`, `labels`, `target`,
   *   `networkMode`, `noCache`, `pull`, `rm`, `forceRm`, `platform`,
   *   `extraHosts`, `cacheFrom`, resource limits, `quiet`, `version`,
   *   `secrets`, `ssh`, `output`, `excludes`, `auth`, `onProgress`, `signal`.
   * @returns The build events; as a promise, `{ imageId, tags }` (with an
   *   `output`, `{ imageId: "", tags: [] }` once the output is stored).
   * @throws {TypeError} Through the stream, never at the call: a malformed
   *   context or option, a context directory that does not exist or is not
   *   a directory, or a Dockerfile not found in it (checked before anything
   *   is sent, for either builder).
   * @throws {RangeError} Through the stream: a negative or fractional limit.
   * @throws {DockerStreamError} Through the stream: a step failed (such as
   *   `The command '/bin/sh -c exit 3' returned a non-zero code: 3`), or a
   *   `FROM` image could not be pulled.
   * @throws {DockerApiError} Through the stream: the engine refused the
   *   build (such as `Cannot locate specified Dockerfile` for a tar context
   *   without it).
   * @throws {DockerError} Through the stream: the context directory may
   *   not be read (the message names the `--allow-read` flag), the engine
   *   refused the session that `ssh` or `output` need, or ended without sending the
   *   output. An output berth could not store (a missing directory, a
   *   `local` archive entry that would escape `dest`) fails the export:
   *   the build rejects with a {@linkcode DockerStreamError} whose message
   *   carries berth's reason (`berth could not store the build output: …`).
   *
   * @example Build a directory and tag it
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { imageId } = await docker.images.build("./app", {
   *   tags: ["app:dev"],
   *   buildArgs: { VERSION: "1.2.3" },
   * });
   * console.log(imageId);
   * ```
   *
   * @example Print the build output as it comes
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * for await (const event of docker.images.build("./app", { target: "test" })) {
   *   if (event.stream) Deno.stdout.writeSync(new TextEncoder().encode(event.stream));
   * }
   * ```
   *
   * @example Build with BuildKit and print its steps and their output
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const build = docker.images.build("./app", { version: "2", tags: ["app:dev"] });
   * const text = new TextDecoder();
   * for await (const { buildkit } of build) {
   *   for (const step of buildkit?.vertexes ?? []) {
   *     if (step.completed) console.log(`${step.cached ? "CACHED" : "DONE"} ${step.name}`);
   *   }
   *   for (const log of buildkit?.logs ?? []) console.log(text.decode(log.data).trimEnd());
   * }
   * console.log((await build).imageId);
   * ```
   *
   * @example Pass a secret to `RUN --mount=type=secret,id=npm_token`
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker({ credentials: "docker-config" });
   * await docker.images.build("./app", {
   *   version: "2",
   *   secrets: { npm_token: Deno.env.get("NPM_TOKEN") ?? "" },
   * });
   * ```
   *
   * @example Clone a private repository with your SSH agent, keep the files
   * ```ts ignore
   * // Dockerfile: RUN --mount=type=ssh git clone git@github.com:org/private.git /src
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.images.build("./app", {
   *   version: "2",
   *   ssh: { default: Deno.env.get("SSH_AUTH_SOCK")! },
   *   output: { type: "local", dest: "./out" },
   * });
   * ```
   */
  build(
    context: ImageBuildContext,
    options: ImageBuildOptions = {},
  ): ProgressStream<ImageBuildEvent, ImageBuildResult> {
    return failingProgress(() => buildImage(this.#api, context, options, this.#credentials));
  }

  /**
   * Sends `POST /build/prune`: removes build cache (`docker builder prune`).
   *
   * @param options `keepStorage`, `all`, `filters`, `signal`.
   * @returns `{ CachesDeleted, SpaceReclaimed }` (`CachesDeleted` always an array).
   * @throws {RangeError} When `keepStorage` is negative or fractional.
   * @throws {TypeError} For a `label` or `label!` filter: the engine
   *   accepts them but ignores them (every engine up to Docker 29), so the
   *   call would remove all build cache, everyone's, not the labelled.
   * @throws {DockerApiError} For an unknown filter.
   *
   * @example Remove build cache unused for a day
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { SpaceReclaimed } = await docker.images.pruneBuildCache({ filters: { until: ["24h"] } });
   * console.log(`${SpaceReclaimed} bytes reclaimed`);
   * ```
   */
  pruneBuildCache(options: BuildCachePruneOptions = {}): Promise<BuildCachePruneResult> {
    return pruneBuildCache(this.#api, options);
  }
}
