/**
 * Helpers the swarm namespaces share (nodes, services, secrets, configs,
 * swarm): the `version` query of versioned updates, base64 data, and the
 * list, create, inspect, update and remove calls that nodes, secrets and
 * configs make alike.
 *
 * @module
 */

import { DockerProtocolError } from "../errors.ts";
import { type ApiClient, filtersQuery, type Query, segment } from "./_client.ts";
import { rejecting } from "./_failing.ts";

/**
 * Checks the `version` of a versioned update (the object's `Version.Index`,
 * which the engine uses to refuse concurrent updates).
 *
 * @param version The caller's `options.version`.
 * @param action What is being done, for the message.
 * @returns The version, for the query.
 * @throws {TypeError} When it is missing.
 * @throws {RangeError} When it is not a non-negative integer.
 */
export function versionQuery(version: unknown, action: string): number {
  if (version === undefined) {
    throw new TypeError(
      `Cannot ${action}: options.version (the object's Version.Index) is required`,
    );
  }
  if (typeof version !== "number") {
    throw new TypeError(
      `Cannot ${action}: options.version must be a number, the object's Version.Index (got ${
        JSON.stringify(version)
      })`,
    );
  }
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new RangeError(
      `Cannot ${action}: version must be a non-negative integer (got ${version})`,
    );
  }
  return version;
}

/**
 * Encodes secret or config data as the engine wants it: base64 of the bytes
 * (text is encoded as UTF-8 first).
 *
 * @param data The content.
 * @param action What is being done, for the message.
 * @returns Base64 text.
 * @throws {TypeError} When it is neither text nor bytes.
 */
export function base64Data(data: unknown, action: string): string {
  let bytes: Uint8Array;
  if (typeof data === "string") bytes = new TextEncoder().encode(data);
  else if (data instanceof Uint8Array) bytes = data;
  else throw new TypeError(`Cannot ${action}: Data must be a string or a Uint8Array`);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/**
 * A kind of swarm object whose calls differ only in route and name: nodes,
 * secrets and configs (`GET /nodes`, `GET /secrets/{id}`, ...).
 */
export interface SwarmObjectKind {
  /** The singular noun, for messages: `node`, `secret`, `config`. */
  noun: string;
  /** The route prefix: `/nodes`, `/secrets`, `/configs`. */
  route: string;
}

/**
 * `GET {route}` with filters; the engine's `null` for none becomes `[]`.
 *
 * @param api The API client.
 * @param kind Which objects.
 * @param options Filters and signal.
 * @returns The objects.
 */
export async function listSwarmObjects<T>(
  api: ApiClient,
  kind: SwarmObjectKind,
  options: { filters?: Record<string, string[]>; signal?: AbortSignal },
): Promise<T[]> {
  const list = await api.json<T[] | null>({
    method: "GET",
    path: kind.route,
    query: { filters: filtersQuery(options.filters) },
    signal: options.signal,
    action: `list ${kind.noun}s`,
  });
  return list ?? [];
}

/**
 * `POST {route}/create` for a spec with base64 `Data` (secrets, configs).
 *
 * @param api The API client.
 * @param kind Which object.
 * @param spec The spec; `Data` as text or bytes.
 * @param signal Cancels the call.
 * @returns The new object's ID.
 * @throws {TypeError} Without a spec object or name, or with bad `Data`.
 * @throws {DockerProtocolError} When the answer has no ID.
 */
export async function createDataObject(
  api: ApiClient,
  kind: SwarmObjectKind,
  spec: { Name: string; Data?: unknown },
  signal: AbortSignal | undefined,
): Promise<{ ID: string }> {
  if (!spec || typeof spec !== "object") {
    throw new TypeError(`A ${kind.noun} spec object is required`);
  }
  segment(spec.Name, `${kind.noun} name`);
  const action = `create ${kind.noun} "${spec.Name}"`;
  const { Data, ...rest } = spec;
  const body = Data === undefined ? rest : { ...rest, Data: base64Data(Data, action) };
  const result = await api.json<{ ID?: string; Id?: string }>({
    method: "POST",
    path: `${kind.route}/create`,
    json: body,
    signal,
    action,
  });
  // The spec documents `Id`; engines send `ID`.
  const id = result.ID ?? result.Id;
  if (typeof id !== "string" || id === "") {
    throw new DockerProtocolError(
      "INVALID_JSON",
      `Cannot ${action}: the engine's answer has no ID`,
    );
  }
  return { ID: id };
}

/**
 * `GET {route}/{id}`.
 *
 * @param api The API client.
 * @param kind Which object.
 * @param id Its ID or name.
 * @param signal Cancels the call.
 * @returns The object.
 * @throws {TypeError} When `id` is empty.
 */
export function inspectSwarmObject<T>(
  api: ApiClient,
  kind: SwarmObjectKind,
  id: string,
  signal: AbortSignal | undefined,
): Promise<T> {
  return rejecting(() =>
    api.json<T>({
      method: "GET",
      path: `${kind.route}/${segment(id, `${kind.noun} id`)}`,
      signal,
      action: `inspect ${kind.noun} "${id}"`,
    })
  );
}

/**
 * `POST {route}/{id}/update?version=N` with the whole new spec.
 *
 * @param api The API client.
 * @param kind Which object.
 * @param id Its ID or name.
 * @param spec The new spec.
 * @param options `version` (required) and signal.
 * @throws {TypeError} When `id`, the spec or the version is missing.
 * @throws {RangeError} When the version is not a non-negative integer.
 */
export async function updateSwarmObject(
  api: ApiClient,
  kind: SwarmObjectKind,
  id: string,
  spec: object,
  options: { version?: unknown; signal?: AbortSignal | undefined } | undefined,
): Promise<void> {
  const path = `${kind.route}/${segment(id, `${kind.noun} id`)}/update`;
  const action = `update ${kind.noun} "${id}"`;
  if (!spec || typeof spec !== "object") {
    throw new TypeError(`Cannot ${action}: a spec object is required`);
  }
  const version = versionQuery(options?.version, action);
  await api.empty({
    method: "POST",
    path,
    query: { version },
    json: spec,
    signal: options?.signal,
    action,
  });
}

/**
 * `DELETE {route}/{id}`.
 *
 * @param api The API client.
 * @param kind Which object.
 * @param id Its ID or name.
 * @param options Signal, and query parameters (a node's `force`).
 * @throws {TypeError} When `id` is empty.
 */
export async function removeSwarmObject(
  api: ApiClient,
  kind: SwarmObjectKind,
  id: string,
  options: { signal?: AbortSignal | undefined; query?: Query },
): Promise<void> {
  await api.empty({
    method: "DELETE",
    path: `${kind.route}/${segment(id, `${kind.noun} id`)}`,
    query: options.query ?? {},
    signal: options.signal,
    action: `remove ${kind.noun} "${id}"`,
  });
}
