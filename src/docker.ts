/**
 * The {@linkcode Docker} client: connection settings, the resource
 * namespaces, the observer, and closing.
 *
 * @module
 */

import { ApiClient } from "./api/_client.ts";
import { Containers } from "./api/containers.ts";
import { Exec } from "./api/exec.ts";
import { System } from "./api/system.ts";
import { HttpClient } from "./http/client.ts";
import { createConnector, formatHost, parseHost, type TlsOptions } from "./http/transport.ts";
import { type DockerObserver, recordObserver } from "./observer.ts";

/** The engine address used when neither `host` nor `DOCKER_HOST` says otherwise. */
export const DEFAULT_HOST = "unix:///var/run/docker.sock";

/** Options of {@linkcode Docker}. */
export interface DockerOptions {
  /**
   * Engine address: `unix:///path`, `tcp://host:port` or `https://host:port`.
   * @default `DOCKER_HOST` when Deno may read it, else `unix:///var/run/docker.sock`
   */
  host?: string;
  /** TLS material (PEM text); given with `tcp://`, it turns TLS on. */
  tls?: TlsOptions;
  /** A fixed Engine API version such as `"1.41"`. @default negotiated once with the engine */
  apiVersion?: string;
  /** Most concurrent ordinary calls; follow streams and attach sessions are not counted. @default 16 */
  maxConnections?: number;
  /** Milliseconds an idle connection is kept; 0 turns keep-alive off. @default 10000 */
  keepAliveTimeout?: number;
  /** Milliseconds to wait for a connection. @default 30000 */
  connectTimeout?: number;
  /** Milliseconds to wait for response headers; 0 = forever. @default 300000 */
  headersTimeout?: number;
  /**
   * Milliseconds a response body may go without bytes; 0 = forever. Follow
   * streams (logs, events, stats, attach, wait) are exempt. @default 300000
   */
  bodyTimeout?: number;
  /** Largest response head in bytes. @default 65536 */
  maxHeaderSize?: number;
  /** Called once per Engine API call, with credentials redacted. */
  observer?: DockerObserver;
}

/**
 * A Docker Engine API client. Resources are namespaces: `docker.containers`,
 * `docker.system`, ... Connections are pooled and kept alive; close the
 * client when done (or use `await using`).
 *
 * @example Ping the engine and list containers
 * ```ts ignore
 * import { Docker } from "@berth/docker";
 *
 * await using docker = new Docker();
 * console.log(await docker.system.ping()); // "OK"
 * for (const c of await docker.containers.list({ all: true })) console.log(c.Id, c.Names);
 * ```
 */
export class Docker implements AsyncDisposable {
  /** The engine address in use. */
  readonly host: string;
  /** Containers: create, start, logs, wait, remove, ... */
  readonly containers: Containers;
  /** Engine-wide calls: ping, version, info, events, disk usage. */
  readonly system: System;
  /** Extra processes in running containers: create, start (attached or detached), run. */
  readonly exec: Exec;
  readonly #http: HttpClient;
  readonly #api: ApiClient;

  /**
   * Creates a client. No connection is opened until the first call.
   *
   * @param options Address, TLS, limits, timeouts and observer.
   * @throws {TypeError} When the host is malformed.
   */
  constructor(options: DockerOptions = {}) {
    const address = parseHost(options.host ?? envHost() ?? DEFAULT_HOST, options.tls);
    this.host = formatHost(address);
    const httpOptions: ConstructorParameters<typeof HttpClient>[0] = {
      connect: createConnector(address, options.connectTimeout ?? 30_000),
      host: this.host,
      hostHeader: address.transport === "unix" ? "docker" : `${address.hostname}:${address.port}`,
    };
    if (options.maxConnections !== undefined) httpOptions.maxConnections = options.maxConnections;
    if (options.keepAliveTimeout !== undefined) httpOptions.keepAliveTimeout = options.keepAliveTimeout;
    if (options.headersTimeout !== undefined) httpOptions.headersTimeout = options.headersTimeout;
    if (options.bodyTimeout !== undefined) httpOptions.bodyTimeout = options.bodyTimeout;
    if (options.maxHeaderSize !== undefined) httpOptions.maxHeaderSize = options.maxHeaderSize;
    if (options.observer) httpOptions.onRecord = recordObserver(options.observer);
    this.#http = new HttpClient(httpOptions);
    this.#api = new ApiClient(this.#http, { apiVersion: options.apiVersion });
    this.containers = new Containers(this.#api);
    this.system = new System(this.#api);
    this.exec = new Exec(this.#api);
  }

  /**
   * The Engine API version in use: the `apiVersion` option, or the lower of
   * berth's maximum (1.41) and the engine's, asked once.
   *
   * @param options `signal` cancels the negotiation.
   * @returns A version such as `"1.41"`.
   */
  apiVersion(options: { signal?: AbortSignal } = {}): Promise<string> {
    return this.#api.apiVersion(options.signal);
  }

  /**
   * Closes every connection, idle or busy: streams still open fail, later
   * calls reject. Safe to call more than once.
   */
  close(): Promise<void> {
    this.#http.close();
    return Promise.resolve();
  }

  /** Closes the client at the end of an `await using` block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** `DOCKER_HOST`, when set and readable without a permission prompt. */
function envHost(): string | undefined {
  try {
    const state = Deno.permissions.querySync({ name: "env", variable: "DOCKER_HOST" }).state;
    if (state !== "granted") return undefined;
    return Deno.env.get("DOCKER_HOST") || undefined;
  } catch {
    return undefined;
  }
}
