/**
 * The {@linkcode Docker} client: connection settings, the resource
 * namespaces, the observer, and closing.
 *
 * @module
 */

import { ApiClient } from "./api/_client.ts";
import { Configs } from "./api/configs.ts";
import { Containers } from "./api/containers.ts";
import { Distribution } from "./api/distribution.ts";
import { Exec } from "./api/exec.ts";
import { Images } from "./api/images.ts";
import { Networks } from "./api/networks.ts";
import { Nodes } from "./api/nodes.ts";
import { Plugins } from "./api/plugins.ts";
import { Secrets } from "./api/secrets.ts";
import { Services } from "./api/services.ts";
import { Swarm } from "./api/swarm.ts";
import { System } from "./api/system.ts";
import { Tasks } from "./api/tasks.ts";
import { Volumes } from "./api/volumes.ts";
import { type CredentialsOption, resolveCredentials } from "./auth.ts";
import { dockerFromEnv, type DockerFromEnvOptions } from "./connection_config.ts";
import { WorkerPool } from "./worker/pool.ts";
import { HttpClient } from "./http/client.ts";
import {
  type Connector,
  createConnector,
  formatHost,
  hostHeader,
  parseHost,
  type SshOptions,
  type TlsOptions,
} from "./http/transport.ts";
import { type DockerObserver, recordObserver } from "./observer.ts";

/** Why a client that could not read DOCKER_HOST failed at the default socket. */
const UNREAD_DOCKER_HOST = "(DOCKER_HOST was not read: run with --allow-env=DOCKER_HOST to use it)";

/** The engine address used when neither `host` nor `DOCKER_HOST` says otherwise. */
export const DEFAULT_HOST = "unix:///var/run/docker.sock";

/** Options of {@linkcode Docker}. */
export interface DockerOptions {
  /**
   * Engine address: `unix:///path`, `tcp://host:port`, `https://host:port`
   * or `ssh://[user@]host[:port][/path]` (runs `ssh -- host docker
   * [--host unix:///path] system dial-stdio`, one process per pooled
   * connection; needs `--allow-run=ssh`).
   * @default `DOCKER_HOST` when Deno may read it, else `unix:///var/run/docker.sock`
   *   (without `--allow-env=DOCKER_HOST`, a failure to connect says so)
   */
  host?: string;
  /** TLS material (PEM text); given with `tcp://`, it turns TLS on. Not for `ssh://`. */
  tls?: TlsOptions;
  /**
   * For `ssh://` hosts: the ssh executable and extra arguments (key, known
   * hosts file, options), placed before berth's own `-o BatchMode=yes -T
   * [-p port] [-l user] -- host docker system dial-stdio`.
   * @default `{ command: "ssh", args: [] }` (your `~/.ssh/config` and agent apply)
   */
  ssh?: SshOptions;
  /** A fixed Engine API version such as `"1.41"`. @default negotiated once with the engine */
  apiVersion?: string;
  /** Most concurrent ordinary calls; follow streams and attach sessions are not counted. @default 16 */
  maxConnections?: number;
  /**
   * Milliseconds an idle connection is kept for reuse; then it is closed.
   * 0 turns keep-alive off. @default 10000
   */
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
  /**
   * Registry credentials for pulls, pushes, builds and plugins when a call
   * gives no `auth`: a {@linkcode CredentialStore}, or `"docker-config"` to
   * read the Docker CLI's config (`auths`, `credsStore`, `credHelpers`).
   * @default none: anonymous pulls
   */
  credentials?: CredentialsOption;
  /**
   * Run stream calls (logs, events, stats, progress, tar and archive
   * downloads, attach sessions) in up to `size` Web Workers, each with its
   * own connection, so parsing and decoding happen off this thread. A call's `worker: false` keeps it here;
   * without this option a call's `worker: true` still uses one worker.
   * Workers start on first use, stop after 10 s idle and on `close()`.
   * An idle worker keeps the process alive until it stops, so a script
   * that never closes the client exits only 10 s after its last stream.
   * A starting worker loads berth's worker module: with berth imported from
   * a local path (a checkout, a vendored copy) that needs `--allow-read` on
   * berth's `src` directory, else the stream fails with a `DockerError`
   * naming the flag; from JSR it needs nothing more.
   * @default off
   */
  workers?: { size: number };
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
  /** Images: pull, push, build, import, load, tag, inspect, ... */
  readonly images: Images;
  /** Extra processes in running containers: create, start (attached or detached), run. */
  readonly exec: Exec;
  /** Networks: create, connect, disconnect, inspect, prune, ... */
  readonly networks: Networks;
  /** Volumes: create, inspect, list, remove, prune. */
  readonly volumes: Volumes;
  /** Engine-wide calls: ping, version, info, events, disk usage, auth. */
  readonly system: System;
  /** Registry queries through the engine. */
  readonly distribution: Distribution;
  /** Managed plugins: create, install, enable, push, ... */
  readonly plugins: Plugins;
  /** Swarm membership: init, join, leave, update, unlock. */
  readonly swarm: Swarm;
  /** Swarm nodes. */
  readonly nodes: Nodes;
  /** Swarm services, with their logs. */
  readonly services: Services;
  /** Swarm tasks, with their logs. */
  readonly tasks: Tasks;
  /** Swarm secrets. */
  readonly secrets: Secrets;
  /** Swarm configs. */
  readonly configs: Configs;
  readonly #http: HttpClient;
  readonly #api: ApiClient;
  readonly #workers: WorkerPool;
  readonly #connector: Connector;

  /**
   * Creates a client. No connection is opened until the first call.
   *
   * @param options Address, TLS, limits, timeouts and observer.
   * @throws {TypeError} When the host is malformed, or `tls` is given with an `ssh://` host.
   */
  constructor(options: DockerOptions = {}) {
    const env = options.host === undefined ? envHost() : undefined;
    const address = parseHost(options.host ?? env?.host ?? DEFAULT_HOST, options.tls);
    this.host = formatHost(address);
    // The default socket only because DOCKER_HOST could not be read: a
    // failure to connect says so, here and in a stream worker. Decided here,
    // once; other clients' connectors have no note.
    const failureNote = env?.unread ? UNREAD_DOCKER_HOST : undefined;
    this.#connector = createConnector(address, options.connectTimeout ?? 30_000, {
      ssh: options.ssh,
      failureNote,
    });
    const httpOptions: ConstructorParameters<typeof HttpClient>[0] = {
      connect: this.#connector,
      host: this.host,
      hostHeader: hostHeader(address),
    };
    if (options.maxConnections !== undefined) httpOptions.maxConnections = options.maxConnections;
    if (options.keepAliveTimeout !== undefined) {
      httpOptions.keepAliveTimeout = options.keepAliveTimeout;
    }
    if (options.headersTimeout !== undefined) httpOptions.headersTimeout = options.headersTimeout;
    if (options.bodyTimeout !== undefined) httpOptions.bodyTimeout = options.bodyTimeout;
    if (options.maxHeaderSize !== undefined) httpOptions.maxHeaderSize = options.maxHeaderSize;
    if (options.observer) httpOptions.onRecord = recordObserver(options.observer);
    this.#http = new HttpClient(httpOptions);
    // Creating the pool starts no worker: they start on the first stream.
    this.#workers = new WorkerPool({
      ...options,
      host: this.host,
      failureNote,
      size: options.workers?.size ?? 1,
      onRecord: httpOptions.onRecord,
    });
    this.#api = new ApiClient(this.#http, {
      apiVersion: options.apiVersion,
      workers: this.#workers,
      workersByDefault: options.workers !== undefined,
    });
    const credentials = { credentials: resolveCredentials(options.credentials) };
    this.containers = new Containers(this.#api);
    this.images = new Images(this.#api, credentials);
    this.exec = new Exec(this.#api);
    this.networks = new Networks(this.#api);
    this.volumes = new Volumes(this.#api);
    this.system = new System(this.#api);
    this.distribution = new Distribution(this.#api, credentials);
    this.plugins = new Plugins(this.#api, credentials);
    this.swarm = new Swarm(this.#api);
    this.nodes = new Nodes(this.#api);
    this.services = new Services(this.#api, credentials);
    this.tasks = new Tasks(this.#api);
    this.secrets = new Secrets(this.#api);
    this.configs = new Configs(this.#api);
  }

  /**
   * Creates a client the way the docker CLI picks its engine: explicit
   * options, then `DOCKER_HOST` (with `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`),
   * `DOCKER_CONTEXT`, the config's `currentContext`, the default socket;
   * `DOCKER_API_VERSION` is honoured. Nothing prompts for permissions:
   * what Deno may not read is skipped and named in the error if connecting
   * then fails. The connection is checked before the client is returned.
   *
   * @param options Overrides, `check: false` to skip the connection check, `signal`.
   * @returns A connected client.
   * @throws {DockerConnectionError} When no candidate engine answers; the
   *   message lists what was tried and the permission flags that would help.
   *
   * @example Connect like the docker CLI
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = await Docker.fromEnv();
   * console.log(docker.host);
   * ```
   */
  static fromEnv(options: DockerFromEnvOptions = {}): Promise<Docker> {
    return dockerFromEnv(options);
  }

  /**
   * The Engine API version in use: the `apiVersion` option, or the lower of
   * berth's maximum (1.41) and the engine's, asked once (calls made
   * meanwhile share that one `GET /version`).
   *
   * @param options `signal` stops this wait (the negotiation goes on for
   *   the calls that share it).
   * @returns A version such as `"1.41"`.
   */
  apiVersion(options: { signal?: AbortSignal } = {}): Promise<string> {
    return this.#api.apiVersion(options.signal);
  }

  /**
   * Closes every connection, idle or busy, and stops the stream workers:
   * calls in flight (also those still waiting for a connection or for its
   * connect), streams and attach/exec sessions still open fail with a
   * `DockerConnectionError` ("the client was closed"); later calls reject
   * with a `DockerError` ("the client is closed").
   * Safe to call more than once.
   * With an `ssh://` host it resolves once the ssh processes it stopped have
   * exited.
   */
  async close(): Promise<void> {
    this.#workers.close();
    this.#http.close();
    await this.#connector.close?.();
  }

  /** Closes the client at the end of an `await using` block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * `DOCKER_HOST`, when set and readable without a permission prompt;
 * `unread` when Deno may not read it (it is then neither read nor asked for).
 */
function envHost(): { host: string | undefined; unread: boolean } {
  try {
    const state = Deno.permissions.querySync({ name: "env", variable: "DOCKER_HOST" }).state;
    if (state !== "granted") return { host: undefined, unread: true };
    return { host: Deno.env.get("DOCKER_HOST") || undefined, unread: false };
  } catch {
    return { host: undefined, unread: true };
  }
}
