/**
 * Image builds (`POST /build`) and build cache pruning (`POST
 * /build/prune`). The methods on `Images` (`build`, `pruneBuildCache`)
 * document the calls; this module holds the work.
 *
 * ## Builders
 *
 * The classic builder (`version: "1"`, the default) takes the context as
 * the request body (a directory packed as a tar while it is sent) and
 * reports its progress as text lines.
 * BuildKit (`version: "2"`) reports it as `moby.buildkit.trace` records
 * (protobuf in base64), which the returned stream decodes into each
 * event's `buildkit` field.
 *
 * A BuildKit build also gets a session (`POST /session`, upgraded to
 * HTTP/2; see `src/build/session.ts`), through which the engine asks berth
 * for a directory context (`remote=client-session`: fsutil's DiffCopy,
 * only the files the engine lacks; see `src/build/filesync.ts`), for
 * registry credentials (the classic builder takes them from
 * `X-Registry-Config` instead), for the values of `secrets`, for the SSH
 * agents of `ssh` (read-only) and to hand over an `output` (always as a
 * tar archive: berth unpacks a `local` output itself). A tar or remote
 * context still goes as the request body or the `remote` parameter. An
 * engine that refuses the session gets the build without one, and a
 * directory as a tar.
 *
 * ## Cancelling
 *
 * Aborting the call's `signal`, cancelling the returned stream, or breaking
 * out of a `for await` closes the connection; either builder notices and
 * stops the build (the classic builder removes the container of a running
 * `RUN` step; BuildKit kills its process), and the session closes. A
 * BuildKit build is also named (`buildid`) and cancelled by that name
 * (`POST /build/cancel`), for a path where the close would reach the
 * engine late or not at all (a proxy, an ssh hop).
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
import { decodeBuildKitTrace } from "../build/buildkit_trace.ts";
import { checkDockerfile, contextDockerfile, contextRoot, packContext } from "../build/context.ts";
import { DockerApiError, DockerError, DockerStreamError } from "../errors.ts";
import { type BuildSession, credentialsFromMap } from "../build/session.ts";
import { JsonLinesDecoder } from "../stream/json_lines.ts";
import { checkLinkPolicy } from "../stream/extract.ts";
import { type ProgressCollector, ProgressStream } from "../stream/progress.ts";
import type { BuildCachePruneResponse } from "../types/mod.ts";
import { type ApiCall, type ApiClient, filtersQuery, type Query } from "./_client.ts";
import {
  checkAgents,
  openSession,
  OutputReceiver,
  type SessionContext,
  sessionContext,
} from "./_build_session.ts";
import type {
  BuildCachePruneOptions,
  BuildCachePruneResult,
  ImageBuildContext,
  ImageBuildEvent,
  ImageBuildOptions,
  ImageBuildRemoteContext,
  ImageBuildResult,
} from "./_build_types.ts";

// Re-exported so this module documents on its own (`deno doc --lint`).
export type * from "./_build_types.ts";
export type { ProgressCollector, ProgressStream } from "../stream/progress.ts";

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

/** Whether `value` is a plain object whose values all pass `valid`. */
function isRecordOf(value: unknown, valid: (item: unknown) => boolean): boolean {
  return value !== null && typeof value === "object" && !Array.isArray(value) &&
    Object.values(value).every(valid);
}

function stringRecord(value: unknown, what: string, nullable = false): void {
  if (value === undefined) return;
  if (!isRecordOf(value, (item) => typeof item === "string" || (nullable && item === null))) {
    throw new TypeError(`${what} must be an object of strings${nullable ? " (or null)" : ""}`);
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
  stringRecord(options.buildArgs, "buildArgs", true);
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
    if (
      !isRecordOf(options.secrets, (item) => typeof item === "string" || item instanceof Uint8Array)
    ) {
      throw new TypeError("secrets must be an object of strings or Uint8Arrays");
    }
  }
  if (options.ssh !== undefined) {
    if (options.version !== "2") {
      throw new TypeError('SSH agent forwarding needs BuildKit: set version: "2"');
    }
    if (!isRecordOf(options.ssh, (path) => typeof path === "string" && path !== "")) {
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
    if (type === "local") {
      const links = options.output as { symlinks?: unknown; hardlinks?: unknown };
      for (const key of ["symlinks", "hardlinks"] as const) {
        if (links[key] !== undefined) checkLinkPolicy(links[key], `output.${key}`);
      }
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
    squash: options.squash,
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

/** An id as a quiet build prints it: Docker with `sha256:`, Podman without. */
const IMAGE_ID = /^(?:sha256:)?[0-9a-f]{64}$/;

/**
 * Collects a build's result: the image id from the `aux` record (with
 * `quiet`, the id the engine prints instead, given the `sha256:` prefix
 * Podman leaves out; before API 1.30, the short id of `Successfully
 * built`), and the names of the closing `Successfully
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
 * @example A quiet build on Podman prints a bare id
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildCollector } from "./_build.ts";
 *
 * const collector = buildCollector(["app:1"], true);
 * collector.push({ stream: "b".repeat(64) + "\n" });
 * assert.deepEqual(collector.finish(), { imageId: "sha256:" + "b".repeat(64), tags: ["app:1"] });
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
      printedId = trimmed.startsWith("sha256:") ? trimmed : `sha256:${trimmed}`;
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
 * `POST /build/cancel?id=…`, best effort: the engine answers 200 whether or
 * not the build still runs, and a failure changes nothing for the caller.
 */
function cancelBuild(api: ApiClient, id: string): void {
  api.empty({
    method: "POST",
    path: "/build/cancel",
    query: { id },
    action: "cancel the build",
  }).catch(() => {});
}

function isRemote(context: unknown): context is ImageBuildRemoteContext {
  return typeof context === "object" && context !== null && !(context instanceof URL) &&
    !(context instanceof Uint8Array) && !(context instanceof ReadableStream) &&
    typeof (context as { remote?: unknown }).remote === "string";
}

/**
 * `POST /build`: builds an image with the classic builder or BuildKit and
 * returns its progress as a {@linkcode ProgressStream} that is also a
 * promise of `{ imageId, tags }`. See `Images.build` for the full contract.
 *
 * @param api The API client.
 * @param context A directory, a tar archive (stream or bytes), or `{ remote }`.
 * @param options Build options, credentials, `onProgress`, `signal`.
 * @param credentials The client's credential store, used when `auth` is unset.
 * @returns The progress events; as a promise, the image id and tags.
 * @throws {TypeError} Synchronously, for a malformed context or option
 *   (such as `ssh` or `output` without `version: "2"`); through the
 *   stream, when a directory context is not a directory.
 * @throws {DockerError} Through the stream, when the context directory
 *   may not be read.
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
  const buildId = options.version === "2" ? crypto.randomUUID() : undefined;
  const action = options.tags?.length
    ? `build image ${options.tags.map((tag) => `"${tag}"`).join(", ")}`
    : "build an image";
  const source = (async () => {
    let dockerfile = options.dockerfile;
    const pack = async (directory: string | URL) => {
      const packOptions: Parameters<typeof packContext>[1] = {};
      if (options.dockerfile !== undefined) packOptions.dockerfile = options.dockerfile;
      if (options.excludes !== undefined) packOptions.excludes = options.excludes;
      body = await packContext(directory, packOptions);
      if (dockerfile !== undefined) dockerfile = contextDockerfile(directory, dockerfile);
    };
    // BuildKit reads a directory through the session (only what changed
    // since the last build of it travels); the classic builder gets a tar.
    let synced: SessionContext | undefined;
    if (directory !== undefined) {
      const root = await contextRoot(directory);
      await checkDockerfile(root, options.dockerfile);
      if (options.version === "2") {
        synced = await sessionContext(root, options.dockerfile, options.excludes);
      } else await pack(directory);
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
    let session: BuildSession | undefined;
    try {
      // An agent that is not there would only show when a step talks to it.
      await checkAgents(options.ssh);
      if (options.version === "2") {
        session = await openSession(
          api,
          {
            secrets: options.secrets,
            credentials: map ? credentialsFromMap(map) : undefined,
            ssh: options.ssh,
            output: output?.receive,
            directories: synced?.directories,
          },
          options.signal,
          synced?.sharedKey,
        );
      }
    } catch (error) {
      if (body instanceof ReadableStream) await body.cancel(error).catch(() => {});
      throw error;
    }
    if (synced !== undefined && session !== undefined) {
      remote = "client-session";
      dockerfile = synced.dockerfile;
    } else if (synced !== undefined) {
      await pack(directory!); // An engine without sessions gets the tar.
    }
    const query = buildQuery(options, dockerfile, remote);
    if (session) query.session = session.id;
    if (buildId !== undefined) query.buildid = buildId;
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
    events.pipeTo(decoding.writable).catch((error) => {
      output?.abandon(error);
      // Stopped on this side (not failed by the engine): cancel by name too.
      if (
        buildId !== undefined && !(error instanceof DockerStreamError) &&
        !(error instanceof DockerApiError)
      ) {
        cancelBuild(api, buildId);
      }
    }).finally(() => session?.close());
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
 * Filters `POST /build/prune` accepts and then ignores: moby's BuildKit
 * builder validates them ("TODO: handle label", from Docker 20.10 to 29) but
 * never passes them on, so a prune "by label" removes every unused cache
 * record of every user of the engine.
 */
const IGNORED_CACHE_FILTERS: readonly string[] = ["label", "label!"];

/**
 * `POST /build/prune`: removes build cache.
 *
 * @param api The API client.
 * @param options `keepStorage`, `all`, `filters`, `signal`.
 * @returns The ids removed (always an array) and the bytes reclaimed.
 * @throws {RangeError} When `keepStorage` is negative or fractional.
 * @throws {TypeError} For a `label` or `label!` filter, which the engine
 *   would ignore (see {@linkcode IGNORED_CACHE_FILTERS}).
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
  const ignored = IGNORED_CACHE_FILTERS.find((key) => options.filters?.[key] !== undefined);
  if (ignored !== undefined) {
    throw new TypeError(
      `Cannot prune the build cache by ${
        JSON.stringify(ignored)
      }: the engine accepts that filter ` +
        "but ignores it, so all build cache would go; filter by id, parent, type, description, " +
        "inuse, shared, private or until",
    );
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
