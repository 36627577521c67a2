/**
 * `docker.secrets`: list, create, inspect, update and remove swarm secrets
 * (manager only). The engine never gives a secret's data back.
 *
 * @module
 */

import type { Secret, SecretSpec } from "../types/mod.ts";
import type { ApiClient, RequestOptions } from "./_client.ts";
import {
  createDataObject,
  inspectSwarmObject,
  listSwarmObjects,
  removeSwarmObject,
  type SwarmObjectKind,
  updateSwarmObject,
} from "./_swarm.ts";

const SECRET: SwarmObjectKind = { noun: "secret", route: "/secrets" };

// Re-exported so this module documents on its own (`deno doc --lint`);
// mod.ts exports the same bindings.
export type { RequestOptions } from "./_client.ts";
export type { Secret, SecretCreateBody, SecretSpec, SecretUpdateBody } from "../types/swarm.ts";
export type { Driver, ObjectVersion } from "../types/common.ts";

/** Options of {@linkcode Secrets.list}. */
export interface SecretListOptions extends RequestOptions {
  /**
   * Filters such as `{ label: ["app=web"] }`, `{ name: ["db-password"] }`,
   * `{ names: [...] }` (exact names) or `{ id: [...] }`.
   */
  filters?: Record<string, string[]>;
}

/**
 * What {@linkcode Secrets.create} takes: a {@linkcode SecretSpec} whose
 * `Data` is the secret itself, not base64 (berth encodes it).
 */
export interface SecretCreateSpec extends Omit<SecretSpec, "Data"> {
  /** Name of the secret, unique in the swarm. */
  Name: string;
  /**
   * The secret's content: text (sent as UTF-8) or bytes, at most 500 KiB.
   * Leave it out when `Driver` loads the secret from an external store.
   */
  Data?: string | Uint8Array;
}

/** Options of {@linkcode Secrets.create}. */
export interface SecretCreateOptions extends RequestOptions {}

/** Result of {@linkcode Secrets.create}. */
export interface SecretCreateResult {
  /** Id of the new secret. */
  ID: string;
}

/** Options of {@linkcode Secrets.inspect}. */
export interface SecretInspectOptions extends RequestOptions {}

/** Options of {@linkcode Secrets.update}. */
export interface SecretUpdateOptions extends RequestOptions {
  /**
   * The secret's current `Version.Index`, from {@linkcode Secrets.inspect}.
   * The engine refuses the update when the secret changed since.
   */
  version: number;
}

/** Options of {@linkcode Secrets.remove}. */
export interface SecretRemoveOptions extends RequestOptions {}

/**
 * Swarm secret calls. Reach it as `docker.secrets`. Every call needs a
 * swarm manager; elsewhere the engine answers 503 ({@linkcode DockerApiError}).
 */
export class Secrets {
  readonly #api: ApiClient;

  /**
   * Creates the namespace; use `docker.secrets` rather than calling this.
   *
   * @param api The API client of a {@linkcode Docker} instance.
   */
  constructor(api: ApiClient) {
    this.#api = api;
  }

  /**
   * Sends `GET /secrets`: lists secrets (without their data).
   *
   * @param options `filters`, `signal`.
   * @returns One record per secret.
   * @throws {DockerApiError} With 503 when the engine is not a swarm manager.
   *
   * @example List the secrets of one app
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const secrets = await docker.secrets.list({ filters: { label: ["app=web"] } });
   * console.log(secrets.map((s) => s.Spec?.Name));
   * ```
   */
  list(options: SecretListOptions = {}): Promise<Secret[]> {
    return listSwarmObjects<Secret>(this.#api, SECRET, options);
  }

  /**
   * Sends `POST /secrets/create`: stores a secret in the swarm. `Data` is
   * the content itself; berth base64-encodes it for the wire.
   *
   * @param spec `Name`, `Data`, `Labels`, `Driver`, `Templating`.
   * @param options `signal`.
   * @returns `{ ID }`.
   * @throws {TypeError} When `spec` is not an object, `Name` is empty, or
   *   `Data` is neither a string nor a `Uint8Array`.
   * @throws {DockerConflictError} When a secret of that name exists.
   * @throws {DockerApiError} With 400 when the data is empty or too large,
   *   503 when the engine is not a swarm manager.
   *
   * @example Store a password
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { ID } = await docker.secrets.create({
   *   Name: "db-password",
   *   Data: Deno.env.get("DB_PASSWORD")!,
   *   Labels: { app: "web" },
   * });
   * console.log(ID);
   * ```
   */
  create(spec: SecretCreateSpec, options: SecretCreateOptions = {}): Promise<SecretCreateResult> {
    return createDataObject(this.#api, SECRET, spec, options.signal);
  }

  /**
   * Sends `GET /secrets/{id}`: a secret's spec (without its data) and version.
   *
   * @param id Secret id or name.
   * @param options `signal`.
   * @returns The secret.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such secret exists.
   * @throws {DockerApiError} With 503 when the engine is not a swarm manager.
   *
   * @example Read a secret's labels
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Spec } = await docker.secrets.inspect("db-password");
   * console.log(Spec?.Labels);
   * ```
   */
  inspect(id: string, options: SecretInspectOptions = {}): Promise<Secret> {
    return inspectSwarmObject<Secret>(this.#api, SECRET, id, options.signal);
  }

  /**
   * Sends `POST /secrets/{id}/update`: changes a secret's labels. Only
   * `Labels` may change; send the rest of the `Spec` from
   * {@linkcode Secrets.inspect} unchanged (and no `Data`).
   *
   * @param id Secret id or name.
   * @param spec The spec with its new labels.
   * @param options `version` (required), `signal`.
   * @throws {TypeError} When `id` is empty, `spec` is not an object or
   *   `version` is missing.
   * @throws {RangeError} When `version` is not a non-negative integer.
   * @throws {DockerNotFoundError} When no such secret exists.
   * @throws {DockerConflictError} When the secret changed since `version`
   *   (the engine's "update out of sequence", sent as 400 or 500).
   * @throws {DockerApiError} With 400 when anything but the labels changes.
   *
   * @example Add a label
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Spec, Version } = await docker.secrets.inspect("db-password");
   * await docker.secrets.update("db-password", {
   *   ...Spec,
   *   Labels: { ...Spec?.Labels, rotated: "2024-05" },
   * }, { version: Version?.Index ?? 0 });
   * ```
   */
  update(id: string, spec: SecretSpec, options: SecretUpdateOptions): Promise<void> {
    return updateSwarmObject(this.#api, SECRET, id, spec, options);
  }

  /**
   * Sends `DELETE /secrets/{id}`: removes a secret.
   *
   * @param id Secret id or name.
   * @param options `signal`.
   * @throws {TypeError} When `id` is empty.
   * @throws {DockerNotFoundError} When no such secret exists.
   * @throws {DockerApiError} With 400 when a service still uses it.
   *
   * @example Remove a secret
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.secrets.remove("db-password");
   * ```
   */
  remove(id: string, options: SecretRemoveOptions = {}): Promise<void> {
    return removeSwarmObject(this.#api, SECRET, id, options);
  }
}
