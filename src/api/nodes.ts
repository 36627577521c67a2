/**
 * `docker.nodes`: list, inspect, update and remove the nodes of the swarm
 * (manager only).
 *
 * @module
 */

import type { Node, NodeSpec } from "../types/mod.ts";
import type { ApiClient, RequestOptions } from "./_client.ts";
import {
  inspectSwarmObject,
  listSwarmObjects,
  removeSwarmObject,
  type SwarmObjectKind,
  updateSwarmObject,
} from "./_swarm.ts";

const NODE: SwarmObjectKind = { noun: "node", route: "/nodes" };

// Re-exported so this module documents on its own (`deno doc --lint`);
// mod.ts exports the same bindings.
export type { RequestOptions } from "./_client.ts";
export type {
  EngineDescription,
  ManagerStatus,
  Node,
  NodeDescription,
  NodeSpec,
  NodeState,
  NodeStatus,
  NodeUpdateBody,
  Reachability,
  TLSInfo,
} from "../types/swarm.ts";
export type { GenericResources, ObjectVersion, Platform, ResourceObject } from "../types/common.ts";

/** Options of {@linkcode Nodes.list}. */
export interface NodeListOptions extends RequestOptions {
  /**
   * Filters such as `{ role: ["manager"] }`, `{ "node.label": ["zone=a"] }`,
   * `{ membership: ["accepted"] }`, `{ name: ["worker-1"] }`, `{ id: [...] }`
   * or `{ label: [...] }` (engine labels).
   */
  filters?: Record<string, string[]>;
}

/** Options of {@linkcode Nodes.inspect}. */
export interface NodeInspectOptions extends RequestOptions {}

/** Options of {@linkcode Nodes.update}. */
export interface NodeUpdateOptions extends RequestOptions {
  /**
   * The node's current `Version.Index`, from {@linkcode Nodes.inspect}.
   * The engine refuses the update when the node changed since.
   */
  version: number;
}

/** Options of {@linkcode Nodes.remove}. */
export interface NodeRemoveOptions extends RequestOptions {
  /** Remove the node even when it is still up (it is then cut off). @default false */
  force?: boolean;
}

/**
 * Swarm node calls. Reach it as `docker.nodes`. Every call needs a swarm
 * manager; elsewhere the engine answers 503 ({@linkcode DockerApiError}).
 */
export class Nodes {
  readonly #api: ApiClient;

  /**
   * Creates the namespace; use `docker.nodes` rather than calling this.
   *
   * @param api The API client of a {@linkcode Docker} instance.
   */
  constructor(api: ApiClient) {
    this.#api = api;
  }

  /**
   * Sends `GET /nodes`: lists the swarm's nodes.
   *
   * @param options `filters`, `signal`.
   * @returns One record per node.
   * @throws {DockerApiError} With 503 when the engine is not a swarm manager.
   *
   * @example List the managers
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const managers = await docker.nodes.list({ filters: { role: ["manager"] } });
   * console.log(managers.map((n) => n.Description?.Hostname));
   * ```
   */
  list(options: NodeListOptions = {}): Promise<Node[]> {
    return listSwarmObjects<Node>(this.#api, NODE, options);
  }

  /**
   * Sends `GET /nodes/{id}`: a node's spec, description, status and version.
   *
   * @param id Node id or hostname.
   * @param options `signal`.
   * @returns The node.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such node exists.
   * @throws {DockerApiError} With 503 when the engine is not a swarm manager.
   *
   * @example Check a node's state
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const node = await docker.nodes.inspect("worker-1");
   * console.log(node.Status?.State, node.Spec?.Availability);
   * ```
   */
  inspect(id: string, options: NodeInspectOptions = {}): Promise<Node> {
    return inspectSwarmObject<Node>(this.#api, NODE, id, options.signal);
  }

  /**
   * Sends `POST /nodes/{id}/update`: replaces a node's spec (name, labels,
   * role, availability). The engine needs the whole spec (a missing `Role`
   * is refused), so start from the `Spec` of {@linkcode Nodes.inspect}.
   *
   * @param id Node id or hostname.
   * @param spec The whole new spec.
   * @param options `version` (required), `signal`.
   * @throws {TypeError} When `id` is empty, `spec` is not an object or
   *   `version` is missing.
   * @throws {RangeError} When `version` is not a non-negative integer.
   * @throws {DockerNotFoundError} When no such node exists.
   * @throws {DockerConflictError} When the node changed since `version`
   *   (the engine's "update out of sequence", sent as 500).
   * @throws {DockerApiError} 400 for an invalid spec (such as demoting the
   *   last manager).
   *
   * @example Drain a node
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const node = await docker.nodes.inspect("worker-1");
   * await docker.nodes.update("worker-1", { ...node.Spec, Availability: "drain" }, {
   *   version: node.Version?.Index ?? 0,
   * });
   * ```
   */
  update(id: string, spec: NodeSpec, options: NodeUpdateOptions): Promise<void> {
    return updateSwarmObject(this.#api, NODE, id, spec, options);
  }

  /**
   * Sends `DELETE /nodes/{id}`: removes a node from the swarm. A node that
   * is still up needs `force`; a manager must be demoted first.
   *
   * @param id Node id or hostname.
   * @param options `force`, `signal`.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such node exists.
   * @throws {DockerApiError} With 400 when the node is a manager or (without
   *   `force`) still up.
   *
   * @example Remove a node that left
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.nodes.remove("worker-1");
   * ```
   */
  remove(id: string, options: NodeRemoveOptions = {}): Promise<void> {
    const query = { force: options.force };
    return removeSwarmObject(this.#api, NODE, id, { signal: options.signal, query });
  }
}
