/**
 * Options and result types of `docker.images` (the `Images` class), kept
 * apart so the namespace's file holds its calls.
 *
 * @module
 */

import type { CredentialStore, RegistryAuth } from "../auth.ts";
import type { ImageLoadEvent, ImagePushEvent } from "../stream/progress.ts";
import type {
  ContainerConfig,
  CreateImageInfo,
  ImageDeleteResponseItem,
  ImagePruneResponse,
} from "../types/mod.ts";
import type { RequestOptions, StreamOptions } from "./_client.ts";

/** Options of the {@linkcode Images} namespace. */
export interface ImagesOptions {
  /**
   * Where pulls and pushes find registry credentials when a call has no
   * `auth` option. @default none (anonymous pulls, pushes with empty credentials)
   */
  credentials?: CredentialStore | undefined;
}

/** Options every progress call (pull, push, import, load) takes. */
export interface ImageProgressOptions<TEvent> extends StreamOptions {
  /** Called with every progress event, whether or not the stream is read. */
  onProgress?: (event: TEvent) => void;
}

/** Options of {@linkcode Images.list}. */
export interface ImageListOptions extends RequestOptions {
  /** Include intermediate images (without tags, parents of others). @default false */
  all?: boolean;
  /**
   * Filters such as `{ reference: ["busybox:*"] }`, `{ label: ["app=web"] }`,
   * `{ dangling: ["true"] }`, `{ before: ["app:1"] }`, `{ since: ["app:1"] }`.
   */
  filters?: Record<string, string[]>;
  /**
   * Ask for `RepoDigests` (`digests`). Engines up to at least API 1.41
   * ignore it and always fill them.
   * @default false
   */
  digests?: boolean;
}

/** Options of {@linkcode Images.inspect}. */
export interface ImageInspectOptions extends RequestOptions {}

/** Options of {@linkcode Images.history}. */
export interface ImageHistoryOptions extends RequestOptions {}

/** Options of {@linkcode Images.pull}. */
export interface ImagePullOptions extends ImageProgressOptions<CreateImageInfo> {
  /**
   * The tag or digest to pull, overriding the one in the reference.
   * @default the reference's tag or digest, else `latest`
   */
  tag?: string;
  /** Pull every tag of the repository (the reference must then have no tag). @default false */
  allTags?: boolean;
  /** Platform such as `linux/arm64` (`os[/arch[/variant]]`). */
  platform?: string;
  /**
   * Credentials for the image's registry; `false` sends none even when the
   * client has a credential store. @default the client's store, if any
   */
  auth?: RegistryAuth | false;
}

/** Options of {@linkcode Images.push}. */
export interface ImagePushOptions extends ImageProgressOptions<ImagePushEvent> {
  /**
   * The tag to push, overriding the one in the name.
   * @default the name's tag, else `latest`
   */
  tag?: string;
  /** Push every local tag of the repository (the name must then have no tag). @default false */
  allTags?: boolean;
  /**
   * Credentials for the image's registry; `false` sends empty credentials
   * even when the client has a credential store. @default the client's store, if any
   */
  auth?: RegistryAuth | false;
}

/** Options of {@linkcode Images.tag}. */
export interface ImageTagOptions extends RequestOptions {
  /** The new tag; may also be given in `repo` as `repo:tag`. @default "latest" */
  tag?: string;
}

/** Options of {@linkcode Images.remove}. */
export interface ImageRemoveOptions extends RequestOptions {
  /** Remove the image even when stopped containers use it or it has other tags. @default false */
  force?: boolean;
  /** Keep untagged parent images. @default false */
  noprune?: boolean;
}

/** Options of {@linkcode Images.search}. */
export interface ImageSearchOptions extends RequestOptions {
  /** Most results to return. */
  limit?: number;
  /** Filters such as `{ "is-official": ["true"] }` or `{ stars: ["3"] }`. */
  filters?: Record<string, string[]>;
  /**
   * Credentials for the registry searched; `false` sends none even when the
   * client has a credential store. @default the client's store, if any
   */
  auth?: RegistryAuth | false;
}

/** Options of {@linkcode Images.prune}. */
export interface ImagePruneOptions extends RequestOptions {
  /**
   * Filters such as `{ label: ["project=demo"] }`, `{ until: ["24h"] }`, or
   * `{ dangling: ["false"] }` (every unused image, not only untagged ones).
   * Without filters every dangling unused image is removed.
   */
  filters?: Record<string, string[]>;
}

/** Result of {@linkcode Images.prune}. */
export interface ImagePruneResult extends ImagePruneResponse {
  /** Images untagged and deleted (always an array). */
  ImagesDeleted: ImageDeleteResponseItem[];
  /** Bytes reclaimed. */
  SpaceReclaimed: number;
}

/** Options of {@linkcode Images.commit}. */
export interface ImageCommitOptions extends RequestOptions {
  /** Repository of the new image, such as `team/app` (may include `:tag`). */
  repo?: string;
  /** Tag of the new image. */
  tag?: string;
  /** Commit message. */
  comment?: string;
  /** Author, such as `Jane <jane@example.com>`. */
  author?: string;
  /** Pause the container while committing. @default true (engine default) */
  pause?: boolean;
  /** Dockerfile instructions to apply, such as `['CMD ["/app"]', "ENV MODE=prod"]`. */
  changes?: string[];
  /** Container configuration for the image (the body), such as `{ Labels }`. */
  config?: ContainerConfig;
}

/** Options of {@linkcode Images.import}. */
export interface ImageImportOptions extends ImageProgressOptions<CreateImageInfo> {
  /** Repository for the image, such as `team/app` (may include `:tag`). Untagged when left out. */
  repo?: string;
  /** Tag for the image. */
  tag?: string;
  /**
   * Dockerfile instructions to apply: `CMD`, `ENTRYPOINT`, `ENV`, `EXPOSE`,
   * `LABEL`, `ONBUILD`, `USER`, `VOLUME`, `WORKDIR`, such as `['CMD ["/x"]']`.
   */
  changes?: string[];
  /** Commit message of the image. */
  message?: string;
  /** Platform such as `linux/amd64`. */
  platform?: string;
}

/** Options of {@linkcode Images.get}. */
export interface ImageGetOptions extends StreamOptions {}

/** Options of {@linkcode Images.load}. */
export interface ImageLoadOptions extends ImageProgressOptions<ImageLoadEvent> {
  /** Ask the engine for no per-layer progress (only the `Loaded image` lines). @default false */
  quiet?: boolean;
}

/** A tar archive to upload: a byte stream (sent chunked) or bytes. */
export type ImageArchive = ReadableStream<Uint8Array> | Uint8Array;
