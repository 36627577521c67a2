/**
 * `docker.system`: ping, version, info, events and disk usage.
 *
 * @module
 */

import { scrubSecrets } from "../auth.ts";
import type { HttpResponse } from "../http/response.ts";
import { JsonLinesDecoder } from "../stream/json_lines.ts";
import type {
  AuthConfig,
  EventMessage,
  SystemAuthResponse,
  SystemDataUsageResponse,
  SystemInfo,
  SystemVersion,
} from "../types/mod.ts";
import {
  type ApiClient,
  filtersQuery,
  type RequestOptions,
  type StreamOptions,
} from "./_client.ts";
import { readText } from "./_responses.ts";

/** What `ping` is, for messages. */
const PING_CALL = { action: "ping the engine" };

/** The body of a `_ping` answer: "OK" (anything longer than a few bytes is not an engine's). */
function pingText(response: HttpResponse): string | Promise<string> {
  return response.textIfComplete() ?? readText(response, 1 << 20, PING_CALL);
}

/** Options of {@linkcode System.ping}. */
export interface SystemPingOptions extends RequestOptions {
  /** `HEAD` asks for the headers only. @default "GET" */
  method?: "GET" | "HEAD";
}

/** What {@linkcode System.pingInfo} learns from the `_ping` headers. */
export interface SystemPingResult {
  /** Highest API version the engine speaks (`Api-Version`). */
  apiVersion: string | undefined;
  /** `linux` or `windows` (`Ostype`). */
  osType: string | undefined;
  /** Whether experimental features are on (`Docker-Experimental`). */
  experimental: boolean;
  /** Default builder: `"1"` (classic) or `"2"` (BuildKit) (`Builder-Version`). */
  builderVersion: string | undefined;
  /** Swarm state, on engines that send `Swarm` (1.42+), such as `inactive`. */
  swarm: string | undefined;
}

/** Options of {@linkcode System.events}. */
export interface SystemEventsOptions extends StreamOptions {
  /** Events since this time: a Date, Unix seconds, a duration such as `"10m"` (before now), or an RFC 3339 timestamp. */
  since?: Date | number | string;
  /** Stop streaming at this time (the stream then ends); same forms as `since`. */
  until?: Date | number | string;
  /**
   * Filters such as `{ type: ["container"], event: ["start"], label: ["app=web"] }`.
   */
  filters?: Record<string, string[]>;
}

/** Options of {@linkcode System.df}. */
export interface SystemDataUsageOptions extends RequestOptions {
  /**
   * Object types to count. Read only for calls of API 1.42+ (set
   * `apiVersion`; berth speaks at most 1.41 otherwise): by default, and on
   * Docker 20.10, every type is counted.
   */
  type?: Array<"container" | "image" | "volume" | "build-cache">;
}

/** Options of {@linkcode System.auth}. */
export interface SystemAuthOptions extends RequestOptions {}

/**
 * Credentials for {@linkcode System.auth}: the spec's `AuthConfig`, and the
 * two tokens the engine takes as well.
 */
export interface SystemAuthConfig extends AuthConfig {
  /** Identity (refresh) token from an earlier login, used instead of a password. */
  identitytoken?: string;
  /** Bearer token the engine passes to the registry as is. */
  registrytoken?: string;
}

/**
 * Converts a time option to what the engine accepts: Unix seconds. API 1.41
 * engines answer 500 to anything else, so (like the docker CLI) berth
 * converts durations (`"10m"`: that long before now) and timestamps
 * (RFC 3339 or anything `Date.parse` reads) itself.
 *
 * @param value A Date, Unix seconds, a duration (`ms`, `s`, `m`, `h`), or a timestamp.
 * @returns Unix seconds as text, or `undefined`.
 * @throws {TypeError} When a string is none of those.
 */
export function timeQuery(value: Date | number | string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Date) return (value.getTime() / 1000).toFixed(3);
  if (typeof value === "number") return String(value);
  if (/^\d+(\.\d+)?$/.test(value)) return value;
  const duration = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value);
  if (duration) {
    const unit = { ms: 0.001, s: 1, m: 60, h: 3600 }[duration[2] as "ms" | "s" | "m" | "h"];
    return (Date.now() / 1000 - Number(duration[1]) * unit).toFixed(3);
  }
  const time = Date.parse(value);
  if (Number.isNaN(time)) {
    throw new TypeError(
      `Invalid time ${
        JSON.stringify(value)
      }: use a Date, Unix seconds, a duration like "10m", or an RFC 3339 timestamp`,
    );
  }
  return (time / 1000).toFixed(3);
}

/** Engine-wide calls. Reach it as `docker.system`. */
export class System {
  readonly #api: ApiClient;

  /**
   * Builds the namespace; reach it through a {@linkcode Docker} client.
   *
   * @param api The API client of a {@linkcode Docker} instance.
   */
  constructor(api: ApiClient) {
    this.#api = api;
  }

  /**
   * Sends `GET /_ping` (or `HEAD`): checks that the engine answers.
   *
   * @param options `signal`, and `method`.
   * @returns `"OK"` (`""` for `HEAD`).
   * @throws {DockerConnectionError} When the engine cannot be reached.
   *
   * @example Check the engine is up
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * console.log(await docker.system.ping()); // "OK"
   * ```
   */
  ping(options: SystemPingOptions = {}): Promise<string> {
    return this.#api.send({
      method: options.method ?? "GET",
      path: "/_ping",
      versioned: false,
      signal: options.signal,
      action: PING_CALL.action,
    }, pingText);
  }

  /**
   * Sends `GET /_ping` (or `HEAD`) and reads what its headers say about
   * the engine.
   *
   * @param options `signal`, and `method`.
   * @returns API version, OS type, experimental flag, builder version.
   *
   * @example Find the default builder
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { apiVersion, builderVersion } = await docker.system.pingInfo({ method: "HEAD" });
   * console.log(apiVersion, builderVersion);
   * ```
   */
  async pingInfo(options: SystemPingOptions = {}): Promise<SystemPingResult> {
    const response = await this.#api.send({
      method: options.method ?? "GET",
      path: "/_ping",
      versioned: false,
      signal: options.signal,
      action: PING_CALL.action,
    });
    await response.discard();
    const header = (name: string) => response.headers.get(name) ?? undefined;
    return {
      apiVersion: header("api-version"),
      osType: header("ostype"),
      experimental: header("docker-experimental") === "true",
      builderVersion: header("builder-version"),
      swarm: header("swarm"),
    };
  }

  /**
   * Sends `GET /version`: engine, API and component versions.
   *
   * @param options `signal`.
   * @returns The engine's version record.
   *
   * @example Print the engine version
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Version, ApiVersion } = await docker.system.version();
   * console.log(Version, ApiVersion);
   * ```
   */
  version(options: RequestOptions = {}): Promise<SystemVersion> {
    return this.#api.json<SystemVersion>({
      method: "GET",
      path: "/version",
      signal: options.signal,
      action: "read the engine version",
    });
  }

  /**
   * Sends `GET /info`: engine-wide information (counts, drivers, swarm, ...).
   *
   * @param options `signal`.
   * @returns The engine's info record.
   *
   * @example Count running containers
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * console.log((await docker.system.info()).ContainersRunning);
   * ```
   */
  info(options: RequestOptions = {}): Promise<SystemInfo> {
    return this.#api.json<SystemInfo>({
      method: "GET",
      path: "/info",
      signal: options.signal,
      action: "read engine info",
    });
  }

  /**
   * Sends `GET /system/df`: disk usage of images, containers, volumes and
   * build cache.
   *
   * @param options `signal`, `type`.
   * @returns The usage record.
   *
   * @example Total image size
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * console.log((await docker.system.df()).LayersSize);
   * ```
   */
  df(options: SystemDataUsageOptions = {}): Promise<SystemDataUsageResponse> {
    return this.#api.json<SystemDataUsageResponse>({
      method: "GET",
      path: "/system/df",
      query: { type: options.type },
      signal: options.signal,
      action: "read disk usage",
    });
  }

  /**
   * Sends `GET /events`: a live stream of engine events. The request is
   * sent at once (in a worker: once the worker has started), and reading
   * may start later. The stream runs until `until`, cancel, or abort.
   *
   * Without `since` the stream starts whenever the engine has registered
   * the subscription, and nothing guarantees that this happens before a
   * call made right after this one is handled: that call's events can be
   * missed, on this thread and more often in a worker, which starts
   * later. For gap-free handling pass `since`: a `new Date()` taken before
   * the calls whose events matter, or, when subscribing again, the `time`
   * of the last event handled. The engine then replays the events it
   * still holds from that time on (the last 256) and goes on with live
   * ones, with no gap between the two. `since` is inclusive and compared
   * with the engine's clock: events of the `since` second itself may come
   * again (drop the repeats), and for a remote engine take it a little
   * earlier to allow for clock skew.
   *
   * @param options `since`, `until`, `filters`, `signal`, `worker` (decode
   *   in a worker thread).
   * @returns The events, decoded from JSON lines.
   *
   * @example See the events of a call made right after subscribing
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const events = docker.system.events({
   *   since: new Date(), // taken before the call: its events cannot be missed
   *   filters: { type: ["container"] },
   * });
   * const { Id } = await docker.containers.create({ Image: "busybox" });
   * for await (const event of events) {
   *   if (event.Actor?.ID === Id && event.Action === "create") break;
   * }
   * ```
   *
   * @example Watch container starts for ten seconds
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const events = docker.system.events({
   *   filters: { type: ["container"], event: ["start"] },
   *   signal: AbortSignal.timeout(10_000),
   * });
   * try {
   *   for await (const event of events) console.log(event.Actor?.Attributes?.name);
   * } catch (error) {
   *   if ((error as Error).name !== "TimeoutError") throw error;
   * }
   * ```
   */
  events(options: SystemEventsOptions = {}): ReadableStream<EventMessage> {
    return this.#api.stream<EventMessage>(
      {
        method: "GET",
        path: "/events",
        query: {
          since: timeQuery(options.since),
          until: timeQuery(options.until),
          filters: filtersQuery(options.filters),
        },
        signal: options.signal,
        longLived: true,
        action: "stream engine events",
        worker: options.worker,
      },
      () => new JsonLinesDecoder<EventMessage>(),
      { kind: "json" },
    );
  }

  /**
   * Sends `POST /auth`: asks the engine to check registry credentials
   * (`docker login`). The credentials travel in the request body only; they
   * never appear in an error's message, `engineMessage`, `path` or `cause`.
   *
   * @param authConfig `username` and `password` (or an `identitytoken`
   *   from an earlier login), `serveraddress` (Docker Hub when left out),
   *   `email`.
   * @param options `signal`.
   * @returns `{ Status }` such as `"Login Succeeded"`, and an
   *   `IdentityToken` when the registry issues one (use it instead of the
   *   password from then on); `{}` when the engine answers 204 without a
   *   body, which the API allows for a success.
   * @throws {TypeError} When `authConfig` is not an object.
   * @throws {DockerApiError} When the registry refuses the credentials (the
   *   engine answers 401, or 500 on older engines) or cannot be reached.
   *
   * @example Check credentials before a push
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Status } = await docker.system.auth({
   *   username: "me",
   *   password: Deno.env.get("REGISTRY_PASSWORD")!,
   *   serveraddress: "registry.example.com",
   * });
   * console.log(Status); // "Login Succeeded"
   * ```
   */
  async auth(
    authConfig: SystemAuthConfig,
    options: SystemAuthOptions = {},
  ): Promise<SystemAuthResponse> {
    if (!authConfig || typeof authConfig !== "object") {
      throw new TypeError("Registry credentials (an AuthConfig object) are required");
    }
    const registry = authConfig.serveraddress
      ? `registry "${authConfig.serveraddress}"`
      : "Docker Hub";
    const action = `log in to ${registry}`;
    try {
      // The spec allows 204 (no body) for a login that succeeded.
      return await this.#api.json<SystemAuthResponse>({
        method: "POST",
        path: "/auth",
        json: authConfig,
        signal: options.signal,
        action,
      }, () => ({}));
    } catch (error) {
      throw scrubSecrets(error, [
        authConfig.password,
        authConfig.identitytoken,
        authConfig.registrytoken,
      ]);
    }
  }
}
