/**
 * `docker.services`: list, create, inspect, update and remove swarm
 * services, and read their logs (manager only).
 *
 * @module
 */

import {
  authSecrets,
  type CredentialStore,
  encodeAuthHeader,
  type RegistryAuth,
  scrubSecrets,
} from "../auth.ts";
import { DockerProtocolError } from "../errors.ts";
import type { Frame } from "../stream/demux.ts";
import type {
  Service,
  ServiceCreateResponse,
  ServiceSpec,
  ServiceUpdateResponse,
} from "../types/mod.ts";
import { type ApiClient, filtersQuery, type RequestOptions, segment } from "./_client.ts";
import { rejecting } from "./_failing.ts";
import { logsStream, type OutputStreamOptions } from "./_frames.ts";
import { versionQuery } from "./_swarm.ts";

// Re-exported so this module documents on its own (`deno doc --lint`);
// mod.ts exports the same bindings.
export type { RequestOptions } from "./_client.ts";
export type { Frame, StreamName } from "../stream/demux.ts";
export type { CredentialLookupOptions, CredentialStore, RegistryAuth } from "../auth.ts";
export type {
  EndpointPortConfig,
  EndpointSpec,
  NetworkAttachmentConfig,
  Service,
  ServiceCreateBody,
  ServiceCreateResponse,
  ServiceSpec,
  ServiceUpdateBody,
  ServiceUpdateResponse,
  TaskSpec,
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
export type { PluginPrivilege } from "../types/plugins.ts";

/** Options of {@linkcode Services.list}. */
export interface ServiceListOptions extends RequestOptions {
  /**
   * Filters such as `{ label: ["app=web"] }`, `{ name: ["web"] }`,
   * `{ mode: ["replicated"] }` or `{ id: [...] }`.
   */
  filters?: Record<string, string[]>;
  /** Fill `ServiceStatus` (running and desired task counts). @default false */
  status?: boolean;
}

/**
 * Registry credentials for a service's image, sent as `X-Registry-Auth`:
 * the credentials themselves, `true` for the client's credential store's
 * entry for the image's registry (the docker CLI's `--with-registry-auth`),
 * or `false` for none.
 *
 * The swarm stores what is sent with the service and hands it to every node
 * that runs a task, so nothing is sent unless asked for, as in the docker CLI.
 */
export type ServiceRegistryAuth = RegistryAuth | boolean;

/** Options of {@linkcode Services.create}. */
export interface ServiceCreateOptions extends RequestOptions {
  /**
   * Credentials for pulling the image from a private registry, sent as
   * `X-Registry-Auth` (and kept out of messages and observer events).
   * @default false (the nodes pull anonymously)
   */
  auth?: ServiceRegistryAuth;
}

/** Result of {@linkcode Services.create}. */
export interface ServiceCreateResult {
  /** Id of the new service. */
  ID: string;
  /**
   * What the engine warned about (such as an image it could not pin to a
   * digest), always an array. The engine sends `Warnings` (API 1.41's
   * specification says `Warning`, a string): a `Warning` is gathered too.
   */
  Warnings: string[];
}

/** Options of {@linkcode Services.inspect}. */
export interface ServiceInspectOptions extends RequestOptions {
  /** Fill fields left empty in the spec with their defaults. @default false */
  insertDefaults?: boolean;
}

/** Options of {@linkcode Services.update}. */
export interface ServiceUpdateOptions extends RequestOptions {
  /**
   * The service's current `Version.Index`, from {@linkcode Services.inspect}.
   * The engine refuses the update when the service changed since.
   */
  version: number;
  /**
   * Where the engine finds registry credentials when `auth` sends none:
   * those stored with the new spec, or with the previous one.
   * @default "spec"
   */
  registryAuthFrom?: "spec" | "previous-spec";
  /**
   * `"previous"`: roll back to the previous spec on the engine's side; the
   * spec sent is then ignored.
   */
  rollback?: "previous";
  /**
   * Credentials for pulling the image, sent as `X-Registry-Auth`; see
   * {@linkcode ServiceRegistryAuth}.
   * @default false (the engine keeps using what `registryAuthFrom` names)
   */
  auth?: ServiceRegistryAuth;
}

/** Result of {@linkcode Services.update}. */
export interface ServiceUpdateResult extends ServiceUpdateResponse {
  /** What the engine warned about, always an array. */
  Warnings: string[];
}

/** Options of {@linkcode Services.remove}. */
export interface ServiceRemoveOptions extends RequestOptions {}

/** Options of the {@linkcode Services} constructor. */
export interface ServicesOptions {
  /** Where `auth: true` finds credentials. */
  credentials?: CredentialStore | undefined;
}

/** Options of {@linkcode Services.logs}. */
export interface ServiceLogsOptions extends OutputStreamOptions {
  /** Keep streaming new output. @default false */
  follow?: boolean;
  /** Include stdout. @default true */
  stdout?: boolean;
  /** Include stderr. @default true */
  stderr?: boolean;
  /**
   * Only logs since this time: a Date, Unix seconds, an RFC 3339
   * timestamp, or a duration such as `"10m"` (before now).
   */
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
   * Whether the service's tasks have a TTY (their output is then raw, not
   * multiplexed). When unset berth asks the engine, concurrently with the
   * logs request.
   */
  tty?: boolean;
}

/**
 * Swarm service calls. Reach it as `docker.services`. Every call needs a
 * swarm manager; elsewhere the engine answers 503 ({@linkcode DockerApiError}).
 */
export class Services {
  readonly #api: ApiClient;
  readonly #credentials: CredentialStore | undefined;

  /**
   * Creates the namespace; use `docker.services` rather than calling this.
   *
   * @param api The API client of a {@linkcode Docker} instance.
   * @param options The client's credential store, if any.
   */
  constructor(api: ApiClient, options: ServicesOptions = {}) {
    this.#api = api;
    this.#credentials = options.credentials;
  }

  /**
   * Sends `GET /services`: lists services.
   *
   * @param options `filters`, `status`, `signal`.
   * @returns One record per service.
   * @throws {DockerApiError} With 503 when the engine is not a swarm manager.
   *
   * @example Print running/desired task counts
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * for (const s of await docker.services.list({ status: true })) {
   *   console.log(s.Spec?.Name, s.ServiceStatus?.RunningTasks, s.ServiceStatus?.DesiredTasks);
   * }
   * ```
   */
  async list(options: ServiceListOptions = {}): Promise<Service[]> {
    const list = await this.#api.json<Service[] | null>({
      method: "GET",
      path: "/services",
      query: { filters: filtersQuery(options.filters), status: options.status },
      signal: options.signal,
      action: "list services",
    });
    return list ?? [];
  }

  /**
   * Sends `POST /services/create`: creates a service. Its tasks are
   * scheduled in the background; watch them with {@linkcode Services.list}
   * (`status`) or `docker.tasks.list`: an image that cannot be had shows
   * only there (a task's `Status.Err`, such as `No such image: …`), not
   * in `Warnings`. The image reference is sent as given: unlike
   * `docker service create`, berth does not ask the registry for its digest
   * to pin it, so a tag such as `:latest` is resolved by each node when it
   * pulls (pin it yourself with a digest, from
   * `docker.distribution.inspect`, for the same image on every node).
   *
   * @param spec `Name`, `TaskTemplate` (`ContainerSpec.Image` at least),
   *   `Mode`, `Labels`, `UpdateConfig`, `Networks`, `EndpointSpec`, ...
   * @param options `auth`, `signal`.
   * @returns `{ ID, Warnings }`.
   * @throws {TypeError} When `spec` is not an object, or `auth` is not
   *   credentials.
   * @throws {DockerError} When `auth: true` and the credential store cannot
   *   be read.
   * @throws {DockerConflictError} When a service of that name exists.
   * @throws {DockerApiError} With 400 for an invalid spec, 403 for a network
   *   services cannot use, 503 when the engine is not a swarm manager.
   *
   * @example Run two replicas of a command
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { ID, Warnings } = await docker.services.create({
   *   Name: "ticker",
   *   TaskTemplate: {
   *     ContainerSpec: { Image: "busybox", Command: ["sh", "-c", "while sleep 1; do date; done"] },
   *   },
   *   Mode: { Replicated: { Replicas: 2 } },
   * });
   * console.log(ID, Warnings);
   * ```
   */
  async create(
    spec: ServiceSpec,
    options: ServiceCreateOptions = {},
  ): Promise<ServiceCreateResult> {
    if (!spec || typeof spec !== "object") {
      throw new TypeError("A service spec object is required");
    }
    const action = spec.Name ? `create service "${spec.Name}"` : "create a service";
    const auth = await this.#auth(spec, options.auth, options.signal);
    let result: ServiceCreateResponse & { Warning?: string };
    try {
      result = await this.#api.json({
        method: "POST",
        path: "/services/create",
        json: spec,
        ...(auth ? { headers: { "X-Registry-Auth": encodeAuthHeader(auth) } } : {}),
        signal: options.signal,
        action,
      });
    } catch (error) {
      throw scrubSecrets(error, authSecrets(auth));
    }
    if (typeof result.ID !== "string" || result.ID === "") {
      throw new DockerProtocolError(
        "INVALID_JSON",
        `Cannot ${action}: the engine's answer has no ID`,
      );
    }
    const warnings = [...(result.Warnings ?? [])];
    if (result.Warning) warnings.push(result.Warning);
    return { ID: result.ID, Warnings: warnings };
  }

  /**
   * Sends `GET /services/{id}`: a service's spec, version, endpoint and
   * update status.
   *
   * @param id Service id or name.
   * @param options `insertDefaults`, `signal`.
   * @returns The service.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such service exists.
   * @throws {DockerApiError} With 503 when the engine is not a swarm manager.
   *
   * @example Read a service's replica count
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const service = await docker.services.inspect("ticker");
   * console.log(service.Spec?.Mode?.Replicated?.Replicas);
   * ```
   */
  inspect(id: string, options: ServiceInspectOptions = {}): Promise<Service> {
    return rejecting(() =>
      this.#api.json<Service>({
        method: "GET",
        path: `/services/${segment(id, "service id")}`,
        query: { insertDefaults: options.insertDefaults },
        signal: options.signal,
        action: `inspect service "${id}"`,
      })
    );
  }

  /**
   * Sends `POST /services/{id}/update`: replaces a service's spec, which
   * rolls its tasks over to the new one. Fields left out are reset, so start
   * from the `Spec` of {@linkcode Services.inspect}.
   *
   * @param id Service id or name.
   * @param spec The whole new spec. With `rollback: "previous"` the engine
   *   still checks it (an empty one is refused: "mismatched Runtime and
   *   *Spec fields"): send the current `Spec`, and the engine puts the
   *   previous one back.
   * @param options `version` (required), `registryAuthFrom`, `rollback`,
   *   `auth`, `signal`.
   * @returns `{ Warnings }`, always an array.
   * @throws {TypeError} When `id` is empty, `spec` is not an object,
   *   `version` is missing or `auth` is not credentials.
   * @throws {RangeError} When `version` is not a non-negative integer.
   * @throws {DockerNotFoundError} When no such service exists.
   * @throws {DockerConflictError} When the service changed since `version`
   *   (the engine's "update out of sequence", sent as 500): inspect it again
   *   and retry.
   * @throws {DockerApiError} 400 for an invalid spec.
   *
   * @example Scale a service to three replicas
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Spec, Version } = await docker.services.inspect("ticker");
   * await docker.services.update("ticker", { ...Spec, Mode: { Replicated: { Replicas: 3 } } }, {
   *   version: Version?.Index ?? 0,
   * });
   * ```
   */
  async update(
    id: string,
    spec: ServiceSpec,
    options: ServiceUpdateOptions,
  ): Promise<ServiceUpdateResult> {
    const path = `/services/${segment(id, "service id")}/update`;
    const action = `update service "${id}"`;
    if (!spec || typeof spec !== "object") {
      throw new TypeError(`Cannot ${action}: a spec object is required`);
    }
    const version = versionQuery(options?.version, action);
    const auth = await this.#auth(spec, options.auth, options.signal);
    let result: ServiceUpdateResponse;
    try {
      result = await this.#api.json<ServiceUpdateResponse>({
        method: "POST",
        path,
        query: {
          version,
          registryAuthFrom: options.registryAuthFrom,
          rollback: options.rollback,
        },
        json: spec,
        ...(auth ? { headers: { "X-Registry-Auth": encodeAuthHeader(auth) } } : {}),
        signal: options.signal,
        action,
      });
    } catch (error) {
      throw scrubSecrets(error, authSecrets(auth));
    }
    return { ...result, Warnings: result.Warnings ?? [] };
  }

  /**
   * Sends `DELETE /services/{id}`: removes a service; its tasks are shut
   * down in the background.
   *
   * @param id Service id or name.
   * @param options `signal`.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such service exists.
   * @throws {DockerApiError} With 503 when the engine is not a swarm manager.
   *
   * @example Remove a service
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.services.remove("ticker");
   * ```
   */
  async remove(id: string, options: ServiceRemoveOptions = {}): Promise<void> {
    await this.#api.empty({
      method: "DELETE",
      path: `/services/${segment(id, "service id")}`,
      signal: options.signal,
      action: `remove service "${id}"`,
    });
  }

  /**
   * Sends `GET /services/{id}/logs`: the output of all the service's tasks
   * as frames, demultiplexed into stdout and stderr (services with a TTY
   * give raw stdout frames). The stream is returned at once; an error
   * status rejects the first read. With `follow` it runs until cancelled.
   *
   * Works for the `json-file`, `local` and `journald` log drivers only.
   * Frames are views into the read buffers, not copies.
   *
   * @param id Service id or name.
   * @param options `follow`, `stdout`, `stderr`, `since`, `timestamps`,
   *   `tail`, `details`, `tty`, `signal`.
   * @returns The frames.
   * @throws {TypeError} Through the stream, never at the call: `id` is empty.
   *
   * @example Print the last lines of a service
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * for await (const frame of docker.services.logs("ticker", { tail: 20 })) {
   *   (frame.stream === "stderr" ? Deno.stderr : Deno.stdout).writeSync(frame.data);
   * }
   * ```
   */
  logs(id: string, options: ServiceLogsOptions = {}): ReadableStream<Frame> {
    return logsStream(
      this.#api,
      "service",
      id,
      options,
      (signalOnly) =>
        this.inspect(id, signalOnly).then((s) => s.Spec?.TaskTemplate?.ContainerSpec?.TTY === true),
    );
  }

  /** The credentials to send for a spec's image, checked before any I/O. */
  async #auth(
    spec: ServiceSpec,
    auth: ServiceRegistryAuth | undefined,
    signal: AbortSignal | undefined,
  ): Promise<RegistryAuth | undefined> {
    if (auth === undefined || auth === false) return undefined;
    if (auth !== true) {
      encodeAuthHeader(auth); // throws TypeError for anything but credentials
      return auth;
    }
    const image = spec.TaskTemplate?.ContainerSpec?.Image;
    if (!image || !this.#credentials) return undefined;
    return await this.#credentials.forImage(image, signal ? { signal } : {});
  }
}
