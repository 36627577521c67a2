/**
 * `docker.containers`: the container lifecycle (create, start, stop,
 * restart, kill, pause, wait, remove, prune), its output (logs, attach,
 * stats, top, changes), files (archive, export), and {@linkcode Containers.run}.
 *
 * @module
 */

import { DockerError } from "../errors.ts";
import type { HttpResponse } from "../http/response.ts";
import { collectFrames, type Frame } from "../stream/demux.ts";
import { extractTar } from "../stream/extract.ts";
import { JsonLinesDecoder } from "../stream/json_lines.ts";
import type {
  ContainerChangeResponseItem,
  ContainerCreateBody,
  ContainerCreateResponse,
  ContainerInspectResponse,
  ContainerPathStat,
  ContainerPruneResponse,
  ContainerStats,
  ContainerSummary,
  ContainerTopResponse,
  ContainerUpdateBody,
  ContainerUpdateResponse,
  ContainerWaitResponse,
} from "../types/mod.ts";
import {
  type ContainerGetArchiveOptions,
  type ContainerGetArchiveResult,
  type ContainerPutArchiveOptions,
  type ContainerStatPathOptions,
  getArchive,
  putArchive,
  statPath,
} from "./_archive.ts";
import {
  attach,
  attachWebSocket,
  type ContainerAttachOptions,
  type ContainerAttachSession,
  type ContainerAttachWebSocketOptions,
  type ContainerWebSocketSession,
} from "./_attach.ts";
import { type ApiClient, bytesDecoder, filtersQuery, segment } from "./_client.ts";
import { failing, rejecting } from "./_failing.ts";
import type {
  ContainerChangesOptions,
  ContainerCreateOptions,
  ContainerExportOptions,
  ContainerExtractArchiveOptions,
  ContainerExtractArchiveResult,
  ContainerInspectOptions,
  ContainerKillOptions,
  ContainerListOptions,
  ContainerLogsOptions,
  ContainerPauseOptions,
  ContainerPruneOptions,
  ContainerRemoveOptions,
  ContainerRenameOptions,
  ContainerResizeOptions,
  ContainerRestartOptions,
  ContainerRunOptions,
  ContainerRunResult,
  ContainerStartOptions,
  ContainerStartResult,
  ContainerStatsOptions,
  ContainerStatsStreamOptions,
  ContainerStopOptions,
  ContainerStopResult,
  ContainerTopOptions,
  ContainerUnpauseOptions,
  ContainerUpdateOptions,
  ContainerWaitOptions,
} from "./_container_types.ts";
import { DEFAULT_MAX_OUTPUT, logsStream } from "./_frames.ts";
import { assertSize } from "./_session.ts";

// Re-exported so this module documents on its own (`deno doc --lint`);
// mod.ts exports the same bindings.
export type { RequestOptions } from "./_client.ts";
export type * from "./_container_types.ts";
export type { HijackedSession } from "./_session.ts";
export type { Frame, StreamName } from "../stream/demux.ts";
export type { ExtractLinkPolicy, ExtractTarOptions, ExtractTarResult } from "../stream/extract.ts";
export type * from "../types/containers.ts";
export type { GraphDriverData, HealthConfig, Mount, MountType, Port } from "../types/common.ts";
export type { EndpointIPAMConfig, EndpointSettings } from "../types/networks.ts";
export type {
  ContainerAttachOptions,
  ContainerAttachSession,
  ContainerAttachWebSocketOptions,
  ContainerGetArchiveOptions,
  ContainerGetArchiveResult,
  ContainerPutArchiveOptions,
  ContainerStatPathOptions,
  ContainerWebSocketSession,
};

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

const empty = new Uint8Array(0);
/** Container calls. Reach it as `docker.containers`. */
export class Containers {
  readonly #api: ApiClient;

  /**
   * Creates the namespace; use `docker.containers` rather than calling this.
   *
   * @param api The API client of a {@linkcode Docker} instance.
   */
  constructor(api: ApiClient) {
    this.#api = api;
  }

  /**
   * Sends `GET /containers/json`: lists containers.
   *
   * @param options `all`, `limit`, `size`, `filters`, `signal`.
   * @returns One summary per container.
   *
   * @example List containers with a label, running or not
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const list = await docker.containers.list({ all: true, filters: { label: ["app=web"] } });
   * console.log(list.map((c) => c.Names?.[0]));
   * ```
   */
  list(options: ContainerListOptions = {}): Promise<ContainerSummary[]> {
    return this.#api.json<ContainerSummary[]>({
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

  /**
   * Sends `POST /containers/create`: creates a container (not started).
   *
   * @param body Image, command, environment, `HostConfig`, ...
   * @param options `name`, `platform`, `signal`.
   * @returns The new container's `Id` and the engine's warnings.
   * @throws {DockerNotFoundError} When the image is not present.
   * @throws {DockerConflictError} When the name is in use.
   *
   * @example Create a named container
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Id } = await docker.containers.create(
   *   { Image: "busybox:latest", Cmd: ["echo", "hi"], Labels: { app: "demo" } },
   *   { name: "demo-echo" },
   * );
   * console.log(Id);
   * ```
   */
  create(
    body: ContainerCreateBody,
    options: ContainerCreateOptions = {},
  ): Promise<ContainerCreateResponse> {
    return rejecting(() => {
      if (!body || typeof body !== "object") {
        throw new TypeError("A container create body is required");
      }
      return this.#api.json<ContainerCreateResponse>({
        method: "POST",
        path: "/containers/create",
        query: { name: options.name, platform: options.platform },
        json: body,
        signal: options.signal,
        action: options.name ? `create container "${options.name}"` : "create a container",
      });
    });
  }

  /**
   * Sends `GET /containers/{id}/json`: everything the engine knows about a
   * container.
   *
   * @param id Container id or name.
   * @param options `size`, `signal`.
   * @returns The container's full record.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such container exists.
   *
   * @example Read a container's state
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { State } = await docker.containers.inspect("web");
   * console.log(State?.Status, State?.ExitCode);
   * ```
   */
  inspect(id: string, options: ContainerInspectOptions = {}): Promise<ContainerInspectResponse> {
    return rejecting(() => {
      const path = `/containers/${segment(id, "container id")}/json`;
      return this.#api.json<ContainerInspectResponse>({
        method: "GET",
        path,
        query: { size: options.size },
        signal: options.signal,
        action: `inspect container "${id}"`,
      });
    });
  }

  /**
   * Sends `POST /containers/{id}/start`.
   *
   * @param id Container id or name.
   * @param options `detachKeys`, `signal`.
   * @returns `{ alreadyStarted }`: true when it was running already (304).
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such container exists.
   *
   * @example Start a container
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { alreadyStarted } = await docker.containers.start("web");
   * console.log(alreadyStarted ? "was running" : "started");
   * ```
   */
  async start(id: string, options: ContainerStartOptions = {}): Promise<ContainerStartResult> {
    const status = await this.#api.empty({
      method: "POST",
      path: `/containers/${segment(id, "container id")}/start`,
      query: { detachKeys: options.detachKeys },
      signal: options.signal,
      action: `start container "${id}"`,
    });
    return { alreadyStarted: status === 304 };
  }

  /**
   * Sends `POST /containers/{id}/wait`: waits until the container stops
   * (or the chosen condition) and returns its exit status. Never timed out
   * by berth; pass a `signal` to give up.
   *
   * @param id Container id or name.
   * @param options `condition`, `signal`.
   * @returns `{ StatusCode }`, and `Error` when waiting failed.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such container exists.
   *
   * @example Wait for the exit code
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { StatusCode } = await docker.containers.wait("job");
   * console.log(StatusCode);
   * ```
   */
  wait(id: string, options: ContainerWaitOptions = {}): Promise<ContainerWaitResponse> {
    return rejecting(() =>
      this.#api.json<ContainerWaitResponse>({
        method: "POST",
        path: `/containers/${segment(id, "container id")}/wait`,
        query: { condition: options.condition },
        signal: options.signal,
        longLived: true,
        headersTimeout: 0,
        action: `wait for container "${id}"`,
      })
    );
  }

  /**
   * Sends `GET /containers/{id}/logs`: the container's output as frames,
   * demultiplexed into stdout and stderr (TTY containers give raw stdout
   * frames). The stream is returned at once; an error status rejects the
   * first read. With `follow` it runs until the container stops.
   *
   * Frames are views into the read buffers, not copies.
   *
   * @param id Container id or name.
   * @param options `follow`, `stdout`, `stderr`, `since`, `until`,
   *   `timestamps`, `tail`, `tty`, `signal`.
   * @returns The frames.
   * @throws {TypeError} When `id` is empty (synchronously).
   *
   * @example Print a container's output
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * for await (const frame of docker.containers.logs("web", { tail: 100 })) {
   *   (frame.stream === "stderr" ? Deno.stderr : Deno.stdout).writeSync(frame.data);
   * }
   * ```
   */
  logs(id: string, options: ContainerLogsOptions = {}): ReadableStream<Frame> {
    return logsStream(
      this.#api,
      "container",
      id,
      options,
      (signalOnly) => this.inspect(id, signalOnly).then((c) => c.Config?.Tty === true),
    );
  }

  /**
   * Sends `DELETE /containers/{id}`.
   *
   * @param id Container id or name.
   * @param options `force`, `volumes`, `link`, `signal`.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such container exists.
   * @throws {DockerConflictError} When it runs and `force` is not set.
   *
   * @example Remove a container, running or not
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.containers.remove("web", { force: true });
   * ```
   */
  async remove(id: string, options: ContainerRemoveOptions = {}): Promise<void> {
    await this.#api.empty({
      method: "DELETE",
      path: `/containers/${segment(id, "container id")}`,
      query: { force: options.force, v: options.volumes, link: options.link },
      signal: options.signal,
      action: `remove container "${id}"`,
    });
  }

  /**
   * Sends `GET /containers/{id}/top`: the processes running in a container,
   * as `ps` on the engine's host lists them.
   *
   * @param id Container id or name.
   * @param options `psArgs`, `signal`.
   * @returns Column `Titles` and one row of `Processes` per process.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such container exists.
   * @throws {DockerConflictError} When the container is not running.
   *
   * @example List process ids and commands
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Titles, Processes } = await docker.containers.top("web", { psArgs: "-o pid,comm" });
   * console.log(Titles, Processes);
   * ```
   */
  top(id: string, options: ContainerTopOptions = {}): Promise<ContainerTopResponse> {
    return rejecting(() =>
      this.#api.json<ContainerTopResponse>({
        method: "GET",
        path: `/containers/${segment(id, "container id")}/top`,
        query: { ps_args: options.psArgs },
        signal: options.signal,
        action: `list processes of container "${id}"`,
      })
    );
  }

  /**
   * Sends `GET /containers/{id}/changes`: files added (`Kind` 1), changed
   * (0) or deleted (2) in the container's filesystem since it was created.
   *
   * @param id Container id or name.
   * @param options `signal`.
   * @returns The changes; empty when there are none.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such container exists.
   *
   * @example Print added files
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * for (const change of await docker.containers.changes("web")) {
   *   if (change.Kind === 1) console.log(change.Path);
   * }
   * ```
   */
  async changes(
    id: string,
    options: ContainerChangesOptions = {},
  ): Promise<ContainerChangeResponseItem[]> {
    const changes = await this.#api.json<ContainerChangeResponseItem[] | null>({
      method: "GET",
      path: `/containers/${segment(id, "container id")}/changes`,
      signal: options.signal,
      action: `list changes of container "${id}"`,
    });
    // The engine sends `null` when nothing changed.
    return changes ?? [];
  }

  /**
   * Sends `GET /containers/{id}/export`: the container's whole filesystem
   * as a tar stream. The stream is returned at once; an error status
   * rejects the first read. Read it to its end or cancel it.
   *
   * @param id Container id or name.
   * @param options `signal`.
   * @returns The tar archive.
   * @throws {TypeError} When `id` is empty (synchronously).
   *
   * @example Save a container's filesystem to a file
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * using file = await Deno.create("web.tar");
   * await docker.containers.export("web").pipeTo(file.writable);
   * ```
   */
  export(id: string, options: ContainerExportOptions = {}): ReadableStream<Uint8Array> {
    return failing(() =>
      this.#api.stream<Uint8Array>(
        {
          method: "GET",
          path: `/containers/${segment(id, "container id")}/export`,
          signal: options.signal,
          worker: options.worker,
          action: `export container "${id}"`,
        },
        bytesDecoder,
        { kind: "bytes" },
      )
    );
  }

  /**
   * Sends `GET /containers/{id}/stats?stream=0`: one sample of the
   * container's CPU, memory, network and block I/O usage. Without
   * `oneShot` the engine waits for a second sample (about a second) so
   * that `precpu_stats` is filled.
   *
   * @param id Container id or name.
   * @param options `oneShot`, `signal`.
   * @returns The sample (zeroed counters when the container is not running).
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such container exists.
   *
   * @example Read memory usage once
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const stats = await docker.containers.stats("web", { oneShot: true });
   * console.log(stats.memory_stats?.usage);
   * ```
   */
  stats(id: string, options: ContainerStatsOptions = {}): Promise<ContainerStats> {
    return rejecting(() => {
      if (options.stream !== undefined && options.stream !== false) {
        throw new TypeError(
          "containers.stats returns one sample; use containers.statsStream for a stream",
        );
      }
      return this.#api.json<ContainerStats>({
        method: "GET",
        path: `/containers/${segment(id, "container id")}/stats`,
        query: { stream: false, "one-shot": options.oneShot },
        signal: options.signal,
        action: `read stats of container "${id}"`,
      });
    });
  }

  /**
   * Sends `GET /containers/{id}/stats?stream=1`: a sample of the
   * container's resource usage about every second, until the container
   * stops or the stream is cancelled. The stream is returned at once; an
   * error status rejects the first read. Not subject to the body timeout.
   *
   * @param id Container id or name.
   * @param options `signal`.
   * @returns The samples.
   * @throws {TypeError} When `id` is empty (synchronously).
   *
   * @example Print CPU usage for a few seconds
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const samples = docker.containers.statsStream("web", { signal: AbortSignal.timeout(5000) });
   * for await (const s of samples) {
   *   const cpu = (s.cpu_stats?.cpu_usage?.total_usage ?? 0) - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
   *   const system = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
   *   console.log(system > 0 ? (cpu / system) * (s.cpu_stats?.online_cpus ?? 1) * 100 : 0);
   * }
   * ```
   */
  statsStream(
    id: string,
    options: ContainerStatsStreamOptions = {},
  ): ReadableStream<ContainerStats> {
    return failing(() =>
      this.#api.stream<ContainerStats>(
        {
          method: "GET",
          path: `/containers/${segment(id, "container id")}/stats`,
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

  /**
   * Sends `POST /containers/{id}/resize`: sets the size of the container's
   * TTY (the process gets `SIGWINCH`).
   *
   * @param id Container id or name.
   * @param options `h` rows, `w` columns, `signal`.
   * @throws {TypeError} When `id` is empty.
   * @throws {RangeError} When the size is not positive integers.
   * @throws {DockerNotFoundError} When no such container exists.
   * @throws {DockerConflictError} When the container is not running.
   *
   * @example Match the local terminal
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { rows, columns } = Deno.consoleSize();
   * await docker.containers.resize("shell", { h: rows, w: columns });
   * ```
   */
  async resize(id: string, options: ContainerResizeOptions): Promise<void> {
    const path = `/containers/${segment(id, "container id")}/resize`;
    assertSize(options.h, options.w);
    await this.#api.empty({
      method: "POST",
      path,
      query: { h: options.h, w: options.w },
      signal: options.signal,
      action: `resize the TTY of container "${id}"`,
    });
  }

  /**
   * Sends `POST /containers/{id}/stop`: sends the stop signal, waits `t`
   * seconds, then kills. The head timeout is set past `t` (or off when
   * `t` is unset), so a long grace period never times out.
   *
   * @param id Container id or name.
   * @param options `t`, `stopSignal`, `signal`.
   * @returns `{ alreadyStopped }`: true when it was not running (304).
   * @throws {TypeError} When `id` is empty.
   * @throws {RangeError} When `t` is not whole seconds.
   * @throws {DockerNotFoundError} When no such container exists.
   *
   * @example Stop within five seconds
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { alreadyStopped } = await docker.containers.stop("web", { t: 5 });
   * console.log(alreadyStopped ? "was not running" : "stopped");
   * ```
   */
  async stop(id: string, options: ContainerStopOptions = {}): Promise<ContainerStopResult> {
    const path = `/containers/${segment(id, "container id")}/stop`;
    assertStopTimeout(options.t);
    const status = await this.#api.empty({
      method: "POST",
      path,
      query: { t: options.t, signal: options.stopSignal },
      signal: options.signal,
      headersTimeout: stopHeadersTimeout(options.t),
      action: `stop container "${id}"`,
    });
    return { alreadyStopped: status === 304 };
  }

  /**
   * Sends `POST /containers/{id}/restart`: stops the container (as
   * {@linkcode Containers.stop}) and starts it again, or just starts it
   * when it was not running.
   *
   * @param id Container id or name.
   * @param options `t`, `stopSignal`, `signal`.
   * @throws {TypeError} When `id` is empty.
   * @throws {RangeError} When `t` is not whole seconds.
   * @throws {DockerNotFoundError} When no such container exists.
   *
   * @example Restart at once
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.containers.restart("web", { t: 0 });
   * ```
   */
  async restart(id: string, options: ContainerRestartOptions = {}): Promise<void> {
    const path = `/containers/${segment(id, "container id")}/restart`;
    assertStopTimeout(options.t);
    await this.#api.empty({
      method: "POST",
      path,
      query: { t: options.t, signal: options.stopSignal },
      signal: options.signal,
      headersTimeout: stopHeadersTimeout(options.t),
      action: `restart container "${id}"`,
    });
  }

  /**
   * Sends `POST /containers/{id}/kill`: sends a signal to the container's
   * main process (`SIGKILL` unless told otherwise).
   *
   * @param id Container id or name.
   * @param options `killSignal`, `signal`.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such container exists.
   * @throws {DockerConflictError} When the container is not running.
   *
   * @example Ask a server to reload
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.containers.kill("web", { killSignal: "SIGHUP" });
   * ```
   */
  async kill(id: string, options: ContainerKillOptions = {}): Promise<void> {
    const path = `/containers/${segment(id, "container id")}/kill`;
    await this.#api.empty({
      method: "POST",
      path,
      query: { signal: options.killSignal },
      signal: options.signal,
      action: `kill container "${id}"`,
    });
  }

  /**
   * Sends `POST /containers/{id}/update`: changes resource limits and the
   * restart policy of a container, running or not.
   *
   * @param id Container id or name.
   * @param body The limits to change, such as `{ CpuShares: 512 }` or
   *   `{ RestartPolicy: { Name: "on-failure", MaximumRetryCount: 3 } }`.
   * @param options `signal`.
   * @returns `{ Warnings }` (always an array).
   * @throws {TypeError} When `id` is empty or `body` is not an object.
   * @throws {DockerNotFoundError} When no such container exists.
   *
   * @example Restart on failure from now on
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Warnings } = await docker.containers.update("web", {
   *   RestartPolicy: { Name: "on-failure", MaximumRetryCount: 3 },
   * });
   * console.log(Warnings);
   * ```
   */
  async update(
    id: string,
    body: ContainerUpdateBody,
    options: ContainerUpdateOptions = {},
  ): Promise<ContainerUpdateResponse> {
    const path = `/containers/${segment(id, "container id")}/update`;
    if (!body || typeof body !== "object") {
      throw new TypeError("A container update body is required");
    }
    const result = await this.#api.json<ContainerUpdateResponse | null>({
      method: "POST",
      path,
      json: body,
      signal: options.signal,
      action: `update container "${id}"`,
    });
    return { ...result, Warnings: result?.Warnings ?? [] };
  }

  /**
   * Sends `POST /containers/{id}/rename`.
   *
   * @param id Container id or name.
   * @param name The new name (`/?[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
   * @param options `signal`.
   * @throws {TypeError} When `id` or `name` is empty.
   * @throws {DockerNotFoundError} When no such container exists.
   * @throws {DockerConflictError} When the name is in use.
   *
   * @example Rename a container
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.containers.rename("web", "web-old");
   * ```
   */
  async rename(id: string, name: string, options: ContainerRenameOptions = {}): Promise<void> {
    const path = `/containers/${segment(id, "container id")}/rename`;
    if (typeof name !== "string" || name.trim() === "") {
      throw new TypeError(`A new container name is required (got ${JSON.stringify(name)})`);
    }
    await this.#api.empty({
      method: "POST",
      path,
      query: { name },
      signal: options.signal,
      action: `rename container "${id}" to "${name}"`,
    });
  }

  /**
   * Sends `POST /containers/{id}/pause`: freezes every process of the
   * container (cgroup freezer; the processes cannot tell).
   *
   * @param id Container id or name.
   * @param options `signal`.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such container exists.
   * @throws {DockerConflictError} When the container is not running or already paused.
   *
   * @example Pause a container
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.containers.pause("web");
   * ```
   */
  async pause(id: string, options: ContainerPauseOptions = {}): Promise<void> {
    await this.#api.empty({
      method: "POST",
      path: `/containers/${segment(id, "container id")}/pause`,
      signal: options.signal,
      action: `pause container "${id}"`,
    });
  }

  /**
   * Sends `POST /containers/{id}/unpause`: resumes a paused container.
   *
   * @param id Container id or name.
   * @param options `signal`.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such container exists.
   * @throws {DockerConflictError} When the container is not paused.
   *
   * @example Resume a container
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.containers.unpause("web");
   * ```
   */
  async unpause(id: string, options: ContainerUnpauseOptions = {}): Promise<void> {
    await this.#api.empty({
      method: "POST",
      path: `/containers/${segment(id, "container id")}/unpause`,
      signal: options.signal,
      action: `unpause container "${id}"`,
    });
  }

  /**
   * Sends `POST /containers/{id}/attach` and takes over the connection:
   * `readable` is the main process's output (demultiplexed into stdout and
   * stderr frames, or raw stdout frames with a TTY), `writable` its stdin.
   * Closing `writable` (or `closeWrite()`) half-closes the socket; without
   * a TTY and with `StdinOnce` the process then sees EOF while its output
   * keeps arriving. With a TTY the engine ends the session at that EOF
   * instead. Attach before {@linkcode Containers.start} to miss no output.
   *
   * With `worker: true` (or a client created with `workers`) the session
   * runs in a stream worker: the worker opens the attach itself (a socket
   * cannot move between threads), decodes the output there, and writes
   * what you write to `writable`; each write resolves once the worker has
   * written it to the socket. The session is the same either way.
   *
   * @param id Container id or name.
   * @param options `stdin`, `stdout`, `stderr`, `stream`, `logs`,
   *   `detachKeys`, `tty`, `worker`, `signal` (aborting closes the session).
   * @returns The session; close it, or use `await using`.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such container exists.
   * @throws {DockerProtocolError} `UNEXPECTED_UPGRADE` when the engine did
   *   not switch protocols.
   *
   * @example Feed `cat` and read its echo
   * ```ts ignore
   * import { collectFrames, Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Id } = await docker.containers.create({
   *   Image: "busybox", Cmd: ["cat"], OpenStdin: true, StdinOnce: true,
   * });
   * await using session = await docker.containers.attach(Id, { stdin: true });
   * await docker.containers.start(Id);
   * const output = collectFrames(session.readable);
   * const writer = session.writable.getWriter();
   * await writer.write(new TextEncoder().encode("hello\n"));
   * await writer.close(); // EOF: cat exits after echoing
   * console.log(new TextDecoder().decode((await output).stdout));
   * ```
   */
  attach(id: string, options: ContainerAttachOptions = {}): Promise<ContainerAttachSession> {
    return attach(
      this.#api,
      id,
      options,
      async (signal) => (await this.inspect(id, { signal })).Config?.Tty === true,
      (rows, columns) => this.resize(id, { h: rows, w: columns }),
    );
  }

  /**
   * Sends `GET /containers/{id}/attach/ws` with `Upgrade: websocket`,
   * checks `Sec-WebSocket-Accept`, and returns the WebSocket session. The
   * engine attaches stdin, stdout and stderr; output arrives raw (not
   * split into stdout and stderr), each message's payload as one chunk.
   * With `worker` (or a client whose streams use workers) the WebSocket
   * runs in a stream worker: the worker opens the attach, checks the
   * handshake and decodes the messages; each write resolves once it has
   * sent the message.
   *
   * @param id Container id or name.
   * @param options `logs`, `stream`, `detachKeys`, `signal` (aborting closes the session), `worker`.
   * @returns The session; close it, or use `await using`.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such container exists.
   * @throws {DockerProtocolError} `UNEXPECTED_UPGRADE` when the engine did
   *   not switch protocols, `INVALID_HEADER` when the accept key is wrong.
   *
   * @example Send a line to `cat` and read it back
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await using ws = await docker.containers.attachWebSocket("cat-container");
   * const writer = ws.writable.getWriter();
   * await writer.write("hello\n");
   * const { value } = await ws.readable.getReader().read();
   * console.log(new TextDecoder().decode(value));
   * ```
   */
  attachWebSocket(
    id: string,
    options: ContainerAttachWebSocketOptions = {},
  ): Promise<ContainerWebSocketSession> {
    return attachWebSocket(this.#api, id, options);
  }

  /**
   * Sends `HEAD /containers/{id}/archive`: what a path inside the
   * container is, decoded from the `X-Docker-Container-Path-Stat` header.
   *
   * @param id Container id or name.
   * @param path Path inside the container.
   * @param options `signal`.
   * @returns `{ name, size, mode, mtime, linkTarget }`; `mode` holds Go's
   *   file mode bits (directory `2 ** 31`, symlink `2 ** 27`).
   * @throws {TypeError} When `id` or `path` is empty.
   * @throws {DockerNotFoundError} When the container or the path does not exist.
   * @throws {DockerProtocolError} `INVALID_HEADER` when the header is
   *   missing or malformed.
   *
   * @example Check a file's size
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const stat = await docker.containers.statPath("web", "/etc/hostname");
   * console.log(stat.size, stat.mtime);
   * ```
   */
  statPath(
    id: string,
    path: string,
    options: ContainerStatPathOptions = {},
  ): Promise<ContainerPathStat> {
    return statPath(this.#api, id, path, options);
  }

  /**
   * Sends `GET /containers/{id}/archive`: a tar archive of a file or
   * directory in the container (a directory's entries are under its base
   * name), with the path's stat. The body is not extracted: see
   * {@linkcode Containers.extractArchive} for a safe extraction.
   *
   * With `worker: true` (or a client created with `workers`) the download
   * runs in a stream worker: it reports the response head (the stat is a
   * header) before the body, so errors still reject this call, and the
   * body arrives in transferred buffers with the same backpressure.
   *
   * @param id Container id or name.
   * @param path Path inside the container.
   * @param options `signal`, `worker`.
   * @returns `{ stat, body }`; read `body` to its end or cancel it.
   * @throws {TypeError} When `id` or `path` is empty.
   * @throws {DockerNotFoundError} When the container or the path does not exist.
   *
   * @example Save a directory as a tar file
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { stat, body } = await docker.containers.getArchive("web", "/etc/nginx");
   * console.log(stat.name);
   * using file = await Deno.create("nginx.tar");
   * await body.pipeTo(file.writable);
   * ```
   */
  getArchive(
    id: string,
    path: string,
    options: ContainerGetArchiveOptions = {},
  ): Promise<ContainerGetArchiveResult> {
    return getArchive(this.#api, id, path, options);
  }

  /**
   * Sends `GET /containers/{id}/archive` and extracts the archive into a
   * local directory with berth's safe extractor: entries that would land
   * outside `dest` (absolute names, `..`, links pointing out, writes
   * through symlinks) are refused.
   *
   * @param id Container id or name.
   * @param path Path inside the container.
   * @param dest Local directory to extract into.
   * @param options The extractor's limits, `signal` and `worker` (for the download).
   * @returns The path's stat and what was written.
   * @throws {TypeError} When `id`, `path` or `dest` is empty.
   * @throws {DockerNotFoundError} When the container or the path does not exist.
   * @throws {UnsafeArchiveError} When an entry would escape `dest`.
   *
   * @example Copy a directory out of a container
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await Deno.mkdir("./out", { recursive: true });
   * await docker.containers.extractArchive("web", "/etc/nginx", "./out");
   * ```
   */
  async extractArchive(
    id: string,
    path: string,
    dest: string,
    options: ContainerExtractArchiveOptions = {},
  ): Promise<ContainerExtractArchiveResult> {
    if (typeof dest !== "string" || dest === "") {
      throw new TypeError(`A destination directory is required (got ${JSON.stringify(dest)})`);
    }
    const signal = options.signal;
    const { stat, body } = await this.getArchive(id, path, {
      ...(signal ? { signal } : {}),
      ...(options.worker !== undefined ? { worker: options.worker } : {}),
    });
    try {
      const extracted = await extractTar(body, dest, options);
      return { stat, extracted };
    } catch (error) {
      await body.cancel(error).catch(() => {});
      throw error;
    }
  }

  /**
   * Sends `PUT /containers/{id}/archive`: extracts a tar archive (plain,
   * gzip, bzip2 or xz) into a directory of the container. A stream is
   * sent chunked, never buffered.
   *
   * @param id Container id or name.
   * @param path Existing directory inside the container.
   * @param tar The archive, as bytes or a stream.
   * @param options `noOverwriteDirNonDir`, `copyUIDGID`, `signal`.
   * @throws {TypeError} When `id` or `path` is empty or `tar` is neither bytes nor a stream.
   * @throws {DockerNotFoundError} When the container or the directory does not exist.
   * @throws {DockerApiError} When `path` is not a directory or the archive
   *   would escape it (400; engine 20.10 answers 500), or the filesystem is
   *   read-only (403).
   *
   * @example Copy a file into a container
   * ```ts ignore
   * import { Docker, tarStream } from "@berth/docker";
   * await using docker = new Docker();
   * const tar = tarStream([{ name: "hello.txt", body: "hi\n", mode: 0o644 }]);
   * await docker.containers.putArchive("web", "/tmp", tar);
   * ```
   */
  putArchive(
    id: string,
    path: string,
    tar: ReadableStream<Uint8Array> | Uint8Array,
    options: ContainerPutArchiveOptions = {},
  ): Promise<void> {
    return putArchive(this.#api, id, path, tar, options);
  }

  /**
   * Sends `POST /containers/prune`: removes every stopped container that
   * matches the filters.
   *
   * @param options `filters`, `signal`.
   * @returns The removed ids (always an array) and the bytes reclaimed.
   * @throws {DockerApiError} 400 for an unknown filter.
   * @throws {DockerConflictError} When another prune (of any kind) runs on
   *   the engine at the same time.
   *
   * @example Remove stopped containers of one project
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { ContainersDeleted, SpaceReclaimed } = await docker.containers.prune({
   *   filters: { label: ["project=demo"] },
   * });
   * console.log(ContainersDeleted, SpaceReclaimed);
   * ```
   */
  async prune(options: ContainerPruneOptions = {}): Promise<ContainerPruneResponse> {
    const result = await this.#api.json<ContainerPruneResponse>({
      method: "POST",
      path: "/containers/prune",
      query: { filters: filtersQuery(options.filters) },
      signal: options.signal,
      action: "prune containers",
    });
    return { ...result, ContainersDeleted: result.ContainersDeleted ?? [] };
  }

  /**
   * Runs a container to its end, like `docker run`: creates it, attaches
   * to its output (before the start, so nothing is missed), registers a
   * wait for its next exit, starts it, and returns its exit code and
   * output. With `remove` the container is removed afterwards, also when
   * something failed or the signal aborted. With `wait: false` it returns
   * once the container started. The output is held in memory, up to
   * `maxOutput` (64 MiB by default); for a container that writes a lot,
   * use `logs: false` and read {@linkcode Containers.attach} or
   * {@linkcode Containers.logs} as a stream.
   *
   * @param body Image, command, environment, `HostConfig`, ... (`Tty: true`
   *   merges stderr into stdout).
   * @param options `name`, `platform`, `wait`, `logs`, `remove`, `signal`.
   * @returns `{ id, exitCode, stdout, stderr }`.
   * @throws {TypeError} When `body` is not an object, or `remove` or `logs`
   *   is asked for with `wait: false`.
   * @throws {DockerNotFoundError} When the image is not present.
   * @throws {DockerConflictError} When the name is in use.
   * @throws {DockerOutputLimitError} When the output exceeds `maxOutput`.
   *
   * @example Run a command and read its output
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { exitCode, stdout } = await docker.containers.run(
   *   { Image: "busybox", Cmd: ["echo", "hello"] },
   *   { remove: true },
   * );
   * console.log(exitCode, new TextDecoder().decode(stdout)); // 0 "hello\n"
   * ```
   */
  async run(
    body: ContainerCreateBody,
    options: ContainerRunOptions = {},
  ): Promise<ContainerRunResult> {
    if (!body || typeof body !== "object") {
      throw new TypeError("A container create body is required");
    }
    const wait = options.wait ?? true;
    if (!wait && (options.remove || options.logs)) {
      throw new TypeError(
        "containers.run: `remove` and `logs` need `wait` (it cannot remove or read a running container)",
      );
    }
    const signal = options.signal;
    const signalOnly = signal ? { signal } : {};
    const createOptions: ContainerCreateOptions = { ...signalOnly };
    if (options.name !== undefined) createOptions.name = options.name;
    if (options.platform !== undefined) createOptions.platform = options.platform;
    const { Id: id } = await this.create(body, createOptions);
    if (!wait) {
      await this.start(id, signalOnly);
      return { id, exitCode: null, stdout: empty, stderr: empty };
    }
    let session: ContainerAttachSession | undefined;
    let waiting: HttpResponse | undefined;
    try {
      if (options.logs ?? true) {
        session = await this.attach(id, { stream: true, tty: body.Tty === true, ...signalOnly });
      }
      const output = session
        ? collectFrames(session.readable, {
          maxBytes: options.maxOutput ?? DEFAULT_MAX_OUTPUT,
          what: `the output of container "${id}"`,
        })
        : Promise.resolve({ stdout: empty, stderr: empty });
      output.catch(() => {});
      // The engine sends the head once the wait is registered, so an exit
      // right after the start is not missed; an auto-removed container is
      // waited for until it is gone.
      waiting = await this.#api.send({
        method: "POST",
        path: `/containers/${segment(id, "container id")}/wait`,
        query: { condition: body.HostConfig?.AutoRemove === true ? "removed" : "next-exit" },
        signal,
        longLived: true,
        headersTimeout: 0,
        action: `wait for container "${id}"`,
      });
      await this.start(id, signalOnly);
      const [exit, { stdout, stderr }] = await Promise.all([
        waiting.json<ContainerWaitResponse>(),
        output,
      ]);
      if (exit.Error?.Message) {
        throw new DockerError(`Cannot wait for container "${id}": ${exit.Error.Message}`);
      }
      return { id, exitCode: exit.StatusCode, stdout, stderr };
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw error;
    } finally {
      // On failure, neither the wait nor the attach may outlive the call.
      if (waiting && !waiting.finished) waiting.cancel();
      session?.close();
      if (options.remove) {
        await this.remove(id, { force: true, volumes: true }).catch(() => {});
      }
    }
  }
}
