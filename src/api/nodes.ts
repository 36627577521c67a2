/**
 * `docker.nodes`: list, inspect, update and remove the nodes of the swarm
 * (manager only).
 *
 * @module
 */

import type { Node, NodeSpec } from "../types/mod.ts";
import { type ApiClient, filtersQuery, type RequestOptions, segment } from "./_client.ts";
import { versionQuery } from "./_swarm.ts";

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
  async list(options: NodeListOptions = {}): Promise<Node[]> {
    const list = await this.#api.json<Node[] | null>({
      method: "GET",
      path: "/nodes",
      query: { filters: filtersQuery(options.filters) },
      signal: options.signal,
      action: "list nodes",
    });
    return list ?? [];
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
    return this.#api.json<Node>({
      method: "GET",
      path: `/nodes/${segment(id, "node id")}`,
      signal: options.signal,
      action: `inspect node "${id}"`,
    });
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
   * @throws {DockerApiError} 400 for an invalid spec (such as demoting the
   *   last manager); 500 ("update out of sequence") when the node changed
   *   since `version`.
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
  async update(id: string, spec: NodeSpec, options: NodeUpdateOptions): Promise<void> {
    const path = `/nodes/${segment(id, "node id")}/update`;
    const action = `update node "${id}"`;
    if (!spec || typeof spec !== "object") {
      throw new TypeError(`Cannot ${action}: a spec object is required`);
    }
    const version = versionQuery(options?.version, action);
    await this.#api.empty({
      method: "POST",
      path,
      query: { version },
      json: spec,
      signal: options.signal,
      action,
    });
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
  async remove(id: string, options: NodeRemoveOptions = {}): Promise<void> {
    await this.#api.empty({
      method: "DELETE",
      path: `/nodes/${segment(id, "node id")}`,
      query: { force: options.force },
      signal: options.signal,
      action: `remove node "${id}"`,
    });
  }
}
