/**
 * `docker.networks`: list, inspect, create, remove and prune networks, and
 * connect containers to them or disconnect them.
 *
 * @module
 */

import { DockerProtocolError } from "../errors.ts";
import type {
  Network,
  NetworkConnectBody,
  NetworkCreateBody,
  NetworkCreateResponse,
  NetworkDisconnectBody,
  NetworkPruneResponse,
} from "../types/mod.ts";
import { type ApiClient, filtersQuery, type RequestOptions, segment } from "./_client.ts";
import { rejecting } from "./_failing.ts";

// Re-exported so this module documents on its own (`deno doc --lint`);
// mod.ts exports the same bindings.
export type { RequestOptions } from "./_client.ts";
export type * from "../types/networks.ts";

/** Options of {@linkcode Networks.list}. */
export interface NetworkListOptions extends RequestOptions {
  /**
   * Filters such as `{ label: ["app=web"] }`, `{ driver: ["bridge"] }`,
   * `{ name: ["backend"] }`, `{ type: ["custom"] }` or `{ dangling: ["true"] }`.
   */
  filters?: Record<string, string[]>;
}

/** Options of {@linkcode Networks.inspect}. */
export interface NetworkInspectOptions extends RequestOptions {
  /** Detailed output for swarm networks (services, tasks). @default false */
  verbose?: boolean;
  /** Only look for a network with this scope. */
  scope?: "local" | "global" | "swarm";
}

/** Options of {@linkcode Networks.create}. */
export interface NetworkCreateOptions extends RequestOptions {}

/** Result of {@linkcode Networks.create}. */
export interface NetworkCreateResult extends NetworkCreateResponse {
  /** Id of the new network. */
  Id: string;
  /** What the engine warned about, or `""`. */
  Warning: string;
}

/** Options of {@linkcode Networks.remove}. */
export interface NetworkRemoveOptions extends RequestOptions {}

/** Options of {@linkcode Networks.connect}. */
export interface NetworkConnectOptions extends RequestOptions {}

/** Options of {@linkcode Networks.disconnect}. */
export interface NetworkDisconnectOptions extends RequestOptions {}

/** Options of {@linkcode Networks.prune}. */
export interface NetworkPruneOptions extends RequestOptions {
  /**
   * Filters such as `{ label: ["project=demo"] }` or `{ until: ["24h"] }`.
   * Without filters every unused user-defined network is removed.
   */
  filters?: Record<string, string[]>;
}

/** Result of {@linkcode Networks.prune}. */
export interface NetworkPruneResult extends NetworkPruneResponse {
  /** Names of the removed networks (always an array). */
  NetworksDeleted: string[];
}

/** Network calls. Reach it as `docker.networks`. */
export class Networks {
  readonly #api: ApiClient;

  /**
   * Creates the namespace; use `docker.networks` rather than calling this.
   *
   * @param api The API client of a {@linkcode Docker} instance.
   */
  constructor(api: ApiClient) {
    this.#api = api;
  }

  /**
   * Sends `GET /networks`: lists networks. The `Containers` of each entry
   * are not filled; use {@linkcode Networks.inspect} for them.
   *
   * @param options `filters`, `signal`.
   * @returns One record per network.
   *
   * @example List user-defined bridge networks
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const list = await docker.networks.list({ filters: { driver: ["bridge"], type: ["custom"] } });
   * console.log(list.map((n) => n.Name));
   * ```
   */
  async list(options: NetworkListOptions = {}): Promise<Network[]> {
    const list = await this.#api.json<Network[] | null>({
      method: "GET",
      path: "/networks",
      query: { filters: filtersQuery(options.filters) },
      signal: options.signal,
      action: "list networks",
    });
    return list ?? [];
  }

  /**
   * Sends `GET /networks/{id}`: a network with its connected containers.
   *
   * @param id Network id or name.
   * @param options `verbose`, `scope`, `signal`.
   * @returns The network.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such network exists.
   *
   * @example Print the addresses of a network's containers
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Containers } = await docker.networks.inspect("backend");
   * for (const c of Object.values(Containers ?? {})) console.log(c.Name, c.IPv4Address);
   * ```
   */
  inspect(id: string, options: NetworkInspectOptions = {}): Promise<Network> {
    return rejecting(() =>
      this.#api.json<Network>({
        method: "GET",
        path: `/networks/${segment(id, "network id")}`,
        query: { verbose: options.verbose, scope: options.scope },
        signal: options.signal,
        action: `inspect network "${id}"`,
      })
    );
  }

  /**
   * Sends `POST /networks/create`: creates a network. `CheckDuplicate`
   * defaults to `true` here (as in the docker CLI), so an existing name is
   * a conflict rather than a second network of the same name.
   *
   * @param body `Name`, `Driver`, `Internal`, `Attachable`, `Ingress`,
   *   `IPAM`, `EnableIPv6`, `Options`, `Labels`, `CheckDuplicate`, ...
   * @param options `signal`.
   * @returns `{ Id, Warning }`.
   * @throws {TypeError} When `body` is not an object or `Name` is empty.
   * @throws {DockerConflictError} When a network of that name exists.
   * @throws {DockerNotFoundError} When the driver (plugin) does not exist.
   * @throws {DockerApiError} With 403 when the name is a predefined network
   *   (`bridge`, `host`, `none`), or when the driver refuses the settings.
   *
   * @example Create a labelled bridge network
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Id } = await docker.networks.create({
   *   Name: "backend",
   *   Driver: "bridge",
   *   Labels: { project: "demo" },
   *   IPAM: { Config: [{ Subnet: "172.28.0.0/16" }] },
   * });
   * console.log(Id);
   * ```
   */
  async create(
    body: NetworkCreateBody,
    options: NetworkCreateOptions = {},
  ): Promise<NetworkCreateResult> {
    if (!body || typeof body !== "object") {
      throw new TypeError("A network create body is required");
    }
    segment(body.Name, "network name");
    const result = await this.#api.json<NetworkCreateResponse>({
      method: "POST",
      path: "/networks/create",
      json: { CheckDuplicate: true, ...body },
      signal: options.signal,
      action: `create network "${body.Name}"`,
    });
    if (typeof result.Id !== "string" || result.Id === "") {
      throw new DockerProtocolError(
        "INVALID_JSON",
        `Cannot create network "${body.Name}": the engine's answer has no Id`,
      );
    }
    return { ...result, Id: result.Id, Warning: result.Warning ?? "" };
  }

  /**
   * Sends `DELETE /networks/{id}`: removes a network.
   *
   * @param id Network id or name.
   * @param options `signal`.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such network exists.
   * @throws {DockerApiError} With 403 for predefined networks (`bridge`,
   *   `host`, `none`), 500 or 403 while containers are connected, 400 while
   *   a swarm service uses it.
   *
   * @example Remove a network
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.networks.remove("backend");
   * ```
   */
  async remove(id: string, options: NetworkRemoveOptions = {}): Promise<void> {
    await this.#api.empty({
      method: "DELETE",
      path: `/networks/${segment(id, "network id")}`,
      signal: options.signal,
      action: `remove network "${id}"`,
    });
  }

  /**
   * Sends `POST /networks/{id}/connect`: connects a container (running or
   * not) to a network.
   *
   * @param id Network id or name.
   * @param body `Container` (id or name), and `EndpointConfig` (aliases,
   *   static addresses, ...).
   * @param options `signal`.
   * @throws {TypeError} When `id` or `body.Container` is empty.
   * @throws {DockerNotFoundError} When the network or the container does not
   *   exist (a container that was created but never started is connected
   *   lazily: Docker 20.10 answers 200 for a missing network then, and the
   *   start fails).
   * @throws {DockerApiError} With 403 when the container is already on the
   *   network, or the network does not accept it (swarm scope, ...).
   *
   * @example Connect a container under an alias
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.networks.connect("backend", {
   *   Container: "web",
   *   EndpointConfig: { Aliases: ["api"] },
   * });
   * ```
   */
  async connect(
    id: string,
    body: NetworkConnectBody,
    options: NetworkConnectOptions = {},
  ): Promise<void> {
    const path = `/networks/${segment(id, "network id")}/connect`;
    const container = containerOf(body);
    await this.#api.empty({
      method: "POST",
      path,
      json: body,
      signal: options.signal,
      action: `connect container "${container}" to network "${id}"`,
    });
  }

  /**
   * Sends `POST /networks/{id}/disconnect`: disconnects a container from a
   * network.
   *
   * @param id Network id or name.
   * @param body `Container` (id or name), and `Force` to disconnect even
   *   when the engine cannot clean up the endpoint.
   * @param options `signal`.
   * @throws {TypeError} When `id` or `body.Container` is empty.
   * @throws {DockerNotFoundError} When the network or the container does not exist.
   * @throws {DockerApiError} When the container is not on the network
   *   (the engine answers 500 or 403 depending on its version).
   *
   * @example Disconnect a container
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.networks.disconnect("backend", { Container: "web", Force: true });
   * ```
   */
  async disconnect(
    id: string,
    body: NetworkDisconnectBody,
    options: NetworkDisconnectOptions = {},
  ): Promise<void> {
    const path = `/networks/${segment(id, "network id")}/disconnect`;
    const container = containerOf(body);
    await this.#api.empty({
      method: "POST",
      path,
      json: body,
      signal: options.signal,
      action: `disconnect container "${container}" from network "${id}"`,
    });
  }

  /**
   * Sends `POST /networks/prune`: removes every unused user-defined network
   * that matches the filters. Without filters that is every unused network
   * on the engine, so pass a label filter to stay within your own.
   *
   * @param options `filters`, `signal`.
   * @returns The removed network names (always an array).
   *
   * @example Remove unused networks of one project
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { NetworksDeleted } = await docker.networks.prune({ filters: { label: ["project=demo"] } });
   * console.log(NetworksDeleted);
   * ```
   */
  async prune(options: NetworkPruneOptions = {}): Promise<NetworkPruneResult> {
    const result = await this.#api.json<NetworkPruneResponse>({
      method: "POST",
      path: "/networks/prune",
      query: { filters: filtersQuery(options.filters) },
      signal: options.signal,
      action: "prune networks",
    });
    return { ...result, NetworksDeleted: result.NetworksDeleted ?? [] };
  }
}

/** The container a connect/disconnect body names; rejects a missing one before any I/O. */
function containerOf(body: NetworkConnectBody | NetworkDisconnectBody): string {
  if (!body || typeof body !== "object") {
    throw new TypeError("A body with the Container to (dis)connect is required");
  }
  // Validated like a path segment: an empty or blank id is a caller mistake.
  segment(body.Container ?? "", "container id");
  return body.Container as string;
}
