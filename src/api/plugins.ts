/**
 * `docker.plugins`: managed (v2) plugins — list, install from a registry,
 * inspect, enable, disable, configure, upgrade, build from a tar, push and
 * remove.
 *
 * Calls that reach a registry (`privileges`, `pull`, `upgrade`, `push`)
 * take `auth`, sent as `X-Registry-Auth` and never shown in messages or
 * observer events. Their progress streams resolve when the engine is done
 * and reject with a {@linkcode DockerStreamError} on an error line.
 *
 * @module
 */

import {
  authSecrets,
  type CredentialStore,
  encodeAuthHeader,
  type RegistryAuth,
  scrubSecrets,
} from "../auth.ts";
import type { HeaderFields, RequestBody } from "../http/request.ts";
import { JsonLinesDecoder } from "../stream/json_lines.ts";
import { type ProgressCollector, ProgressStream } from "../stream/progress.ts";
import type { ErrorDetail, Plugin, PluginPrivilege, ProgressDetail } from "../types/mod.ts";
import {
  type ApiCall,
  type ApiClient,
  filtersQuery,
  imageSegment,
  missingArgument,
  type RequestOptions,
  type StreamOptions,
} from "./_client.ts";
import { failingProgress, rejecting } from "./_failing.ts";

// Re-exported so this module documents on its own (`deno doc --lint`);
// mod.ts exports the same bindings.
export type { RequestOptions } from "./_client.ts";
export type { CredentialLookupOptions, CredentialStore, RegistryAuth } from "../auth.ts";
export type {
  ProgressCollector,
  ProgressStream,
  ProgressStreamOptions,
} from "../stream/progress.ts";
export type * from "../types/plugins.ts";
export type { ErrorDetail, ProgressDetail } from "../types/common.ts";

/** One line of a plugin pull, upgrade or push progress stream. */
export interface PluginProgressMessage {
  /** Layer or reference the line is about. */
  id?: string;
  /** Status text such as `Downloading` or `Download complete`. */
  status?: string;
  /** Progress bar rendered as text; `progressDetail` has the numbers. */
  progress?: string;
  /** Numeric progress of the current step. */
  progressDetail?: ProgressDetail;
  /** On the last line of a push: the tag, digest and size stored in the registry. */
  aux?: { Tag?: string; Digest?: string; Size?: number };
  /** Error message (such a line rejects the call). */
  error?: string;
  /** Structured error (such a line rejects the call). */
  errorDetail?: ErrorDetail;
}

/** Options of {@linkcode Plugins.list}. */
export interface PluginListOptions extends RequestOptions {
  /** Filters such as `{ capability: ["volumedriver"] }` or `{ enabled: ["true"] }`. */
  filters?: Record<string, string[]>;
}

/** Options of {@linkcode Plugins.privileges}. */
export interface PluginPrivilegesOptions extends RequestOptions {
  /**
   * Registry credentials, sent as `X-Registry-Auth`.
   * @default the client's credential store's entry for the registry, else anonymous
   */
  auth?: RegistryAuth;
}

/** Options of {@linkcode Plugins.pull}. */
export interface PluginPullOptions extends StreamOptions {
  /** Local name of the installed plugin. @default the remote reference */
  name?: string;
  /**
   * The privileges granted to the plugin; they must match what it asks for
   * (see {@linkcode Plugins.privileges}). `"all"` asks the registry first
   * and grants whatever the plugin wants, like `docker plugin install
   * --grant-all-permissions`. @default [] (fine for plugins that ask for none)
   */
  privileges?: PluginPrivilege[] | "all";
  /**
   * Registry credentials, sent as `X-Registry-Auth`.
   * @default the client's credential store's entry for the registry, else anonymous
   */
  auth?: RegistryAuth;
  /** Called with each progress line. */
  onProgress?: (message: PluginProgressMessage) => void;
}

/** Options of {@linkcode Plugins.upgrade}. */
export interface PluginUpgradeOptions extends StreamOptions {
  /**
   * The privileges granted to the new version; `"all"` grants what it asks
   * for. @default []
   */
  privileges?: PluginPrivilege[] | "all";
  /**
   * Registry credentials, sent as `X-Registry-Auth`.
   * @default the client's credential store's entry for the registry, else anonymous
   */
  auth?: RegistryAuth;
  /** Called with each progress line. */
  onProgress?: (message: PluginProgressMessage) => void;
}

/** Options of {@linkcode Plugins.push}. */
export interface PluginPushOptions extends StreamOptions {
  /**
   * Registry credentials, sent as `X-Registry-Auth`.
   * @default the client's credential store's entry for the registry, else anonymous
   */
  auth?: RegistryAuth;
  /** Called with each progress line. */
  onProgress?: (message: PluginProgressMessage) => void;
}

/** Result of {@linkcode Plugins.pull} and {@linkcode Plugins.upgrade}. */
export interface PluginPullResult {
  /** Digest of the manifest pulled, from the engine's `Digest: sha256:…` line. */
  digest?: string;
}

/** Result of {@linkcode Plugins.push}. */
export interface PluginPushResult {
  /** Digest of the manifest stored in the registry. */
  digest?: string;
  /** The tag pushed. */
  tag?: string;
  /** Size of the manifest in bytes. */
  size?: number;
}

/** Options of {@linkcode Plugins.inspect}. */
export interface PluginInspectOptions extends RequestOptions {}

/** Options of {@linkcode Plugins.remove}. */
export interface PluginRemoveOptions extends RequestOptions {
  /** Remove the plugin even when it is enabled or in use. @default false */
  force?: boolean;
}

/** Options of {@linkcode Plugins.enable}. */
export interface PluginEnableOptions extends RequestOptions {
  /**
   * Seconds the engine waits for the plugin to answer its socket (the
   * engine requires a value; 30 is the docker CLI's default). @default 30
   */
  timeout?: number;
}

/** Options of {@linkcode Plugins.disable}. */
export interface PluginDisableOptions extends RequestOptions {
  /** Disable the plugin even when in use. @default false */
  force?: boolean;
}

/** Options of {@linkcode Plugins.create}. */
export interface PluginCreateOptions extends RequestOptions {}

/** Options of {@linkcode Plugins.set}. */
export interface PluginSetOptions extends RequestOptions {}

/** Options of {@linkcode Plugins}. */
export interface PluginsOptions {
  /** Where to find registry credentials when a call gives no `auth`. */
  credentials?: CredentialStore | undefined;
}

/** Plugin calls. Reach it as `docker.plugins`. */
export class Plugins {
  readonly #api: ApiClient;
  readonly #credentials: CredentialStore | undefined;

  /**
   * Creates the namespace; use `docker.plugins` rather than calling this.
   *
   * @param api The API client of a {@linkcode Docker} instance.
   * @param options The client's credential store, if any.
   */
  constructor(api: ApiClient, options: PluginsOptions = {}) {
    this.#api = api;
    this.#credentials = options.credentials;
  }

  /**
   * Sends `GET /plugins`: the installed plugins.
   *
   * @param options `filters` (`capability`, `enabled`), `signal`.
   * @returns One record per plugin.
   *
   * @example List enabled volume plugins
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const list = await docker.plugins.list({
   *   filters: { capability: ["volumedriver"], enabled: ["true"] },
   * });
   * console.log(list.map((p) => p.Name));
   * ```
   */
  async list(options: PluginListOptions = {}): Promise<Plugin[]> {
    const list = await this.#api.json<Plugin[] | null>({
      method: "GET",
      path: "/plugins",
      query: { filters: filtersQuery(options.filters) },
      signal: options.signal,
      action: "list plugins",
    });
    return list ?? [];
  }

  /**
   * Sends `GET /plugins/privileges`: what a plugin in a registry asks to be
   * granted (network, mounts, devices, capabilities), for review before
   * {@linkcode Plugins.pull}.
   *
   * @param remote Plugin reference in the registry, such as `vieux/sshfs:latest`.
   * @param options `auth`, `signal`.
   * @returns The privileges the plugin asks for. Docker 20.10 answers an
   *   empty list, not an error, when the registry cannot be reached or the
   *   reference is unknown: an empty list is only "no privileges" for a
   *   plugin known to exist (a `pull` with `privileges: "all"` fails
   *   clearly instead).
   * @throws {TypeError} When `remote` is empty.
   * @throws {DockerApiError} When the registry refuses.
   *
   * @example Review privileges
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * for (const p of await docker.plugins.privileges("vieux/sshfs:latest")) {
   *   console.log(p.Name, p.Value);
   * }
   * ```
   */
  async privileges(
    remote: string,
    options: PluginPrivilegesOptions = {},
  ): Promise<PluginPrivilege[]> {
    reference(remote, "plugin reference");
    const auth = await this.#auth(remote, options);
    try {
      const list = await this.#api.json<PluginPrivilege[] | null>({
        method: "GET",
        path: "/plugins/privileges",
        query: { remote },
        headers: authHeaders(auth),
        signal: options.signal,
        action: `read the privileges of plugin "${remote}"`,
      });
      return list ?? [];
    } catch (error) {
      throw scrubSecrets(error, authSecrets(auth));
    }
  }

  /**
   * Sends `POST /plugins/pull`: installs a plugin from a registry (it stays
   * disabled until {@linkcode Plugins.enable}). The result is a stream of
   * progress lines that is also a promise: `await` it to wait for the
   * engine to finish (see `ProgressStream`).
   *
   * @param remote Plugin reference in the registry.
   * @param options `name`, `privileges` (or `"all"`), `auth`, `onProgress`, `signal`.
   * @returns The progress lines; awaited, the pulled digest.
   * @throws {TypeError} At once, when `remote` or `name` is empty.
   * @throws {DockerApiError} Through the stream: a plugin of that name is
   *   installed (400), or the registry refuses before the download starts.
   * @throws {DockerStreamError} Through the stream: the privileges do not
   *   match (`incorrect privileges`), or the download fails.
   *
   * @example Install and enable a plugin, granting what it asks for
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.plugins.pull("vieux/sshfs:latest", { name: "sshfs", privileges: "all" });
   * await docker.plugins.enable("sshfs");
   * ```
   */
  pull(
    remote: string,
    options: PluginPullOptions = {},
  ): ProgressStream<PluginProgressMessage, PluginPullResult> {
    return failingProgress(() => {
      reference(remote, "plugin reference");
      if (options.name !== undefined) reference(options.name, "plugin name");
      const action = `pull plugin "${remote}"`;
      return this.#progress(remote, options, action, pullCollector(), async (auth) => ({
        method: "POST",
        path: "/plugins/pull",
        query: { remote, name: options.name },
        json: await this.#grant(remote, options, auth),
        headers: authHeaders(auth),
        signal: options.signal,
        action,
      }));
    });
  }

  /**
   * Sends `GET /plugins/{name}/json`: a plugin's configuration and settings.
   *
   * @param name Plugin name or id.
   * @param options `signal`.
   * @returns The plugin.
   * @throws {TypeError} When `name` is empty.
   * @throws {DockerNotFoundError} When no such plugin is installed.
   *
   * @example Read a plugin's settings
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Enabled, Settings } = await docker.plugins.inspect("sshfs");
   * console.log(Enabled, Settings?.Env);
   * ```
   */
  inspect(name: string, options: PluginInspectOptions = {}): Promise<Plugin> {
    return rejecting(() =>
      this.#api.json<Plugin>({
        method: "GET",
        path: `/plugins/${imageSegment(name, "plugin name")}/json`,
        signal: options.signal,
        action: `inspect plugin "${name}"`,
      })
    );
  }

  /**
   * Sends `DELETE /plugins/{name}`: removes a plugin.
   *
   * @param name Plugin name or id.
   * @param options `force` (remove even when enabled), `signal`.
   * @throws {TypeError} When `name` is empty.
   * @throws {DockerNotFoundError} When no such plugin is installed.
   * @throws {DockerApiError} When it is enabled and `force` is not set.
   *
   * @example Remove a plugin, enabled or not
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.plugins.remove("sshfs", { force: true });
   * ```
   */
  async remove(name: string, options: PluginRemoveOptions = {}): Promise<void> {
    await this.#api.empty({
      method: "DELETE",
      path: `/plugins/${imageSegment(name, "plugin name")}`,
      query: { force: options.force },
      signal: options.signal,
      action: `remove plugin "${name}"`,
    });
  }

  /**
   * Sends `POST /plugins/{name}/enable`: starts the plugin; resolves once
   * it answers on its socket.
   *
   * @param name Plugin name or id.
   * @param options `timeout` (seconds), `signal`.
   * @throws {TypeError} When `name` is empty.
   * @throws {DockerNotFoundError} When no such plugin is installed.
   * @throws {DockerApiError} When it is already enabled, or does not start.
   *
   * @example Enable a plugin
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.plugins.enable("sshfs", { timeout: 10 });
   * ```
   */
  async enable(name: string, options: PluginEnableOptions = {}): Promise<void> {
    await this.#api.empty({
      method: "POST",
      path: `/plugins/${imageSegment(name, "plugin name")}/enable`,
      query: { timeout: options.timeout ?? 30 },
      signal: options.signal,
      action: `enable plugin "${name}"`,
    });
  }

  /**
   * Sends `POST /plugins/{name}/disable`: stops the plugin.
   *
   * @param name Plugin name or id.
   * @param options `force` (even when in use), `signal`.
   * @throws {TypeError} When `name` is empty.
   * @throws {DockerNotFoundError} When no such plugin is installed.
   * @throws {DockerApiError} When it is already disabled, or in use without `force`.
   *
   * @example Disable a plugin
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.plugins.disable("sshfs");
   * ```
   */
  async disable(name: string, options: PluginDisableOptions = {}): Promise<void> {
    await this.#api.empty({
      method: "POST",
      path: `/plugins/${imageSegment(name, "plugin name")}/disable`,
      query: { force: options.force },
      signal: options.signal,
      action: `disable plugin "${name}"`,
    });
  }

  /**
   * Sends `POST /plugins/{name}/upgrade`: replaces a disabled plugin's
   * image with another from a registry, keeping its settings. Like
   * {@linkcode Plugins.pull}, the result is a stream that is also a promise.
   *
   * @param name Installed plugin name or id.
   * @param remote Plugin reference to upgrade to.
   * @param options `privileges` (or `"all"`), `auth`, `onProgress`, `signal`.
   * @returns The progress lines; awaited, the pulled digest.
   * @throws {TypeError} At once, when `name` or `remote` is empty.
   * @throws {DockerNotFoundError} Through the stream: no such plugin is installed.
   * @throws {DockerApiError} Through the stream: it is enabled, or the
   *   registry refuses before the download starts.
   * @throws {DockerStreamError} Through the stream: the privileges do not
   *   match, or the download fails.
   *
   * @example Upgrade to a new tag
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.plugins.disable("sshfs");
   * await docker.plugins.upgrade("sshfs", "vieux/sshfs:next", { privileges: "all" });
   * await docker.plugins.enable("sshfs");
   * ```
   */
  upgrade(
    name: string,
    remote: string,
    options: PluginUpgradeOptions = {},
  ): ProgressStream<PluginProgressMessage, PluginPullResult> {
    return failingProgress(() => {
      const path = `/plugins/${imageSegment(name, "plugin name")}/upgrade`;
      reference(remote, "plugin reference");
      const action = `upgrade plugin "${name}" to "${remote}"`;
      return this.#progress(remote, options, action, pullCollector(), async (auth) => ({
        method: "POST",
        path,
        query: { remote },
        json: await this.#grant(remote, options, auth),
        headers: authHeaders(auth),
        signal: options.signal,
        action,
      }));
    });
  }

  /**
   * Sends `POST /plugins/create`: makes a plugin from a tar holding
   * `config.json` (the plugin's configuration) and `rootfs/` (its files).
   * The new plugin is disabled.
   *
   * @param name Name of the new plugin, such as `registry:5000/team/plugin:1.0`.
   * @param context The tar archive: bytes, or a stream (sent chunked).
   * @param options `signal`.
   * @throws {TypeError} When `name` is empty or `context` is missing.
   * @throws {DockerConflictError} When a plugin of that name exists.
   * @throws {DockerApiError} When the archive or its configuration is invalid.
   *
   * @example Create a plugin from config.json and a root filesystem
   * ```ts ignore
   * import { Docker, tarStream } from "@berth/docker";
   * await using docker = new Docker();
   * const config = { Description: "demo", Documentation: "https://example.com",
   *   Entrypoint: ["/plugin"], Interface: { Types: ["docker.volumedriver/1.0"], Socket: "demo.sock" },
   *   Network: { Type: "host" } };
   * await docker.plugins.create("demo:latest", tarStream([
   *   { name: "config.json", body: JSON.stringify(config) },
   *   { name: "rootfs", type: "directory" },
   *   { name: "rootfs/plugin", body: await Deno.readFile("plugin"), mode: 0o755 },
   * ]));
   * ```
   */
  async create(
    name: string,
    context: Uint8Array | ReadableStream<Uint8Array>,
    options: PluginCreateOptions = {},
  ): Promise<void> {
    reference(name, "plugin name");
    if (!(context instanceof Uint8Array) && !(context instanceof ReadableStream)) {
      throw new TypeError("A plugin create context (a tar as bytes or a stream) is required");
    }
    await this.#api.empty({
      method: "POST",
      path: "/plugins/create",
      query: { name },
      body: context as RequestBody,
      headers: { "Content-Type": "application/x-tar" },
      signal: options.signal,
      action: `create plugin "${name}"`,
    });
  }

  /**
   * Sends `POST /plugins/{name}/push`: uploads a plugin to the registry its
   * name points at. The result is a stream of progress lines that is also
   * a promise: `await` it to wait for the upload to finish.
   *
   * @param name Plugin name, including the registry: `registry:5000/team/plugin:1.0`.
   * @param options `auth`, `onProgress`, `signal`.
   * @returns The progress lines; awaited, the digest, tag and size stored.
   * @throws {TypeError} At once, when `name` is empty.
   * @throws {DockerNotFoundError} Through the stream: no such plugin is installed.
   * @throws {DockerStreamError} Through the stream: the registry refuses
   *   the upload (wrong or missing credentials, unreachable registry).
   *
   * @example Push to a private registry
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { digest } = await docker.plugins.push("registry:5000/team/plugin:1.0", {
   *   auth: { username: "me", password: "secret", serveraddress: "registry:5000" },
   * });
   * console.log(digest);
   * ```
   */
  push(
    name: string,
    options: PluginPushOptions = {},
  ): ProgressStream<PluginProgressMessage, PluginPushResult> {
    return failingProgress(() => {
      const path = `/plugins/${imageSegment(name, "plugin name")}/push`;
      const action = `push plugin "${name}"`;
      return this.#progress(name, options, action, pushCollector(), (auth) => ({
        method: "POST",
        path,
        headers: authHeaders(auth),
        signal: options.signal,
        action,
      }));
    });
  }

  /**
   * Sends `POST /plugins/{name}/set`: changes settings of a disabled
   * plugin: environment variables (`KEY=value`), `mount.source=...`,
   * `device.path=...`, or `args=...`, as far as the plugin declares them
   * settable.
   *
   * @param name Plugin name or id.
   * @param settings Settings such as `["DEBUG=1"]`.
   * @param options `signal`.
   * @throws {TypeError} When `name` is empty or `settings` is not a list of strings.
   * @throws {DockerNotFoundError} When no such plugin is installed.
   * @throws {DockerApiError} When the plugin is enabled or a setting is not settable.
   *
   * @example Turn on a plugin's debug output
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * await docker.plugins.set("sshfs", ["DEBUG=1"]);
   * ```
   */
  async set(name: string, settings: string[], options: PluginSetOptions = {}): Promise<void> {
    const path = `/plugins/${imageSegment(name, "plugin name")}/set`;
    if (!Array.isArray(settings) || settings.some((s) => typeof s !== "string" || s === "")) {
      throw new TypeError('Plugin settings must be a list of "KEY=value" strings');
    }
    await this.#api.empty({
      method: "POST",
      path,
      json: settings,
      signal: options.signal,
      action: `set plugin "${name}" settings`,
    });
  }

  /** The credentials of a call: its `auth`, else the store's entry for the reference's registry. */
  async #auth(
    ref: string,
    options: { auth?: RegistryAuth; signal?: AbortSignal },
  ): Promise<RegistryAuth | undefined> {
    if (options.auth || !this.#credentials) return options.auth;
    return await this.#credentials.forImage(ref, options.signal ? { signal: options.signal } : {});
  }

  /** The privileges to send: the given list, or what the plugin asks for. */
  async #grant(
    remote: string,
    options: { privileges?: PluginPrivilege[] | "all"; signal?: AbortSignal },
    auth: RegistryAuth | undefined,
  ): Promise<PluginPrivilege[]> {
    if (options.privileges !== "all") return options.privileges ?? [];
    const query: PluginPrivilegesOptions = {};
    if (auth) query.auth = auth;
    if (options.signal) query.signal = options.signal;
    return await this.privileges(remote, query);
  }

  /**
   * Starts a progress call once its credentials (and privileges) are
   * known; errors are scrubbed of the credentials.
   */
  #progress<TResult>(
    ref: string,
    options: {
      auth?: RegistryAuth;
      signal?: AbortSignal;
      worker?: boolean;
      onProgress?: (message: PluginProgressMessage) => void;
    },
    action: string,
    collector: ProgressCollector<PluginProgressMessage, TResult>,
    call: (auth: RegistryAuth | undefined) => ApiCall | Promise<ApiCall>,
  ): ProgressStream<PluginProgressMessage, TResult> {
    let secrets: string[] = authSecrets(options.auth);
    const source = (async () => {
      const auth = await this.#auth(ref, options);
      secrets = authSecrets(auth);
      return this.#api.stream<PluginProgressMessage>(
        { ...(await call(auth)), worker: options.worker },
        () => new JsonLinesDecoder<PluginProgressMessage>(),
        { kind: "json" },
      );
    })();
    return new ProgressStream(source, collector, {
      onProgress: options.onProgress,
      action,
      mapError: (error: unknown) => scrubSecrets(error, secrets),
    });
  }
}

/** Collects the digest of a pull or upgrade from its `Digest: sha256:…` line. */
function pullCollector(): ProgressCollector<PluginProgressMessage, PluginPullResult> {
  let digest: string | undefined;
  return {
    push(message) {
      const match = /^Digest: (\S+)$/.exec(message?.status ?? "");
      if (match) digest = match[1];
    },
    finish() {
      return digest === undefined ? {} : { digest };
    },
  };
}

/** Collects a push's result from its last `aux` line. */
function pushCollector(): ProgressCollector<PluginProgressMessage, PluginPushResult> {
  let aux: PluginProgressMessage["aux"];
  return {
    push(message) {
      if (message?.aux && typeof message.aux === "object") aux = message.aux;
    },
    finish() {
      const result: PluginPushResult = {};
      if (typeof aux?.Digest === "string") result.digest = aux.Digest;
      if (typeof aux?.Tag === "string") result.tag = aux.Tag;
      if (typeof aux?.Size === "number") result.size = aux.Size;
      return result;
    },
  };
}

/** Checks a reference passed in the query (not the path). */
function reference(value: string, what: string): string {
  if (typeof value !== "string" || value.trim() === "") throw missingArgument(what, value);
  return value;
}

function authHeaders(auth: RegistryAuth | undefined): HeaderFields {
  return auth ? { "X-Registry-Auth": encodeAuthHeader(auth) } : {};
}
