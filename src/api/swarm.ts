/**
 * `docker.swarm`: the engine's swarm membership and the swarm itself
 * (inspect, init, join, leave, update, unlock key, unlock).
 *
 * The swarm's objects have namespaces of their own: `docker.nodes`,
 * `docker.services`, `docker.tasks`, `docker.secrets` and `docker.configs`.
 *
 * @module
 */

import { DockerProtocolError } from "../errors.ts";
import type {
  ClusterInfo,
  JoinTokens,
  SwarmInitBody,
  SwarmJoinBody,
  SwarmSpec,
  SwarmUnlockkeyResponse,
} from "../types/mod.ts";
import type { ApiClient, RequestOptions } from "./_client.ts";
import { versionQuery } from "./_swarm.ts";

// Re-exported so this module documents on its own (`deno doc --lint`);
// mod.ts exports the same bindings. The generated model named `Swarm` is
// shadowed here by the namespace class; `SwarmInspectResult` is its twin.
export type { RequestOptions } from "./_client.ts";
export type * from "../types/swarm.ts";
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

/** Options of {@linkcode Swarm.inspect}. */
export interface SwarmInspectOptions extends RequestOptions {}

/**
 * Result of {@linkcode Swarm.inspect}: the swarm with its join tokens (the
 * Engine model `Swarm`, named so here because the namespace class takes that name).
 */
export interface SwarmInspectResult extends ClusterInfo {
  /** The tokens workers and managers need to join; only managers see them. */
  JoinTokens?: JoinTokens;
}

/** Options of {@linkcode Swarm.init}. */
export interface SwarmInitOptions extends RequestOptions {}

/** Result of {@linkcode Swarm.init}. */
export interface SwarmInitResult {
  /** Id of this engine's node in the new swarm. */
  NodeID: string;
}

/** Options of {@linkcode Swarm.join}. */
export interface SwarmJoinOptions extends RequestOptions {}

/** Options of {@linkcode Swarm.leave}. */
export interface SwarmLeaveOptions extends RequestOptions {
  /**
   * Leave even when this is the last manager or the swarm would lose its
   * quorum (the swarm's state on this node is then lost).
   * @default false
   */
  force?: boolean;
}

/** Options of {@linkcode Swarm.update}. */
export interface SwarmUpdateOptions extends RequestOptions {
  /**
   * The swarm's current `Version.Index`, from {@linkcode Swarm.inspect}.
   * The engine refuses the update when the swarm changed since.
   */
  version: number;
  /** Issue a new worker join token; the old one stops working. @default false */
  rotateWorkerToken?: boolean;
  /** Issue a new manager join token; the old one stops working. @default false */
  rotateManagerToken?: boolean;
  /** Issue a new unlock key (with autolock on). @default false */
  rotateManagerUnlockKey?: boolean;
}

/** Options of {@linkcode Swarm.unlockKey}. */
export interface SwarmUnlockKeyOptions extends RequestOptions {}

/** Result of {@linkcode Swarm.unlockKey}. */
export interface SwarmUnlockKeyResult extends SwarmUnlockkeyResponse {
  /** The unlock key (`SWMKEY-1-...`), or `""` when autolock is off. */
  UnlockKey: string;
}

/** Options of {@linkcode Swarm.unlock}. */
export interface SwarmUnlockOptions extends RequestOptions {}

/** Listen address the docker CLI uses when none is given. */
const DEFAULT_LISTEN_ADDR = "0.0.0.0:2377";

/**
 * Swarm calls. Reach it as `docker.swarm`.
 *
 * The engine answers 503 to most calls when it is not in a swarm (or not a
 * manager); that is a {@linkcode DockerApiError} with `status` 503.
 */
export class Swarm {
  readonly #api: ApiClient;

  /**
   * Creates the namespace; use `docker.swarm` rather than calling this.
   *
   * @param api The API client of a {@linkcode Docker} instance.
   */
  constructor(api: ApiClient) {
    this.#api = api;
  }

  /**
   * Sends `GET /swarm`: the swarm this engine manages, with its spec,
   * version and join tokens.
   *
   * @param options `signal`.
   * @returns The swarm.
   * @throws {DockerApiError} With 503 when the engine is not a swarm manager.
   *
   * @example Print the worker join token
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { JoinTokens } = await docker.swarm.inspect();
   * console.log(JoinTokens?.Worker);
   * ```
   */
  inspect(options: SwarmInspectOptions = {}): Promise<SwarmInspectResult> {
    return this.#api.json<SwarmInspectResult>({
      method: "GET",
      path: "/swarm",
      signal: options.signal,
      action: "inspect the swarm",
    });
  }

  /**
   * Sends `POST /swarm/init`: makes this engine the first manager of a new
   * swarm. `ListenAddr` defaults to `0.0.0.0:2377`, as in the docker CLI
   * (the engine itself refuses an empty one).
   *
   * @param body `ListenAddr`, `AdvertiseAddr`, `DataPathAddr`,
   *   `DataPathPort`, `DefaultAddrPool`, `SubnetSize`, `ForceNewCluster`, `Spec`.
   * @param options `signal`.
   * @returns `{ NodeID }`, this engine's node.
   * @throws {TypeError} When `body` is not an object.
   * @throws {DockerApiError} With 503 when the engine is already in a swarm,
   *   400 when an address is invalid.
   *
   * @example Start a single-node swarm on the loopback interface
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { NodeID } = await docker.swarm.init({
   *   ListenAddr: "127.0.0.1:2377",
   *   AdvertiseAddr: "127.0.0.1",
   * });
   * console.log(NodeID);
   * ```
   */
  async init(body: SwarmInitBody = {}, options: SwarmInitOptions = {}): Promise<SwarmInitResult> {
    if (!body || typeof body !== "object") {
      throw new TypeError("A swarm init body must be an object");
    }
    const action = "initialise a swarm";
    const nodeId = await this.#api.json<unknown>({
      method: "POST",
      path: "/swarm/init",
      json: { ...body, ListenAddr: body.ListenAddr || DEFAULT_LISTEN_ADDR },
      signal: options.signal,
      action,
    });
    if (typeof nodeId !== "string" || nodeId === "") {
      throw new DockerProtocolError(
        "INVALID_JSON",
        `Cannot ${action}: the engine's answer is not a node id`,
      );
    }
    return { NodeID: nodeId };
  }

  /**
   * Sends `POST /swarm/join`: joins an existing swarm as a worker or a
   * manager, depending on the token. `ListenAddr` defaults to
   * `0.0.0.0:2377`, as in the docker CLI.
   *
   * @param body `RemoteAddrs` (managers to contact), `JoinToken`,
   *   `ListenAddr`, `AdvertiseAddr`, `DataPathAddr`.
   * @param options `signal`.
   * @throws {TypeError} When `RemoteAddrs` is empty or `JoinToken` is missing.
   * @throws {DockerApiError} With 503 when the engine is already in a swarm,
   *   400 when the token is malformed, 500 when the managers cannot be
   *   reached or refuse the token.
   *
   * @example Join as a worker
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker({ host: "tcp://worker-1:2376" });
   * await docker.swarm.join({
   *   RemoteAddrs: ["10.0.0.1:2377"],
   *   JoinToken: Deno.env.get("SWARM_WORKER_TOKEN")!,
   * });
   * ```
   */
  async join(body: SwarmJoinBody, options: SwarmJoinOptions = {}): Promise<void> {
    if (!body || typeof body !== "object") {
      throw new TypeError("A swarm join body is required");
    }
    const remotes = body.RemoteAddrs;
    if (
      !Array.isArray(remotes) || remotes.length === 0 ||
      remotes.some((addr) => typeof addr !== "string" || addr === "")
    ) {
      throw new TypeError("Cannot join a swarm: RemoteAddrs must name at least one manager");
    }
    if (typeof body.JoinToken !== "string" || body.JoinToken.trim() === "") {
      throw new TypeError("Cannot join a swarm: a JoinToken is required");
    }
    await this.#api.empty({
      method: "POST",
      path: "/swarm/join",
      json: { ...body, ListenAddr: body.ListenAddr || DEFAULT_LISTEN_ADDR },
      signal: options.signal,
      // The token is a credential: it stays out of the message.
      action: `join the swarm at ${remotes.join(", ")}`,
    });
  }

  /**
   * Sends `POST /swarm/leave`: takes this engine out of its swarm. A manager
   * needs `force` (leaving the last manager ends the swarm).
   *
   * @param options `force`, `signal`.
   * @throws {DockerApiError} With 503 when the engine is not in a swarm,
   *   and when a manager leaves without `force`.
   *
   * @example Leave the swarm
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.swarm.leave({ force: true });
   * ```
   */
  async leave(options: SwarmLeaveOptions = {}): Promise<void> {
    await this.#api.empty({
      method: "POST",
      path: "/swarm/leave",
      query: { force: options.force },
      signal: options.signal,
      action: "leave the swarm",
    });
  }

  /**
   * Sends `POST /swarm/update`: replaces the swarm's spec, and rotates join
   * tokens or the unlock key on request. Fields left out of `spec` take
   * their defaults, so start from the `Spec` of {@linkcode Swarm.inspect}.
   *
   * @param spec The whole new spec.
   * @param options `version` (required), `rotateWorkerToken`,
   *   `rotateManagerToken`, `rotateManagerUnlockKey`, `signal`.
   * @throws {TypeError} When `spec` is not an object or `version` is missing.
   * @throws {RangeError} When `version` is not a non-negative integer.
   * @throws {DockerConflictError} When the swarm changed since `version`
   *   (the engine's "update out of sequence", sent as 500).
   * @throws {DockerApiError} With 503 when the engine is not a swarm manager;
   *   400 for an invalid spec.
   *
   * @example Rotate the worker join token
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const swarm = await docker.swarm.inspect();
   * await docker.swarm.update(swarm.Spec ?? {}, {
   *   version: swarm.Version?.Index ?? 0,
   *   rotateWorkerToken: true,
   * });
   * ```
   */
  async update(spec: SwarmSpec, options: SwarmUpdateOptions): Promise<void> {
    const action = "update the swarm";
    if (!spec || typeof spec !== "object") {
      throw new TypeError(`Cannot ${action}: a spec object is required`);
    }
    const version = versionQuery(options?.version, action);
    await this.#api.empty({
      method: "POST",
      path: "/swarm/update",
      query: {
        version,
        rotateWorkerToken: options.rotateWorkerToken,
        rotateManagerToken: options.rotateManagerToken,
        rotateManagerUnlockKey: options.rotateManagerUnlockKey,
      },
      json: spec,
      signal: options.signal,
      action,
    });
  }

  /**
   * Sends `GET /swarm/unlockkey`: the key that unlocks this manager after a
   * restart when autolock is on (`Spec.EncryptionConfig.AutoLockManagers`).
   *
   * @param options `signal`.
   * @returns `{ UnlockKey }`, `""` when autolock is off.
   * @throws {DockerApiError} With 503 when the engine is not a swarm manager.
   *
   * @example Save the unlock key
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { UnlockKey } = await docker.swarm.unlockKey();
   * if (UnlockKey) await Deno.writeTextFile("unlock.key", UnlockKey);
   * ```
   */
  async unlockKey(options: SwarmUnlockKeyOptions = {}): Promise<SwarmUnlockKeyResult> {
    const result = await this.#api.json<SwarmUnlockkeyResponse>({
      method: "GET",
      path: "/swarm/unlockkey",
      signal: options.signal,
      action: "read the swarm's unlock key",
    });
    return { ...result, UnlockKey: result.UnlockKey ?? "" };
  }

  /**
   * Sends `POST /swarm/unlock`: unlocks a manager that restarted with
   * autolock on.
   *
   * @param unlockKey The key from {@linkcode Swarm.unlockKey} (`SWMKEY-1-...`).
   * @param options `signal`.
   * @throws {TypeError} When `unlockKey` is empty.
   * @throws {DockerConflictError} When the swarm is not locked.
   * @throws {DockerApiError} With 503 when the engine is not in a swarm,
   *   401 when the key is wrong ("invalid key provided"), 400 when it is
   *   not a key at all.
   *
   * @example Unlock a restarted manager
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.swarm.unlock(await Deno.readTextFile("unlock.key"));
   * ```
   */
  async unlock(unlockKey: string, options: SwarmUnlockOptions = {}): Promise<void> {
    if (typeof unlockKey !== "string" || unlockKey.trim() === "") {
      throw new TypeError("Cannot unlock the swarm: an unlock key is required");
    }
    await this.#api.empty({
      method: "POST",
      path: "/swarm/unlock",
      json: { UnlockKey: unlockKey.trim() },
      signal: options.signal,
      action: "unlock the swarm",
    });
  }
}
