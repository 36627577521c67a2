/**
 * `docker.containers`: the container lifecycle (create, start, stop,
 * restart, kill, pause, wait, remove, prune), its output (logs, attach,
 * stats, top, changes), files (archive, export), and {@linkcode Containers.run}.
 *
 * @module
 */

import type { Frame } from "../stream/demux.ts";
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
import type { ApiClient } from "./_client.ts";
import { exportContainer, extractArchive } from "./_container_files.ts";
import { changes, inspect, list, stats, statsStream, top } from "./_container_info.ts";
import {
  create,
  kill,
  pause,
  prune,
  remove,
  rename,
  resize,
  restart,
  start,
  stop,
  unpause,
  update,
  wait,
} from "./_container_lifecycle.ts";
import { run } from "./_container_run.ts";
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
import { logsStream } from "./_frames.ts";

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
    return list(this.#api, options);
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
    return create(this.#api, body, options);
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
    return inspect(this.#api, id, options);
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
  start(id: string, options: ContainerStartOptions = {}): Promise<ContainerStartResult> {
    return start(this.#api, id, options);
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
    return wait(this.#api, id, options);
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
   * @throws {TypeError} Through the stream, never at the call: `id` is empty.
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
  remove(id: string, options: ContainerRemoveOptions = {}): Promise<void> {
    return remove(this.#api, id, options);
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
    return top(this.#api, id, options);
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
  changes(
    id: string,
    options: ContainerChangesOptions = {},
  ): Promise<ContainerChangeResponseItem[]> {
    return changes(this.#api, id, options);
  }

  /**
   * Sends `GET /containers/{id}/export`: the container's whole filesystem
   * as a tar stream. The stream is returned at once; an error status
   * rejects the first read. Read it to its end or cancel it.
   *
   * @param id Container id or name.
   * @param options `signal`.
   * @returns The tar archive.
   * @throws {TypeError} Through the stream, never at the call: `id` is empty.
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
    return exportContainer(this.#api, id, options);
  }

  /**
   * Sends `GET /containers/{id}/stats?stream=0`: one sample of the
   * container's CPU, memory, network and block I/O usage. Without
   * `oneShot` the engine waits for a second sample (one to two seconds:
   * it samples once a second) so that `precpu_stats` is filled.
   *
   * @param id Container id or name.
   * @param options `oneShot`, `signal`.
   * @returns The sample; for a container that is not running, sections
   *   empty or zero (`memory_stats: {}` from Docker 20.10).
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
    return stats(this.#api, id, options);
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
   * @throws {TypeError} Through the stream, never at the call: `id` is empty.
   *
   * @example Print the CPU usage of five samples
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * let left = 5;
   * for await (const s of docker.containers.statsStream("web")) {
   *   const cpu = (s.cpu_stats?.cpu_usage?.total_usage ?? 0) - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
   *   const system = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
   *   console.log(system > 0 ? (cpu / system) * (s.cpu_stats?.online_cpus ?? 1) * 100 : 0);
   *   if (--left === 0) break; // cancels the stream and closes its connection
   * }
   * ```
   */
  statsStream(
    id: string,
    options: ContainerStatsStreamOptions = {},
  ): ReadableStream<ContainerStats> {
    return statsStream(this.#api, id, options);
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
  resize(id: string, options: ContainerResizeOptions): Promise<void> {
    return resize(this.#api, id, options);
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
  stop(id: string, options: ContainerStopOptions = {}): Promise<ContainerStopResult> {
    return stop(this.#api, id, options);
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
  restart(id: string, options: ContainerRestartOptions = {}): Promise<void> {
    return restart(this.#api, id, options);
  }

  /**
   * Sends `POST /containers/{id}/kill`: sends a signal to the container's
   * main process (`SIGKILL` unless told otherwise).
   *
   * @param id Container id or name.
   * @param options `killSignal`, `signal`.
   * @throws {TypeError} When `id` is empty.
   * @throws {RangeError} When `killSignal` is a number below 1 or not an integer.
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
  kill(id: string, options: ContainerKillOptions = {}): Promise<void> {
    return kill(this.#api, id, options);
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
  update(
    id: string,
    body: ContainerUpdateBody,
    options: ContainerUpdateOptions = {},
  ): Promise<ContainerUpdateResponse> {
    return update(this.#api, id, body, options);
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
  rename(id: string, name: string, options: ContainerRenameOptions = {}): Promise<void> {
    return rename(this.#api, id, name, options);
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
  pause(id: string, options: ContainerPauseOptions = {}): Promise<void> {
    return pause(this.#api, id, options);
  }

  /**
   * Sends `POST /containers/{id}/unpause`: resumes a paused container.
   *
   * @param id Container id or name.
   * @param options `signal`.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such container exists.
   * @throws {DockerApiError} With 500 when the container is not paused (the
   *   engine gives no 409 here, unlike `pause` of a stopped container).
   *
   * @example Resume a container
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.containers.unpause("web");
   * ```
   */
  unpause(id: string, options: ContainerUnpauseOptions = {}): Promise<void> {
    return unpause(this.#api, id, options);
  }

  /**
   * Sends `POST /containers/{id}/attach` and takes over the connection:
   * `readable` is the main process's output (demultiplexed into stdout and
   * stderr frames, or raw stdout frames with a TTY), `writable` its stdin.
   * Closing `writable` (or `closeWrite()`) half-closes the socket; without
   * a TTY and with `StdinOnce` the process then sees EOF while its output
   * keeps arriving. With a TTY (or without `StdinOnce`) the engine ends the
   * session's output at that EOF instead, and the process does not see it:
   * end a TTY process's input with Ctrl-D (`"\x04"`). Attach before
   * {@linkcode Containers.start} to miss no output.
   *
   * With `worker: true` (or a client created with `workers`) the session
   * runs in a stream worker: the worker opens the attach itself (a socket
   * cannot move between threads), decodes the output there, and writes
   * what you write to `writable`; each write resolves once the worker has
   * written it to the socket. The session is the same either way.
   *
   * @param id Container id or name.
   * @param options `stdin`, `stdout`, `stderr`, `stream`, `logs`,
   *   `detachKeys`, `tty`, `worker`, `signal` (aborting closes the session
   *   and fails its reads and writes with `signal.reason`).
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
   * @param options `logs`, `stream`, `detachKeys`, `worker`, `signal` (aborting closes the
   *   session and fails its reads and writes with `signal.reason`).
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
  extractArchive(
    id: string,
    path: string,
    dest: string,
    options: ContainerExtractArchiveOptions = {},
  ): Promise<ContainerExtractArchiveResult> {
    return extractArchive(this.#api, id, path, dest, options);
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
  prune(options: ContainerPruneOptions = {}): Promise<ContainerPruneResponse> {
    return prune(this.#api, options);
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
  run(
    body: ContainerCreateBody,
    options: ContainerRunOptions = {},
  ): Promise<ContainerRunResult> {
    return run(this.#api, this, body, options);
  }
}
