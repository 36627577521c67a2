/**
 * `docker.tasks`: list and inspect the tasks of swarm services, and read
 * their logs (manager only).
 *
 * @module
 */

import type { Frame } from "../stream/demux.ts";
import type { Task } from "../types/mod.ts";
import { type ApiClient, filtersQuery, type RequestOptions, segment } from "./_client.ts";
import { rejecting } from "./_failing.ts";
import { logsStream, type OutputStreamOptions } from "./_frames.ts";

// Re-exported so this module documents on its own (`deno doc --lint`);
// mod.ts exports the same bindings.
export type { RequestOptions } from "./_client.ts";
export type { Frame, StreamName } from "../stream/demux.ts";
export type {
  NetworkAttachment,
  NetworkAttachmentConfig,
  Task,
  TaskSpec,
  TaskState,
} from "../types/swarm.ts";
export type {
  Driver,
  GenericResources,
  HealthConfig,
  Limit,
  Mount,
  MountType,
  ObjectVersion,
  Platform,
  ResourceObject,
} from "../types/common.ts";
export type {
  ConfigReference,
  IPAM,
  IPAMConfig,
  Network,
  NetworkContainer,
  PeerInfo,
} from "../types/networks.ts";
export type { PluginPrivilege } from "../types/plugins.ts";

/** Options of {@linkcode Tasks.list}. */
export interface TaskListOptions extends RequestOptions {
  /**
   * Filters such as `{ service: ["web"] }`, `{ "desired-state": ["running"] }`,
   * `{ node: ["worker-1"] }`, `{ label: ["app=web"] }`, `{ name: [...] }` or
   * `{ id: [...] }`.
   */
  filters?: Record<string, string[]>;
}

/** Options of {@linkcode Tasks.inspect}. */
export interface TaskInspectOptions extends RequestOptions {}

/** Options of {@linkcode Tasks.logs}. */
export interface TaskLogsOptions extends OutputStreamOptions {
  /** Keep streaming new output. @default false */
  follow?: boolean;
  /** Include stdout. @default true */
  stdout?: boolean;
  /** Include stderr. @default true */
  stderr?: boolean;
  /** Only logs since this time (Date, Unix seconds or RFC 3339 string). */
  since?: Date | number | string;
  /** Prefix every line with an RFC 3339 timestamp. @default false */
  timestamps?: boolean;
  /** Only this many lines from the end (`"all"` or a number). @default "all" */
  tail?: number | "all";
  /**
   * Prefix every line with its context (`com.docker.swarm.task.id=...`,
   * node and service ids, log labels). @default false
   */
  details?: boolean;
  /**
   * Whether the task has a TTY (its output is then raw, not multiplexed).
   * When unset berth asks the engine, concurrently with the logs request.
   */
  tty?: boolean;
}

/**
 * Swarm task calls. Reach it as `docker.tasks`. Every call needs a swarm
 * manager; elsewhere the engine answers 503 ({@linkcode DockerApiError}).
 */
export class Tasks {
  readonly #api: ApiClient;

  /**
   * Creates the namespace; use `docker.tasks` rather than calling this.
   *
   * @param api The API client of a {@linkcode Docker} instance.
   */
  constructor(api: ApiClient) {
    this.#api = api;
  }

  /**
   * Sends `GET /tasks`: lists tasks, including finished ones the swarm
   * still remembers (filter on `desired-state` for the current ones).
   *
   * @param options `filters`, `signal`.
   * @returns One record per task.
   * @throws {DockerApiError} With 503 when the engine is not a swarm manager.
   *
   * @example Print the state of a service's running tasks
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const tasks = await docker.tasks.list({
   *   filters: { service: ["web"], "desired-state": ["running"] },
   * });
   * for (const t of tasks) console.log(t.ID, t.Status?.State);
   * ```
   */
  async list(options: TaskListOptions = {}): Promise<Task[]> {
    const list = await this.#api.json<Task[] | null>({
      method: "GET",
      path: "/tasks",
      query: { filters: filtersQuery(options.filters) },
      signal: options.signal,
      action: "list tasks",
    });
    return list ?? [];
  }

  /**
   * Sends `GET /tasks/{id}`: a task's spec, status and container.
   *
   * @param id Task id.
   * @param options `signal`.
   * @returns The task.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such task exists.
   * @throws {DockerApiError} With 503 when the engine is not a swarm manager.
   *
   * @example Find a task's container
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const task = await docker.tasks.inspect("r55cfya85kxfyopqurwacfd6q");
   * console.log(task.Status?.ContainerStatus?.ContainerID);
   * ```
   */
  inspect(id: string, options: TaskInspectOptions = {}): Promise<Task> {
    return rejecting(() =>
      this.#api.json<Task>({
        method: "GET",
        path: `/tasks/${segment(id, "task id")}`,
        signal: options.signal,
        action: `inspect task "${id}"`,
      })
    );
  }

  /**
   * Sends `GET /tasks/{id}/logs`: one task's output as frames,
   * demultiplexed into stdout and stderr (tasks with a TTY give raw stdout
   * frames). The stream is returned at once; an error status rejects the
   * first read. With `follow` it runs until cancelled.
   *
   * Works for the `json-file`, `local` and `journald` log drivers only.
   * Frames are views into the read buffers, not copies.
   *
   * @param id Task id.
   * @param options `follow`, `stdout`, `stderr`, `since`, `timestamps`,
   *   `tail`, `details`, `tty`, `signal`.
   * @returns The frames.
   * @throws {TypeError} Through the stream, never at the call: `id` is empty.
   *
   * @example Collect a task's output
   * ```ts ignore
   * import { collectFrames, Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { stdout } = await collectFrames(docker.tasks.logs("r55cfya85kxfyopqurwacfd6q"));
   * console.log(new TextDecoder().decode(stdout));
   * ```
   */
  logs(id: string, options: TaskLogsOptions = {}): ReadableStream<Frame> {
    return logsStream(
      this.#api,
      "task",
      id,
      options,
      (signalOnly) => this.inspect(id, signalOnly).then((t) => t.Spec?.ContainerSpec?.TTY === true),
    );
  }
}
