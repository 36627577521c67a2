/**
 * The types of image builds (`Images.build`, `Images.pruneBuildCache`):
 * contexts, options, events and results. `_build.ts` re-exports them.
 *
 * @module
 */

import type { RegistryAuth } from "../auth.ts";
import type { BuildKitStatus } from "../build/buildkit_trace.ts";
import type { BuildCachePruneResponse, BuildInfo, ImageID } from "../types/mod.ts";
import type { ExtractLinkPolicy } from "../stream/extract.ts";
import type { RequestOptions, StreamOptions } from "./_client.ts";

// Re-exported so this module documents on its own (`deno doc --lint`).
export type { BuildCachePruneResponse, BuildInfo, ImageID } from "../types/images.ts";
export type { ErrorDetail, ProgressDetail } from "../types/common.ts";
export type { RequestOptions, StreamOptions } from "./_client.ts";
export type { RegistryAuth } from "../auth.ts";
export type {
  BuildKitStatus,
  BuildKitVertex,
  BuildKitVertexLog,
  BuildKitVertexStatus,
  BuildKitVertexWarning,
} from "../build/buildkit_trace.ts";

/**
 * One event of a build: a line of the engine's stream, plus, for a
 * BuildKit progress record, its decoded content.
 *
 * - Classic builder: `stream` carries the output text (`Step 2/4 : RUN
 *   make`, what `RUN` prints), `status`/`progressDetail` the pull of a
 *   `FROM` image.
 * - BuildKit: lines with `id: "moby.buildkit.trace"` carry the base64
 *   record in `aux` and the decoded record in `buildkit`; `stream` only
 *   carries the closing `Successfully tagged` lines.
 * - Both: `{ id: "moby.image.id", aux: { ID } }` names the built image.
 */
export interface ImageBuildEvent extends Omit<BuildInfo, "aux"> {
  /**
   * The built image's id (`{ ID: "sha256:…" }`), or the base64 protobuf of
   * a BuildKit progress record.
   */
  aux?: ImageID | string;
  /**
   * The decoded BuildKit progress record of a `moby.buildkit.trace` line:
   * vertexes (steps) started, finished, cached or failed, transfer
   * progress, output of `RUN` commands, warnings. Absent on other lines,
   * and on a record berth cannot decode (the raw `aux` is still there).
   */
  buildkit?: BuildKitStatus;
}

/** A remote build context: the engine fetches it itself. */
export interface ImageBuildRemoteContext {
  /**
   * A Git repository (`https://github.com/org/repo.git#branch:subdir`,
   * `git@…`), a URL of a tar archive (optionally compressed), or a URL of a
   * plain Dockerfile. Sent as the `remote` query parameter.
   */
  remote: string;
}

/**
 * What to build from:
 *
 * - a directory (a path, or a `file:` URL), packed on the fly and filtered
 *   by its `.dockerignore` (see `packContext`);
 * - a tar archive, as a byte stream (sent chunked, never buffered) or bytes,
 *   possibly gzip/bzip2/xz compressed (the engine detects it);
 * - `{ remote }`: a Git repository or URL the engine fetches itself.
 */
export type ImageBuildContext =
  | string
  | URL
  | ReadableStream<Uint8Array>
  | Uint8Array
  | ImageBuildRemoteContext;

/** A ulimit for the build's containers. */
export interface ImageBuildUlimit {
  /** Name such as `nofile` or `nproc`. */
  Name: string;
  /** Soft limit. */
  Soft: number;
  /** Hard limit. */
  Hard: number;
}

/** Options of `Images.build`. */
export interface ImageBuildOptions extends StreamOptions {
  /**
   * Path of the Dockerfile inside the context. For a directory context it
   * may also be an absolute path inside the directory; it is sent even
   * when `.dockerignore` excludes it.
   * @default "Dockerfile"
   */
  dockerfile?: string;
  /** Names for the image, such as `["app:1.0", "registry.example.com/app:1.0"]` (`t`). */
  tags?: string[];
  /**
   * Values of the Dockerfile's `ARG`s (`buildargs`). `null` names an `ARG`
   * without giving it a value (as `docker build --build-arg NAME` does when
   * `NAME` is not set): it keeps the Dockerfile's default.
   */
  buildArgs?: Record<string, string | null>;
  /** Labels to set on the image (`labels`). */
  labels?: Record<string, string>;
  /** The stage of a multi-stage Dockerfile to build up to (`target`). @default the last stage */
  target?: string;
  /**
   * Network for `RUN` steps: `bridge`, `host`, `none`, `container:<id>`,
   * or a network name (`networkmode`). @default "default"
   */
  networkMode?: string;
  /** Do not use the build cache (`nocache`). @default false */
  noCache?: boolean;
  /** Always pull the `FROM` images, even when present (`pull`). @default false */
  pull?: boolean;
  /** Remove intermediate containers after a successful build (`rm`). @default true */
  rm?: boolean;
  /** Always remove intermediate containers, even after a failure (`forcerm`). @default false */
  forceRm?: boolean;
  /**
   * Squash the new layers into one (`squash`). Only an engine with
   * experimental features on takes it (others answer 400); the classic
   * builder squashes, BuildKit ignores it.
   * @default false
   */
  squash?: boolean;
  /** Platform such as `linux/arm64` (`platform`). @default the engine's */
  platform?: string;
  /** Extra `/etc/hosts` lines for `RUN` steps, as `host:ip` (`extrahosts`). */
  extraHosts?: string[];
  /** Images whose layers may serve as cache (`cachefrom`). */
  cacheFrom?: string[];
  /** Memory limit of `RUN` steps in bytes (`memory`). */
  memory?: number;
  /** Memory plus swap limit in bytes; -1 for unlimited swap (`memswap`). */
  memorySwap?: number;
  /** Relative CPU weight (`cpushares`). */
  cpuShares?: number;
  /** CPUs `RUN` steps may use, such as `0-3` or `0,1` (`cpusetcpus`). */
  cpusetCpus?: string;
  /** Memory nodes `RUN` steps may use, such as `0-1` (`cpusetmems`). */
  cpusetMems?: string;
  /** CPU CFS period in microseconds (`cpuperiod`). */
  cpuPeriod?: number;
  /** CPU CFS quota in microseconds per period (`cpuquota`). */
  cpuQuota?: number;
  /** Size of `/dev/shm` in bytes (`shmsize`). */
  shmSize?: number;
  /** Parent cgroup of the build's containers (`cgroupparent`). */
  cgroupParent?: string;
  /** Ulimits of the build's containers (`ulimits`). */
  ulimits?: ImageBuildUlimit[];
  /**
   * Ask for no build output: the engine then only sends the image id (`q`).
   * @default false
   */
  quiet?: boolean;
  /**
   * Builder: `"1"` is the classic builder, `"2"` BuildKit (its progress
   * comes decoded in each event's `buildkit`; a directory context,
   * `secrets` and registry credentials are served through a session; see
   * `Images.build`).
   * With BuildKit on an engine whose default bridge network is disabled,
   * set `networkMode` to `"none"` or `"host"`.
   * @default "1" (the engine's default for API 1.41)
   */
  version?: "1" | "2";
  /**
   * For a directory context: patterns to use instead of its `.dockerignore`
   * (same syntax). The classic builder still gets the Dockerfile and
   * `.dockerignore`; BuildKit reads the Dockerfile from its own directory,
   * so there the patterns apply as they are (as with the docker CLI).
   */
  excludes?: string[];
  /**
   * Credentials by registry for pulling `FROM` images, sent as
   * `X-Registry-Config`: keys are registry hosts (`registry.example.com:5000`)
   * or `https://index.docker.io/v1/` for Docker Hub. `false` sends none even
   * when the client has a credential store.
   * @default every credential of the client's store, if it has one (as `docker build` does)
   */
  auth?: Record<string, RegistryAuth> | false;
  /**
   * BuildKit only: secrets for `RUN --mount=type=secret,id=<id>`, by id,
   * served to the engine through the build's session and never stored in
   * the image. A secret the Dockerfile names but this map lacks fails the
   * build (unless the mount says `required=false`).
   */
  secrets?: Record<string, string | Uint8Array>;
  /**
   * BuildKit only: SSH agents for `RUN --mount=type=ssh[,id=<id>]`, by id
   * (`default` for a mount that names none), each the path of an agent's
   * Unix socket; `{ default: Deno.env.get("SSH_AUTH_SOCK")! }` forwards
   * yours, like `docker build --ssh default`. Forwarded read-only: the
   * build can list the keys and sign with them; adding, removing or
   * locking keys and agent extensions are refused. Needs, as any Unix
   * socket, `--allow-read`, `--allow-write` and `--allow-net` on each
   * socket path.
   */
  ssh?: Record<string, string>;
  /**
   * BuildKit only: export the result's files instead of making an image
   * (`docker build --output`): `{ type: "tar", dest }` writes a tar
   * archive to a file path or a `WritableStream` (aborted if the build fails
   * before sending it); `{ type: "local", dest }` unpacks it into a
   * directory (berth's safe extraction, `extractTar`: nothing lands outside
   * `dest`, existing files are replaced, at most 100,000 entries and
   * 10 GiB). The build's promise then settles once the output is stored,
   * with `imageId: ""` and no tags.
   * Needs `--allow-write` (and `--allow-read` for `local`) on `dest`,
   * unscoped for a `local` output with symlinks (Deno creates symlinks only
   * with unscoped `--allow-read --allow-write`).
   */
  output?: ImageBuildOutput;
  /** Called with every progress event, whether or not the stream is read. */
  onProgress?: (event: ImageBuildEvent) => void;
}

/**
 * Where a BuildKit build's files go instead of an image (`output` of
 * `Images.build`).
 */
export type ImageBuildOutput =
  | {
    /** A tar archive of the result. */
    type: "tar";
    /** A file path (created or truncated), or a stream that takes the archive. */
    dest: string | WritableStream<Uint8Array>;
  }
  | {
    /** The result unpacked into a directory. */
    type: "local";
    /** The directory (created when missing). */
    dest: string;
    /**
     * Symlinks in the result whose target leads out of `dest` (absolute
     * ones, such as an image tree's `/bin/sh -> /bin/busybox`) fail the
     * output under `"within"`; `"skip-outside"` leaves those out and keeps
     * the others; `"skip"` creates none, which is also the way to store an
     * output with symlinks under path-scoped `--allow-read`/`--allow-write`
     * (see {@linkcode ExtractLinkPolicy}).
     * @default "within"
     */
    symlinks?: ExtractLinkPolicy;
    /** The same for hard links. @default "within" */
    hardlinks?: ExtractLinkPolicy;
  };

/** Result of `Images.build`. */
export interface ImageBuildResult {
  /**
   * Id of the built image, such as `sha256:…` (from the engine's `aux`
   * record); `""` for a build with an `output`, which makes no image.
   */
  imageId: string;
  /**
   * The names the engine reports it tagged (`Successfully tagged …`),
   * normalised (`app` → `app:latest`); the requested `tags` when the
   * engine printed none (`quiet`).
   */
  tags: string[];
}

/** Result of `Images.pruneBuildCache`. */
export interface BuildCachePruneResult extends BuildCachePruneResponse {
  /** Ids of the cache records removed (always an array). */
  CachesDeleted: string[];
  /** Bytes reclaimed. */
  SpaceReclaimed: number;
}

/** Options of `Images.pruneBuildCache`. */
export interface BuildCachePruneOptions extends RequestOptions {
  /** Bytes of cache to keep (`keep-storage`). @default 0 */
  keepStorage?: number;
  /** Remove all cache, not only unused (dangling) entries (`all`). @default false */
  all?: boolean;
  /**
   * Filters such as `{ until: ["24h"] }`, `{ type: ["regular"] }`,
   * `{ inuse: ["false"] }`, `{ shared: ["true"] }`, `{ id: ["…"] }`. Not
   * `label`: build cache has no labels the engine filters by; it accepts
   * the filter and prunes everything, so berth refuses it.
   */
  filters?: Record<string, string[]>;
}
