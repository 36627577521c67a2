/**
 * `docker.volumes`: list, create, inspect, remove and prune volumes.
 *
 * @module
 */

import type {
  Volume,
  VolumeCreateBody,
  VolumeListResponse,
  VolumePruneResponse,
} from "../types/mod.ts";
import { type ApiClient, filtersQuery, type RequestOptions, segment } from "./_client.ts";
import { rejecting } from "./_failing.ts";

// Re-exported so this module documents on its own (`deno doc --lint`);
// mod.ts exports the same bindings.
export type { RequestOptions } from "./_client.ts";
export type * from "../types/volumes.ts";

/** Options of {@linkcode Volumes.list}. */
export interface VolumeListOptions extends RequestOptions {
  /**
   * Filters such as `{ label: ["app=web"] }`, `{ dangling: ["true"] }`,
   * `{ driver: ["local"] }` or `{ name: ["cache"] }`.
   */
  filters?: Record<string, string[]>;
}

/** Result of {@linkcode Volumes.list}: the engine's answer with `null` lists made empty. */
export interface VolumeListResult extends VolumeListResponse {
  /** The volumes (always an array). */
  Volumes: Volume[];
  /** Warnings from volume drivers (always an array). */
  Warnings: string[];
}

/**
 * Options of {@linkcode Volumes.create}. Not `VolumeCreateOptions`: the
 * Engine models already use that name for the create body.
 */
export interface VolumeCreateRequestOptions extends RequestOptions {}

/** Options of {@linkcode Volumes.inspect}. */
export interface VolumeInspectOptions extends RequestOptions {}

/** Options of {@linkcode Volumes.remove}. */
export interface VolumeRemoveOptions extends RequestOptions {
  /**
   * Remove the volume even when the driver fails to (it is dropped from
   * the engine's records). A volume in use by a container is never removed.
   * @default false
   */
  force?: boolean;
}

/** Options of {@linkcode Volumes.prune}. */
export interface VolumePruneOptions extends RequestOptions {
  /**
   * Filters such as `{ label: ["project=demo"] }` or `{ "label!": ["keep"] }`.
   * Without filters every unused local volume is removed.
   */
  filters?: Record<string, string[]>;
}

/** Result of {@linkcode Volumes.prune}. */
export interface VolumePruneResult extends VolumePruneResponse {
  /** Names of the removed volumes (always an array). */
  VolumesDeleted: string[];
  /** Bytes reclaimed. */
  SpaceReclaimed: number;
}

/** Volume calls. Reach it as `docker.volumes`. */
export class Volumes {
  readonly #api: ApiClient;

  /**
   * Creates the namespace; use `docker.volumes` rather than calling this.
   *
   * @param api The API client of a {@linkcode Docker} instance.
   */
  constructor(api: ApiClient) {
    this.#api = api;
  }

  /**
   * Sends `GET /volumes`: lists volumes.
   *
   * @param options `filters`, `signal`.
   * @returns `{ Volumes, Warnings }`, both always arrays.
   *
   * @example List the volumes of one project
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Volumes } = await docker.volumes.list({ filters: { label: ["project=demo"] } });
   * console.log(Volumes.map((v) => v.Name));
   * ```
   */
  async list(options: VolumeListOptions = {}): Promise<VolumeListResult> {
    const result = await this.#api.json<VolumeListResponse>({
      method: "GET",
      path: "/volumes",
      query: { filters: filtersQuery(options.filters) },
      signal: options.signal,
      action: "list volumes",
    });
    return { ...result, Volumes: result.Volumes ?? [], Warnings: result.Warnings ?? [] };
  }

  /**
   * Sends `POST /volumes/create`: creates a volume. Creating a volume whose
   * name exists with the same driver returns the existing one.
   *
   * @param body `Name` (generated when left out), `Driver`, `DriverOpts`, `Labels`.
   * @param options `signal`.
   * @returns The volume.
   * @throws {TypeError} When `body` is not an object or `Name` is given but empty.
   * @throws {DockerNotFoundError} When the driver does not exist.
   * @throws {DockerApiError} When the name exists with another driver, or the driver fails.
   *
   * @example Create a labelled volume
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const volume = await docker.volumes.create({ Name: "cache", Labels: { project: "demo" } });
   * console.log(volume.Mountpoint);
   * ```
   */
  create(body: VolumeCreateBody = {}, options: VolumeCreateRequestOptions = {}): Promise<Volume> {
    return rejecting(() => {
      if (!body || typeof body !== "object") {
        throw new TypeError("A volume create body must be an object");
      }
      if (body.Name !== undefined) segment(body.Name, "volume name");
      return this.#api.json<Volume>({
        method: "POST",
        path: "/volumes/create",
        json: body,
        signal: options.signal,
        action: body.Name ? `create volume "${body.Name}"` : "create a volume",
      });
    });
  }

  /**
   * Sends `GET /volumes/{name}`: everything the engine knows about a volume.
   *
   * @param name Volume name.
   * @param options `signal`.
   * @returns The volume.
   * @throws {TypeError} When `name` is empty.
   * @throws {DockerNotFoundError} When no such volume exists.
   *
   * @example Find where a volume lives
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Mountpoint, Labels } = await docker.volumes.inspect("cache");
   * console.log(Mountpoint, Labels);
   * ```
   */
  inspect(name: string, options: VolumeInspectOptions = {}): Promise<Volume> {
    return rejecting(() =>
      this.#api.json<Volume>({
        method: "GET",
        path: `/volumes/${segment(name, "volume name")}`,
        signal: options.signal,
        action: `inspect volume "${name}"`,
      })
    );
  }

  /**
   * Sends `DELETE /volumes/{name}`: removes a volume.
   *
   * @param name Volume name.
   * @param options `force`, `signal`.
   * @throws {TypeError} When `name` is empty.
   * @throws {DockerNotFoundError} When no such volume exists.
   * @throws {DockerConflictError} When a container (running or not) uses it.
   *
   * @example Remove a volume
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.volumes.remove("cache");
   * ```
   */
  async remove(name: string, options: VolumeRemoveOptions = {}): Promise<void> {
    await this.#api.empty({
      method: "DELETE",
      path: `/volumes/${segment(name, "volume name")}`,
      query: { force: options.force },
      signal: options.signal,
      action: `remove volume "${name}"`,
    });
  }

  /**
   * Sends `POST /volumes/prune`: removes every unused local volume that
   * matches the filters. Without filters that is every unused volume on the
   * engine, so pass a label filter to stay within your own. An engine that
   * berth speaks to at API 1.42 or later (Docker 29, whose minimum is 1.44)
   * removes only anonymous volumes unless the filters say `all: ["true"]`;
   * an engine at API 1.41 (Docker 20.10) knows no `all` filter and refuses
   * it with 400 ("Invalid filter 'all'"), so send it only when
   * `docker.apiVersion()` is 1.42 or later.
   *
   * @param options `filters`, `signal`.
   * @returns The removed names (always an array) and the bytes reclaimed.
   *
   * @example Remove unused volumes of one project
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { VolumesDeleted, SpaceReclaimed } = await docker.volumes.prune({
   *   filters: { label: ["project=demo"] },
   * });
   * console.log(VolumesDeleted, SpaceReclaimed);
   * ```
   */
  async prune(options: VolumePruneOptions = {}): Promise<VolumePruneResult> {
    const result = await this.#api.json<VolumePruneResponse>({
      method: "POST",
      path: "/volumes/prune",
      query: { filters: filtersQuery(options.filters) },
      signal: options.signal,
      action: "prune volumes",
    });
    return {
      ...result,
      VolumesDeleted: result.VolumesDeleted ?? [],
      SpaceReclaimed: result.SpaceReclaimed ?? 0,
    };
  }
}
