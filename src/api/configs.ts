/**
 * `docker.configs`: list, create, inspect, update and remove swarm configs
 * (manager only): non-config files for services, such as configuration files.
 *
 * @module
 */

import type { Config, ConfigSpec } from "../types/mod.ts";
import type { ApiClient, RequestOptions } from "./_client.ts";
import {
  createDataObject,
  inspectSwarmObject,
  listSwarmObjects,
  removeSwarmObject,
  type SwarmObjectKind,
  updateSwarmObject,
} from "./_swarm.ts";

const CONFIG: SwarmObjectKind = { noun: "config", route: "/configs" };

// Re-exported so this module documents on its own (`deno doc --lint`);
// mod.ts exports the same bindings.
export type { RequestOptions } from "./_client.ts";
export type { Config, ConfigCreateBody, ConfigSpec, ConfigUpdateBody } from "../types/swarm.ts";
export type { Driver, ObjectVersion } from "../types/common.ts";

/** Options of {@linkcode Configs.list}. */
export interface ConfigListOptions extends RequestOptions {
  /**
   * Filters such as `{ label: ["app=web"] }`, `{ name: ["nginx.conf"] }`,
   * `{ names: [...] }` (exact names) or `{ id: [...] }`.
   */
  filters?: Record<string, string[]>;
}

/**
 * What {@linkcode Configs.create} takes: a {@linkcode ConfigSpec} whose
 * `Data` is the content itself, not base64 (berth encodes it).
 */
export interface ConfigCreateSpec extends Omit<ConfigSpec, "Data"> {
  /** Name of the config, unique in the swarm. */
  Name: string;
  /** The config's content: text (sent as UTF-8) or bytes, at most 500 KiB. */
  Data: string | Uint8Array;
}

/** Options of {@linkcode Configs.create}. */
export interface ConfigCreateOptions extends RequestOptions {}

/** Result of {@linkcode Configs.create}. */
export interface ConfigCreateResult {
  /** Id of the new config. */
  ID: string;
}

/** Options of {@linkcode Configs.inspect}. */
export interface ConfigInspectOptions extends RequestOptions {}

/** Options of {@linkcode Configs.update}. */
export interface ConfigUpdateOptions extends RequestOptions {
  /**
   * The config's current `Version.Index`, from {@linkcode Configs.inspect}.
   * The engine refuses the update when the config changed since.
   */
  version: number;
}

/** Options of {@linkcode Configs.remove}. */
export interface ConfigRemoveOptions extends RequestOptions {}

/**
 * Swarm config calls. Reach it as `docker.configs`. Every call needs a
 * swarm manager; elsewhere the engine answers 503 ({@linkcode DockerApiError}).
 */
export class Configs {
  readonly #api: ApiClient;

  /**
   * Creates the namespace; use `docker.configs` rather than calling this.
   *
   * @param api The API client of a {@linkcode Docker} instance.
   */
  constructor(api: ApiClient) {
    this.#api = api;
  }

  /**
   * Sends `GET /configs`: lists configs, with their data (base64).
   *
   * @param options `filters`, `signal`.
   * @returns One record per config.
   * @throws {DockerApiError} With 503 when the engine is not a swarm manager.
   *
   * @example List the configs of one app
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const configs = await docker.configs.list({ filters: { label: ["app=web"] } });
   * console.log(configs.map((s) => s.Spec?.Name));
   * ```
   */
  list(options: ConfigListOptions = {}): Promise<Config[]> {
    return listSwarmObjects<Config>(this.#api, CONFIG, options);
  }

  /**
   * Sends `POST /configs/create`: stores a config in the swarm. `Data` is
   * the content itself; berth base64-encodes it for the wire. What
   * {@linkcode Configs.inspect} and {@linkcode Configs.list} return (and
   * {@linkcode Configs.update} takes) is the engine's spec, with `Data` in
   * base64: to copy a config, decode it first
   * (`Uint8Array.from(atob(Spec.Data), (c) => c.charCodeAt(0))`), or the
   * copy holds the base64 text.
   *
   * @param spec `Name`, `Data`, `Labels`, `Templating`.
   * @param options `signal`.
   * @returns `{ ID }`.
   * @throws {TypeError} When `spec` is not an object, `Name` is empty, or
   *   `Data` is neither a string nor a `Uint8Array`.
   * @throws {DockerConflictError} When a config of that name exists.
   * @throws {DockerApiError} With 400 when the data is empty or too large,
   *   503 when the engine is not a swarm manager.
   *
   * @example Store a configuration file
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { ID } = await docker.configs.create({
   *   Name: "nginx.conf",
   *   Data: await Deno.readFile("nginx.conf"),
   *   Labels: { app: "web" },
   * });
   * console.log(ID);
   * ```
   */
  create(spec: ConfigCreateSpec, options: ConfigCreateOptions = {}): Promise<ConfigCreateResult> {
    return createDataObject(this.#api, CONFIG, spec, options.signal);
  }

  /**
   * Sends `GET /configs/{id}`: a config's spec and version. `Spec.Data`
   * is the content in base64.
   *
   * @param id Config id or name.
   * @param options `signal`.
   * @returns The config.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such config exists.
   * @throws {DockerApiError} With 503 when the engine is not a swarm manager.
   *
   * @example Read a config's labels
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Spec } = await docker.configs.inspect("nginx.conf");
   * console.log(Spec?.Labels);
   * ```
   */
  inspect(id: string, options: ConfigInspectOptions = {}): Promise<Config> {
    return inspectSwarmObject<Config>(this.#api, CONFIG, id, options.signal);
  }

  /**
   * Sends `POST /configs/{id}/update`: changes a config's labels. Only
   * `Labels` may change; send the rest of the `Spec` from
   * {@linkcode Configs.inspect} unchanged (`Data` as the engine gave it,
   * in base64, or left out).
   *
   * @param id Config id or name.
   * @param spec The spec with its new labels.
   * @param options `version` (required), `signal`.
   * @throws {TypeError} When `id` is empty, `spec` is not an object or
   *   `version` is missing.
   * @throws {RangeError} When `version` is not a non-negative integer.
   * @throws {DockerNotFoundError} When no such config exists.
   * @throws {DockerConflictError} When the config changed since `version`
   *   (the engine's "update out of sequence", sent as 400 or 500).
   * @throws {DockerApiError} With 400 when anything but the labels changes.
   *
   * @example Add a label
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Spec, Version } = await docker.configs.inspect("nginx.conf");
   * await docker.configs.update("nginx.conf", {
   *   ...Spec,
   *   Labels: { ...Spec?.Labels, reviewed: "yes" },
   * }, { version: Version?.Index ?? 0 });
   * ```
   */
  update(id: string, spec: ConfigSpec, options: ConfigUpdateOptions): Promise<void> {
    return updateSwarmObject(this.#api, CONFIG, id, spec, options);
  }

  /**
   * Sends `DELETE /configs/{id}`: removes a config.
   *
   * @param id Config id or name.
   * @param options `signal`.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such config exists.
   * @throws {DockerApiError} With 400 when a service still uses it.
   *
   * @example Remove a config
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.configs.remove("nginx.conf");
   * ```
   */
  remove(id: string, options: ConfigRemoveOptions = {}): Promise<void> {
    return removeSwarmObject(this.#api, CONFIG, id, options);
  }
}
