/**
 * Image builds (`POST /build`) and build cache pruning (`POST
 * /build/prune`). The methods on `Images` (`build`, `pruneBuildCache`)
 * document the calls; this module holds the work.
 *
 * ## Builders
 *
 * Both builders take the context as the request body. The classic builder
 * (`version: "1"`, the default) reports its progress as text lines.
 * BuildKit (`version: "2"`) reports it as `moby.buildkit.trace` records
 * (protobuf in base64), which the returned stream decodes into each
 * event's `buildkit` field.
 *
 * A BuildKit build also gets a session (`POST /session`, upgraded to
 * HTTP/2; see `src/build/session.ts`), through which the engine asks berth
 * for registry credentials (the classic builder takes them from
 * `X-Registry-Config` instead), for the values of `secrets`, for the SSH
 * agents of `ssh` (read-only) and to hand over an `output` (always as a
 * tar archive: berth unpacks a `local` output itself). An engine that
 * refuses the session gets the build without one.
 *
 * ## Cancelling
 *
 * Aborting the call's `signal`, cancelling the returned stream, or breaking
 * out of a `for await` closes the connection; either builder notices and
 * stops the build (the classic builder removes the container of a running
 * `RUN` step; BuildKit kills its process), and the session closes.
 * `POST /build/cancel` is not needed.
 *
 * @module
 */

import {
  authSecrets,
  type CredentialStore,
  encodeRegistryConfig,
  type RegistryAuth,
  scrubSecrets,
} from "../auth.ts";
import { type BuildKitStatus, decodeBuildKitTrace } from "../build/buildkit_trace.ts";
import { contextDockerfile, packContext } from "../build/context.ts";
import { DockerApiError, DockerError } from "../errors.ts";
import {
  type BuildSession,
  type BuildSessionSources,
  credentialsFromMap,
  sessionMethods,
  startSession,
} from "../build/session.ts";
import { extractTar } from "../stream/extract.ts";
import { JsonLinesDecoder } from "../stream/json_lines.ts";
import { type ProgressCollector, ProgressStream } from "../stream/progress.ts";
import type { BuildCachePruneResponse, BuildInfo, ImageID } from "../types/mod.ts";
import {
  type ApiCall,
  type ApiClient,
  filtersQuery,
  type Query,
  type RequestOptions,
  type StreamOptions,
} from "./_client.ts";

// Re-exported so this module documents on its own (`deno doc --lint`).
export type { BuildCachePruneResponse, BuildInfo, ImageID } from "../types/images.ts";
export type { ErrorDetail, ProgressDetail } from "../types/common.ts";
export type { RequestOptions } from "./_client.ts";
export type { RegistryAuth } from "../auth.ts";
export type { ProgressCollector, ProgressStream } from "../stream/progress.ts";
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
  /** Values of the Dockerfile's `ARG`s (`buildargs`). */
  buildArgs?: Record<string, string>;
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
   * comes decoded in each event's `buildkit`; `secrets` and registry
   * credentials are served through a session; see `Images.build`).
   * With BuildKit on an engine whose default bridge network is disabled,
   * set `networkMode` to `"none"` or `"host"`.
   * @default "1" (the engine's default for API 1.41)
   */
  version?: "1" | "2";
  /**
   * For a directory context: patterns to use instead of its `.dockerignore`
   * (same syntax). The Dockerfile and `.dockerignore` are still sent.
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
   * locking keys and agent extensions are refused. Needs `--allow-read`
   * and `--allow-write` on each socket path.
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
   * Needs `--allow-write` (and `--allow-read` for `local`) on `dest`.
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
   * `{ inuse: ["false"] }`, `{ shared: ["true"] }`, `{ id: ["…"] }`.
   */
  filters?: Record<string, string[]>;
}

const STRING_OPTIONS = [
  "dockerfile",
  "target",
  "networkMode",
  "platform",
  "cpusetCpus",
  "cpusetMems",
  "cgroupParent",
] as const;

const INTEGER_OPTIONS = [
  "memory",
  "memorySwap",
  "cpuShares",
  "cpuPeriod",
  "cpuQuota",
  "shmSize",
] as const;

function stringArray(value: unknown, what: string): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || value.some((item) => typeof item !== "string" || item === "")) {
    throw new TypeError(`${what} must be an array of non-empty strings`);
  }
}

function stringRecord(value: unknown, what: string): void {
  if (value === undefined) return;
  if (
    value === null || typeof value !== "object" || Array.isArray(value) ||
    Object.values(value).some((item) => typeof item !== "string")
  ) {
    throw new TypeError(`${what} must be an object of strings`);
  }
}

/** Checks the options before any I/O. */
function checkOptions(options: ImageBuildOptions): void {
  for (const key of STRING_OPTIONS) {
    const value = options[key];
    if (value !== undefined && (typeof value !== "string" || value === "")) {
      throw new TypeError(`The ${key} option must be a non-empty string`);
    }
  }
  for (const key of INTEGER_OPTIONS) {
    const value = options[key];
    const min = key === "memorySwap" ? -1 : 0;
    if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) {
      throw new RangeError(
        `The ${key} option must be an integer of at least ${min} (got ${value})`,
      );
    }
  }
  stringArray(options.tags, "tags");
  stringArray(options.extraHosts, "extraHosts");
  stringArray(options.cacheFrom, "cacheFrom");
  stringArray(options.excludes, "excludes");
  stringRecord(options.buildArgs, "buildArgs");
  stringRecord(options.labels, "labels");
  if (options.ulimits !== undefined && !Array.isArray(options.ulimits)) {
    throw new TypeError("ulimits must be an array of { Name, Soft, Hard }");
  }
  if (options.version !== undefined && options.version !== "1" && options.version !== "2") {
    throw new TypeError(
      `Unknown builder version ${JSON.stringify(options.version)}; expected "1" or "2"`,
    );
  }
  if (options.auth !== undefined && options.auth !== false) {
    encodeRegistryConfig(options.auth); // checks the credentials before any I/O
  }
  if (options.secrets !== undefined) {
    if (options.version !== "2") {
      throw new TypeError('Build secrets need BuildKit: set version: "2"');
    }
    const secrets = options.secrets as unknown;
    if (
      secrets === null || typeof secrets !== "object" || Array.isArray(secrets) ||
      Object.values(secrets).some((value) =>
        typeof value !== "string" && !(value instanceof Uint8Array)
      )
    ) {
      throw new TypeError("secrets must be an object of strings or Uint8Arrays");
    }
  }
  if (options.ssh !== undefined) {
    if (options.version !== "2") {
      throw new TypeError('SSH agent forwarding needs BuildKit: set version: "2"');
    }
    const ssh = options.ssh as unknown;
    if (
      ssh === null || typeof ssh !== "object" || Array.isArray(ssh) ||
      Object.values(ssh).some((path) => typeof path !== "string" || path === "")
    ) {
      throw new TypeError("ssh must be an object of agent socket paths by id");
    }
  }
  if (options.output !== undefined) {
    if (options.version !== "2") {
      throw new TypeError('A build output needs BuildKit: set version: "2"');
    }
    const { type, dest } = options.output as { type?: unknown; dest?: unknown };
    const validDest = (typeof dest === "string" && dest !== "") ||
      (type === "tar" && dest instanceof WritableStream);
    if ((type !== "tar" && type !== "local") || !validDest) {
      throw new TypeError(
        'output must be { type: "tar", dest: path | WritableStream } or { type: "local", dest: directory }',
      );
    }
  }
}

/** The wire query of a build. */
function buildQuery(
  options: ImageBuildOptions,
  dockerfile: string | undefined,
  remote: string | undefined,
): Query {
  return {
    dockerfile,
    t: options.tags,
    remote,
    q: options.quiet,
    nocache: options.noCache,
    // The engine reads these as one JSON value each, not repeated keys.
    cachefrom: options.cacheFrom && JSON.stringify(options.cacheFrom),
    pull: options.pull,
    rm: options.rm,
    forcerm: options.forceRm,
    memory: options.memory,
    memswap: options.memorySwap,
    cpushares: options.cpuShares,
    cpusetcpus: options.cpusetCpus,
    cpusetmems: options.cpusetMems,
    cpuperiod: options.cpuPeriod,
    cpuquota: options.cpuQuota,
    shmsize: options.shmSize,
    cgroupparent: options.cgroupParent,
    ulimits: options.ulimits && JSON.stringify(options.ulimits),
    buildargs: options.buildArgs,
    labels: options.labels,
    networkmode: options.networkMode,
    platform: options.platform,
    target: options.target,
    extrahosts: options.extraHosts,
    version: options.version,
    // berth always takes the archive: it unpacks a `local` output itself.
    outputs: options.output && JSON.stringify([{ Type: "tar", Attrs: {} }]),
  };
}

const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;

/**
 * Collects a build's result: the image id from the `aux` record (with
 * `quiet`, the id the engine prints instead; before API 1.30, the short id
 * of `Successfully built`), and the names of the closing `Successfully
 * tagged` lines. Output of `RUN` steps that looks like those lines is not
 * taken for them: only the trailer after the last step counts.
 *
 * @param requested The tags asked for, reported when the engine prints none.
 * @param quiet Whether the build was asked for with `quiet` (`q=1`).
 * @param output Whether the build exports an `output` (no image: `finish`
 *   gives `{ imageId: "", tags: [] }`).
 * @returns The collector; `finish` throws a {@linkcode DockerError} when no
 *   image id was reported.
 *
 * @example Collect from build lines
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildCollector } from "./_build.ts";
 *
 * const id = "sha256:" + "a".repeat(64);
 * const collector = buildCollector(["app"]);
 * collector.push({ stream: "Step 1/1 : FROM busybox" });
 * collector.push({ stream: "\n" });
 * collector.push({ aux: { ID: id } });
 * collector.push({ stream: "Successfully built aaaaaaaaaaaa\n" });
 * collector.push({ stream: "Successfully tagged app:latest\n" });
 * assert.deepEqual(collector.finish(), { imageId: id, tags: ["app:latest"] });
 * ```
 *
 * @example Output of a step that looks like the trailer is not taken for it
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildCollector } from "./_build.ts";
 *
 * const collector = buildCollector(["app:1"]);
 * collector.push({ stream: "Successfully built 0123456789ab\nSuccessfully tagged fake:1\n" });
 * collector.push({ stream: "sha256:" + "b".repeat(64) + "\n" });
 * collector.push({ stream: " ---> 1a2b3c4d5e6f\n" });
 * collector.push({ stream: "Successfully built 1a2b3c4d5e6f\n" });
 * assert.deepEqual(collector.finish(), { imageId: "1a2b3c4d5e6f", tags: ["app:1"] });
 * ```
 */
export function buildCollector(
  requested: readonly string[] = [],
  quiet = false,
  output = false,
): ProgressCollector<ImageBuildEvent, ImageBuildResult> {
  let auxId: string | undefined;
  let printedId: string | undefined;
  /** The short id of the last `Successfully built`, while only tag lines followed it. */
  let shortId: string | undefined;
  let tags: string[] = [];
  let partial = "";
  const line = (text: string) => {
    const trimmed = text.trim();
    let match: RegExpExecArray | null;
    if ((match = /^Successfully built ([0-9a-f]+)$/.exec(trimmed))) {
      shortId = match[1];
      tags = [];
    } else if (shortId !== undefined && (match = /^Successfully tagged (\S+)$/.exec(trimmed))) {
      tags.push(match[1]!);
    } else if (quiet && IMAGE_ID.test(trimmed)) {
      printedId = trimmed;
    } else if (trimmed !== "") {
      // More output: what came before was not the closing trailer.
      shortId = undefined;
      tags = [];
    }
  };
  return {
    push(event) {
      if (!event || typeof event !== "object") return;
      const id = typeof event.aux === "object" ? event.aux?.ID : undefined;
      if (typeof id === "string" && id !== "") auxId = id;
      if (typeof event.stream !== "string") return;
      const lines = (partial + event.stream).split("\n");
      partial = lines.pop()!;
      for (const text of lines) line(text);
    },
    finish() {
      if (output) return { imageId: "", tags: [] };
      if (partial !== "") line(partial);
      partial = "";
      const imageId = auxId ?? printedId ?? shortId;
      if (imageId === undefined) {
        throw new DockerError("Cannot build an image: the engine did not report the image id");
      }
      return { imageId, tags: tags.length > 0 ? tags : [...requested] };
    },
  };
}

/**
 * Adds the decoded record to each `moby.buildkit.trace` event. A record
 * that does not decode is passed on without `buildkit`: progress display
 * is not worth failing a build for. With an `output`, the stream ends only
 * once the output is stored (and fails if it was not).
 */
function buildKitDecoding(
  output: OutputReceiver | undefined,
): TransformStream<ImageBuildEvent, ImageBuildEvent> {
  return new TransformStream({
    // A build with an output ends once the output is stored.
    flush: () => output?.stored(),
    transform(event, controller) {
      if (event?.id === "moby.buildkit.trace" && typeof event.aux === "string") {
        try {
          event.buildkit = decodeBuildKitTrace(event.aux);
        } catch {
          // Left undecoded; the raw `aux` stays on the event.
        }
      }
      controller.enqueue(event);
    },
  });
}

/**
 * Stores a build's output as the session receives it, and tells the build
 * how that went.
 */
class OutputReceiver {
  readonly #output: ImageBuildOutput;
  #storing: Promise<void> | undefined;

  constructor(output: ImageBuildOutput) {
    this.#output = output;
  }

  /** The session's `output` source. */
  readonly receive = (archive: AsyncIterable<Uint8Array>): Promise<void> => {
    this.#storing = storeOutput(this.#output, ReadableStream.from(archive));
    return this.#storing;
  };

  /**
   * The build failed or was cancelled: a caller's stream that never got
   * the output is aborted, so that nobody waits on it.
   *
   * @param reason Why.
   */
  abandon(reason: unknown): void {
    const dest = this.#output.dest;
    if (this.#storing === undefined && dest instanceof WritableStream && !dest.locked) {
      dest.abort(reason).catch(() => {});
    }
  }

  /**
   * Settles once the output is stored.
   *
   * @throws {DockerError} When the engine ended the build without sending it.
   * @throws What storing it failed with.
   */
  stored(): Promise<void> {
    return this.#storing ?? Promise.reject(
      new DockerError("Cannot build: the engine ended the build without sending its output"),
    );
  }
}

/**
 * Checks that each SSH agent socket exists.
 *
 * @throws {DockerError} Naming the first that does not (or cannot be looked at).
 */
async function checkAgents(agents: Record<string, string> | undefined): Promise<void> {
  for (const [id, path] of Object.entries(agents ?? {})) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new DockerError(`Cannot build: no SSH agent socket for ssh.${id} (${reason})`, {
        cause: error,
      });
    }
    if (info.isSocket === false) {
      throw new DockerError(`Cannot build: ssh.${id} (${path}) is not a socket`);
    }
  }
}

/** Writes an output archive where `output` says. */
async function storeOutput(
  output: ImageBuildOutput,
  archive: ReadableStream<Uint8Array>,
): Promise<void> {
  if (output.type === "local") {
    await extractTar(archive, output.dest, { overwrite: true });
  } else if (typeof output.dest === "string") {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(output.dest, { write: true, create: true, truncate: true });
    } catch (error) {
      await archive.cancel(error).catch(() => {});
      throw error;
    }
    await archive.pipeTo(file.writable); // Closes the file, whatever happens.
  } else {
    await archive.pipeTo(output.dest);
  }
}

/**
 * Opens the BuildKit session (`POST /session`, upgraded to HTTP/2) that
 * serves the build's secrets, credentials, SSH agents and output. An engine
 * that does not offer sessions gets none: the build then runs without
 * them, unless it needs the session (`required`: SSH agents or an output).
 */
async function openSession(
  api: ApiClient,
  sources: BuildSessionSources,
  signal: AbortSignal | undefined,
  required: boolean,
): Promise<BuildSession | undefined> {
  const id = crypto.randomUUID().replaceAll("-", "");
  let connection;
  try {
    connection = await api.upgrade({
      method: "POST",
      path: "/session",
      headers: {
        "X-Docker-Expose-Session-Uuid": id,
        "X-Docker-Expose-Session-Name": "berth",
        "X-Docker-Expose-Session-Sharedkey": id,
        // One line per method; the engine asks for some features (outputs)
        // only of a client that lists their methods.
        "X-Docker-Expose-Session-Grpc-Method": sessionMethods(sources),
      },
      upgradeProtocol: "h2c",
      signal,
      action: "open a BuildKit session",
    });
  } catch (error) {
    if (!(error instanceof DockerApiError)) throw error;
    if (!required) return undefined;
    throw new DockerError(
      `Cannot build: the engine refused the BuildKit session that ssh and output need (${error.message})`,
      { cause: error },
    );
  }
  return startSession(id, connection, sources);
}

function isRemote(context: unknown): context is ImageBuildRemoteContext {
  return typeof context === "object" && context !== null && !(context instanceof URL) &&
    !(context instanceof Uint8Array) && !(context instanceof ReadableStream) &&
    typeof (context as { remote?: unknown }).remote === "string";
}

/**
 * `POST /build`: builds an image with the classic builder and returns its
 * progress as a {@linkcode ProgressStream} that is also a promise of
 * `{ imageId, tags }`. See `Images.build` for the full contract.
 *
 * @param api The API client.
 * @param context A directory, a tar archive (stream or bytes), or `{ remote }`.
 * @param options Build options, credentials, `onProgress`, `signal`.
 * @param credentials The client's credential store, used when `auth` is unset.
 * @returns The progress events; as a promise, the image id and tags.
 * @throws {TypeError} Synchronously, for a malformed context or option
 *   (including `version: "2"`); through the stream, when a directory
 *   context is not a directory.
 * @throws {RangeError} Synchronously, for a negative or fractional limit.
 *
 * @example Build a directory
 * ```ts ignore
 * import { buildImage } from "./_build.ts";
 * import type { ApiClient } from "./_client.ts";
 *
 * declare const api: ApiClient;
 * const { imageId } = await buildImage(api, "./app", { tags: ["app:dev"] });
 * console.log(imageId);
 * ```
 */
export function buildImage(
  api: ApiClient,
  context: ImageBuildContext,
  options: ImageBuildOptions = {},
  credentials?: CredentialStore,
): ProgressStream<ImageBuildEvent, ImageBuildResult> {
  checkOptions(options);
  let directory: string | URL | undefined;
  let body: ReadableStream<Uint8Array> | Uint8Array | undefined;
  let remote: string | undefined;
  if (typeof context === "string") {
    if (context === "") throw new TypeError('A build context directory is required (got "")');
    directory = context;
  } else if (context instanceof URL) {
    if (context.protocol !== "file:") {
      throw new TypeError(
        `A build context URL must be a file: URL; use { remote: "${context.href}" } for a remote context`,
      );
    }
    directory = context;
  } else if (context instanceof ReadableStream || context instanceof Uint8Array) {
    body = context;
  } else if (isRemote(context)) {
    if (context.remote.trim() === "") throw new TypeError("A remote build context URL is required");
    remote = context.remote;
  } else {
    throw new TypeError(
      "A build context must be a directory path, a file: URL, a tar archive " +
        "(ReadableStream<Uint8Array> or Uint8Array) or { remote }",
    );
  }
  if (options.excludes !== undefined && directory === undefined) {
    throw new TypeError("The excludes option only applies to a directory context");
  }

  const secrets: string[] = [];
  const output = options.output && new OutputReceiver(options.output);
  const action = options.tags?.length
    ? `build image ${options.tags.map((tag) => `"${tag}"`).join(", ")}`
    : "build an image";
  const source = (async () => {
    let dockerfile = options.dockerfile;
    if (directory !== undefined) {
      const packOptions: Parameters<typeof packContext>[1] = {};
      if (options.dockerfile !== undefined) packOptions.dockerfile = options.dockerfile;
      if (options.excludes !== undefined) packOptions.excludes = options.excludes;
      body = await packContext(directory, packOptions);
      if (dockerfile !== undefined) dockerfile = contextDockerfile(directory, dockerfile);
    }
    const headers: Record<string, string> = {};
    let map: Record<string, RegistryAuth> | undefined;
    if (options.auth !== false) {
      try {
        map = options.auth ??
          (await credentials?.all(options.signal ? { signal: options.signal } : {}));
      } catch (error) {
        // The context will never be sent: release it (nothing of a directory is open yet).
        if (body instanceof ReadableStream) await body.cancel(error).catch(() => {});
        throw error;
      }
      if (map && Object.keys(map).length > 0) {
        for (const auth of Object.values(map)) secrets.push(...authSecrets(auth));
        const header = encodeRegistryConfig(map);
        secrets.push(header);
        headers["X-Registry-Config"] = header;
      }
    }
    for (const value of Object.values(options.secrets ?? {})) {
      if (typeof value === "string" && value !== "") secrets.push(value);
    }
    try {
      // An agent that is not there would only show when a step talks to it.
      await checkAgents(options.ssh);
    } catch (error) {
      if (body instanceof ReadableStream) await body.cancel(error).catch(() => {});
      throw error;
    }
    let session: BuildSession | undefined;
    if (options.version === "2") {
      try {
        session = await openSession(
          api,
          {
            secrets: options.secrets,
            credentials: map ? credentialsFromMap(map) : undefined,
            ssh: options.ssh,
            output: output?.receive,
          },
          options.signal,
          options.ssh !== undefined || output !== undefined,
        );
      } catch (error) {
        if (body instanceof ReadableStream) await body.cancel(error).catch(() => {});
        throw error;
      }
    }
    const query = buildQuery(options, dockerfile, remote);
    if (session) query.session = session.id;
    const call: ApiCall = {
      method: "POST",
      path: "/build",
      query,
      headers,
      signal: options.signal,
      action,
      longLived: true,
      headersTimeout: 0,
    };
    if (body !== undefined) {
      call.body = body;
      headers["Content-Type"] = "application/x-tar";
    }
    call.worker = options.worker;
    const events = api.stream<ImageBuildEvent>(
      call,
      () => new JsonLinesDecoder<ImageBuildEvent>(),
      { kind: "json" },
    );
    // Decoded here rather than by the decoder so that it also happens for
    // a stream read in a worker (which only runs the JSON-lines decoder).
    const decoding = buildKitDecoding(output);
    // The session lives as long as the build's stream, however that ends.
    events.pipeTo(decoding.writable).catch((error) => output?.abandon(error)).finally(() =>
      session?.close()
    );
    return decoding.readable;
  })();
  // A build that fails before it starts abandons its output too.
  source.catch((error) => output?.abandon(error));
  return new ProgressStream<ImageBuildEvent, ImageBuildResult>(
    source,
    buildCollector(options.tags, options.quiet, output !== undefined),
    {
      onProgress: options.onProgress,
      action,
      mapError: (error) => scrubSecrets(error, secrets),
    },
  );
}

/**
 * `POST /build/prune`: removes build cache.
 *
 * @param api The API client.
 * @param options `keepStorage`, `all`, `filters`, `signal`.
 * @returns The ids removed (always an array) and the bytes reclaimed.
 * @throws {RangeError} When `keepStorage` is negative or fractional.
 *
 * @example Remove cache older than a day
 * ```ts ignore
 * import { pruneBuildCache } from "./_build.ts";
 * import type { ApiClient } from "./_client.ts";
 *
 * declare const api: ApiClient;
 * const { SpaceReclaimed } = await pruneBuildCache(api, { filters: { until: ["24h"] } });
 * console.log(SpaceReclaimed);
 * ```
 */
export async function pruneBuildCache(
  api: ApiClient,
  options: BuildCachePruneOptions = {},
): Promise<BuildCachePruneResult> {
  const keep = options.keepStorage;
  if (keep !== undefined && (!Number.isSafeInteger(keep) || keep < 0)) {
    throw new RangeError(`keepStorage must be a whole number of bytes (got ${keep})`);
  }
  const response = await api.json<BuildCachePruneResponse | null>({
    method: "POST",
    path: "/build/prune",
    query: { "keep-storage": keep, all: options.all, filters: filtersQuery(options.filters) },
    signal: options.signal,
    action: "prune the build cache",
  });
  return {
    ...response,
    CachesDeleted: response?.CachesDeleted ?? [],
    SpaceReclaimed: response?.SpaceReclaimed ?? 0,
  };
}
