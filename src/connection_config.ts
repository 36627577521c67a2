/**
 * Where to connect, resolved the way the docker CLI does it:
 *
 * 1. explicit options (`host`, `tls`, or a `context` name);
 * 2. `DOCKER_HOST`, with `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`
 *    (`ca.pem`, `cert.pem`, `key.pem`);
 * 3. `DOCKER_CONTEXT`;
 * 4. `currentContext` of `config.json` (in `DOCKER_CONFIG` or `~/.docker`);
 * 5. the context store: `contexts/meta/<sha256 of the name>/meta.json`
 *    (`Endpoints.docker.Host`, `SkipTLSVerify`) and TLS material under
 *    `contexts/tls/<sha256 of the name>/docker/`;
 * 6. the `default` context: the first existing socket of
 *    `$XDG_RUNTIME_DIR/docker.sock` (rootless), `~/.docker/run/docker.sock`
 *    (Docker Desktop), `/var/run/docker.sock`, else the last.
 *
 * An `ssh://[user@]host[:port][/path]` host (from any of these) is used as
 * is: berth runs `ssh -- host docker [--host unix:///path] system
 * dial-stdio` (needs `--allow-run=ssh`; the
 * `ssh` option of {@linkcode DockerOptions} picks the executable and extra
 * arguments), and TLS settings do not apply to it.
 *
 * `DOCKER_API_VERSION` fixes the API version. Nothing here prompts for a
 * Deno permission: what may not be read is skipped, and the skip is
 * reported (with the flag to add) in the result's `notes` and in the
 * error {@linkcode dockerFromEnv} throws when it cannot connect.
 *
 * TLS is never turned off behind the caller's back: `DOCKER_TLS_VERIFY`
 * without readable certificates is an error, a plain `tcp://` host gets a
 * loud warning, and settings that ask for TLS without verification
 * (`SkipTLSVerify`, `DOCKER_TLS` alone) fail, because Deno cannot turn
 * certificate verification off for one connection.
 *
 * @module
 */

import { sha256Hex } from "./_digest.ts";
import { Docker, type DockerOptions } from "./docker.ts";
import { DockerConnectionError } from "./errors.ts";
import type { TlsOptions } from "./http/transport.ts";

/** The socket of the `default` context when no other candidate exists. */
const DEFAULT_SOCKET = "/var/run/docker.sock";

/** Options of {@linkcode resolveDockerOptions}. */
export interface ResolveDockerOptions extends DockerOptions {
  /**
   * A context name, like `docker --context`: looked up in the context
   * store, before `DOCKER_HOST`. Cannot be combined with `host`.
   * @default `DOCKER_CONTEXT`, then `currentContext` of `config.json`
   */
  context?: string;
  /**
   * Variables to read instead of the process environment (no `--allow-env`
   * needed then), for instance another process's environment.
   * @default the process environment, as far as Deno may read it
   */
  env?: Record<string, string | undefined>;
  /**
   * The docker CLI configuration directory (holds `config.json` and
   * `contexts/`), like `docker --config`.
   * @default `DOCKER_CONFIG`, else `$HOME/.docker`
   */
  configDir?: string;
  /**
   * Receives warnings, such as a `tcp://` host without TLS.
   * @default `console.warn`, once per host and process
   */
  warn?: (message: string) => void;
}

/** What {@linkcode resolveDockerOptions} found: options for `new Docker(...)`, and where they came from. */
export interface ResolvedDockerOptions extends DockerOptions {
  /** Engine address to connect to. */
  host: string;
  /**
   * Where the address came from: `"options"`, `"DOCKER_HOST"`,
   * `"context <name>"` or `"default"`.
   */
  source: string;
  /** Addresses considered, in order, the chosen one last; for error messages. */
  candidates: string[];
  /**
   * What could not be checked and why, with the Deno flag that would allow
   * it, such as `DOCKER_HOST not read: run with --allow-env=DOCKER_HOST`.
   */
  notes: string[];
  /**
   * The Deno flags that would let the resolver read everything it skipped,
   * such as `["--allow-env=DOCKER_HOST,HOME", "--allow-read=/var/run/docker.sock"]`;
   * empty when nothing was skipped for lack of permission.
   */
  flags: string[];
}

/** Options of {@linkcode dockerFromEnv}. */
export interface DockerFromEnvOptions extends ResolveDockerOptions {
  /**
   * Whether to check the connection before returning: negotiates the API
   * version (a `GET /version` the first call would make anyway), or pings
   * when the version is fixed. A failure closes the client and rejects
   * with a {@linkcode DockerConnectionError} that lists the candidates and
   * the permissions that were missing.
   * @default true
   */
  check?: boolean;
  /** Cancels the check. */
  signal?: AbortSignal;
}

const warned = new Set<string>();

/** Reads variables and files without ever prompting; records what it may not read. */
class Reader {
  readonly notes: string[] = [];
  readonly deniedEnv: string[] = [];
  readonly deniedRead: string[] = [];
  readonly #env: Record<string, string | undefined> | undefined;

  constructor(env: Record<string, string | undefined> | undefined) {
    this.#env = env;
  }

  /** A variable's non-empty value, `undefined` when unset or not readable. */
  env(name: string): string | undefined {
    if (this.#env) return this.#env[name] || undefined;
    if (granted({ name: "env", variable: name })) {
      try {
        return Deno.env.get(name) || undefined;
      } catch {
        // Revoked in between: reported below.
      }
    }
    this.notes.push(`${name} not read: run with --allow-env=${name}`);
    this.deniedEnv.push(name);
    return undefined;
  }

  /** The flags that would have allowed what was skipped. */
  flags(): string[] {
    const flags: string[] = [];
    if (this.deniedEnv.length) flags.push(`--allow-env=${this.deniedEnv.join(",")}`);
    if (this.deniedRead.length) flags.push(`--allow-read=${this.deniedRead.join(",")}`);
    return flags;
  }

  /** Whether Deno may read `path`; notes it when not. */
  mayRead(path: string, what: string): boolean {
    if (granted({ name: "read", path })) return true;
    this.notes.push(`${what} ${path} not read: run with --allow-read=${path}`);
    this.deniedRead.push(path);
    return false;
  }

  /** A file's text, `undefined` when missing or not readable (the latter noted). */
  async text(path: string, what: string): Promise<string | undefined> {
    if (!this.mayRead(path, what)) return undefined;
    try {
      return await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      if (
        error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied
      ) {
        this.notes.push(`${what} ${path} not read: ${(error as Error).message}`);
        return undefined;
      }
      throw error;
    }
  }

  /** Whether `path` is a Unix socket; `undefined` when Deno may not look. */
  isSocket(path: string): boolean | undefined {
    if (!this.mayRead(path, "socket")) return undefined;
    try {
      return Deno.statSync(path).isSocket === true;
    } catch {
      return false;
    }
  }
}

function granted(descriptor: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false;
  }
}

function join(...parts: string[]): string {
  return parts.join("/").replace(/\/{2,}/g, "/");
}

/** Rejects hosts berth cannot dial, with a message saying why. */
function checkScheme(host: string, source: string): void {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(host)?.[1]?.toLowerCase();
  if (
    scheme === "unix" || scheme === "tcp" || scheme === "http" || scheme === "https" ||
    scheme === "ssh"
  ) {
    return;
  }
  const why = "berth connects to unix://, tcp://, http://, https:// and ssh:// hosts only";
  throw new DockerConnectionError(
    `Cannot use Docker host "${host}" (from ${source}): ${why}`,
    host,
  );
}

/** Whether the host is TCP (`tcp://`, `http://`, `https://`): TLS settings apply. */
function isTcp(host: string): boolean {
  return /^(tcp|http|https):\/\//i.test(host);
}

/** The error for settings that ask for TLS without certificate verification. */
function noSkipVerify(host: string, source: string, setting: string): DockerConnectionError {
  return new DockerConnectionError(
    `Cannot connect to ${host} (from ${source}): ${setting} asks for TLS without certificate verification, which Deno cannot do per connection; give the engine's CA (ca.pem) and verify instead`,
    host,
  );
}

/**
 * Reads `ca.pem`, `cert.pem` and `key.pem` from a directory.
 *
 * @param requireCa Whether a missing `ca.pem` is an error (`DOCKER_TLS_VERIFY`).
 */
async function tlsFromDir(
  dir: string,
  host: string,
  source: string,
  requireCa: boolean,
): Promise<TlsOptions | undefined> {
  const read = async (file: string): Promise<string | undefined> => {
    const path = join(dir, file);
    if (!granted({ name: "read", path })) {
      throw new DockerConnectionError(
        `Cannot use TLS for ${host} (from ${source}): Deno may not read ${path}; run with --allow-read=${dir}`,
        host,
      );
    }
    try {
      return await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw new DockerConnectionError(
        `Cannot use TLS for ${host} (from ${source}): cannot read ${path}: ${
          (error as Error).message
        }`,
        host,
        { cause: error },
      );
    }
  };
  const [ca, cert, key] = [await read("ca.pem"), await read("cert.pem"), await read("key.pem")];
  if (requireCa && ca === undefined) {
    throw new DockerConnectionError(
      `Cannot use TLS for ${host} (from ${source}): ${join(dir, "ca.pem")} does not exist`,
      host,
    );
  }
  if ((cert === undefined) !== (key === undefined)) {
    const missing = cert === undefined ? "cert.pem" : "key.pem";
    throw new DockerConnectionError(
      `Cannot use TLS for ${host} (from ${source}): ${join(dir, missing)} does not exist`,
      host,
    );
  }
  if (ca === undefined && cert === undefined) return undefined;
  const tls: TlsOptions = {};
  if (ca !== undefined) tls.caCerts = [ca];
  if (cert !== undefined && key !== undefined) {
    tls.cert = cert;
    tls.key = key;
  }
  return tls;
}

interface Endpoint {
  host: string;
  tls: TlsOptions | undefined;
  source: string;
}

/** `DOCKER_HOST` with the `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`/`DOCKER_TLS` settings. */
async function fromDockerHost(
  reader: Reader,
  host: string,
  configDir: () => string | undefined,
  configDirUnknown: () => string,
): Promise<Endpoint> {
  const source = "DOCKER_HOST";
  checkScheme(host, source);
  if (!isTcp(host)) return { host, tls: undefined, source };
  const verify = reader.env("DOCKER_TLS_VERIFY");
  const givenCertPath = reader.env("DOCKER_CERT_PATH");
  const certPath = verify === undefined ? undefined : givenCertPath ?? configDir();
  if (verify !== undefined) {
    if (certPath === undefined) {
      throw new DockerConnectionError(
        `Cannot use TLS for ${host}: DOCKER_TLS_VERIFY is set but neither DOCKER_CERT_PATH nor a configuration directory is known (${configDirUnknown()})`,
        host,
      );
    }
    const tls = await tlsFromDir(certPath, host, "DOCKER_HOST with DOCKER_TLS_VERIFY", true);
    return { host, tls, source };
  }
  if (reader.env("DOCKER_TLS") !== undefined) throw noSkipVerify(host, source, "DOCKER_TLS");
  if (givenCertPath !== undefined) {
    reader.notes.push(
      "DOCKER_CERT_PATH is set but DOCKER_TLS_VERIFY is not: TLS is off (as with the docker CLI); set DOCKER_TLS_VERIFY=1 to use it",
    );
  }
  return { host, tls: undefined, source };
}

/** A named context from the context store. */
async function fromContext(
  name: string,
  configDir: string | undefined,
  configDirUnknown: () => string,
): Promise<Endpoint> {
  const source = `context ${name}`;
  if (configDir === undefined) {
    throw new DockerConnectionError(
      `Cannot use Docker context "${name}": the configuration directory is unknown (${configDirUnknown()})`,
      source,
    );
  }
  const id = await sha256Hex(name);
  const metaPath = join(configDir, "contexts", "meta", id, "meta.json");
  if (!granted({ name: "read", path: metaPath })) {
    throw new DockerConnectionError(
      `Cannot use Docker context "${name}": Deno may not read ${metaPath}; run with --allow-read=${
        join(configDir, "contexts")
      }`,
      source,
    );
  }
  let text: string;
  try {
    text = await Deno.readTextFile(metaPath);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? `it does not exist (no ${metaPath}; see docker context ls)`
      : `cannot read ${metaPath}: ${(error as Error).message}`;
    throw new DockerConnectionError(`Cannot use Docker context "${name}": ${why}`, source, {
      cause: error,
    });
  }
  let endpoint: { Host?: unknown; SkipTLSVerify?: unknown } | undefined;
  try {
    const meta = JSON.parse(text) as Record<string, unknown>;
    const endpoints = (meta.Endpoints ?? meta.endpoints) as Record<string, unknown> | undefined;
    endpoint = endpoints?.docker as typeof endpoint;
  } catch (error) {
    throw new DockerConnectionError(
      `Cannot use Docker context "${name}": ${metaPath} is not valid JSON`,
      source,
      { cause: error },
    );
  }
  if (!endpoint || typeof endpoint !== "object") {
    throw new DockerConnectionError(
      `Cannot use Docker context "${name}": ${metaPath} has no docker endpoint`,
      source,
    );
  }
  const host = typeof endpoint.Host === "string" && endpoint.Host !== ""
    ? endpoint.Host
    : `unix://${DEFAULT_SOCKET}`;
  checkScheme(host, source);
  if (!isTcp(host)) return { host, tls: undefined, source };
  if (endpoint.SkipTLSVerify === true) throw noSkipVerify(host, source, "SkipTLSVerify");
  const tlsDir = join(configDir, "contexts", "tls", id, "docker");
  const tls = await tlsFromDir(tlsDir, host, source, false);
  return { host, tls, source };
}

/** The `default` context: the first existing candidate socket. */
function fromDefault(reader: Reader, home: string | undefined, candidates: string[]): Endpoint {
  const paths: string[] = [];
  const runtime = reader.env("XDG_RUNTIME_DIR");
  if (runtime) paths.push(join(runtime, "docker.sock"));
  if (home) paths.push(join(home, ".docker", "run", "docker.sock"));
  paths.push(DEFAULT_SOCKET);
  for (const path of paths) {
    candidates.push(`unix://${path}`);
    if (reader.isSocket(path)) {
      return { host: `unix://${path}`, tls: undefined, source: "default" };
    }
  }
  // None found (or none could be checked): the docker CLI's default.
  if (candidates.at(-1) !== `unix://${DEFAULT_SOCKET}`) candidates.push(`unix://${DEFAULT_SOCKET}`);
  return { host: `unix://${DEFAULT_SOCKET}`, tls: undefined, source: "default" };
}

/**
 * Resolves where and how to connect, with the docker CLI's precedence:
 * explicit options, `DOCKER_HOST` (+ `DOCKER_TLS_VERIFY`,
 * `DOCKER_CERT_PATH`), `DOCKER_CONTEXT`, `currentContext` of `config.json`,
 * the context store, then the `default` context (the first existing socket
 * of `$XDG_RUNTIME_DIR/docker.sock`, `~/.docker/run/docker.sock`,
 * `/var/run/docker.sock`). `DOCKER_API_VERSION` fixes the API version
 * unless `apiVersion` is given. Variables and files Deno may not read are
 * skipped without a prompt and listed in `notes`.
 *
 * A plain `tcp://` or `http://` host gets a warning (through `warn`); TLS
 * is never silently dropped.
 *
 * @param overrides Explicit settings (they win), plus `context`, `env`,
 *   `configDir` and `warn`. Other {@linkcode DockerOptions} pass through.
 * @returns Options for `new Docker(...)`, with `source`, `candidates` and `notes`.
 * @throws {TypeError} When both `host` and `context` are given, or
 *   `DOCKER_API_VERSION` is not a `major.minor` version.
 * @throws {DockerConnectionError} When the chosen settings cannot be used:
 *   a context that does not exist or has `SkipTLSVerify`, `DOCKER_TLS_VERIFY`
 *   without a readable `ca.pem`, `DOCKER_TLS` without verification, or a
 *   scheme berth does not speak.
 *
 * @example Connect like the docker CLI would
 * ```ts ignore
 * import { Docker, resolveDockerOptions } from "@berth/docker";
 *
 * const options = await resolveDockerOptions();
 * console.log(`using ${options.host} (from ${options.source})`);
 * await using docker = new Docker(options);
 * console.log(await docker.system.ping());
 * ```
 */
export async function resolveDockerOptions(
  overrides: ResolveDockerOptions = {},
): Promise<ResolvedDockerOptions> {
  const { context, env, configDir: givenConfigDir, warn, ...options } = overrides;
  if (options.host !== undefined && context !== undefined) {
    throw new TypeError("Conflicting options: give either host or context, not both");
  }
  const reader = new Reader(env);
  const candidates: string[] = [];

  let home: string | undefined;
  let homeRead = false;
  const getHome = () => {
    if (!homeRead) {
      homeRead = true;
      home = reader.env("HOME");
    }
    return home;
  };
  let configDirValue: string | undefined;
  let configDirRead = false;
  const configDir = () => {
    if (!configDirRead) {
      configDirRead = true;
      const fromEnv = givenConfigDir ?? reader.env("DOCKER_CONFIG");
      const userHome = fromEnv === undefined ? getHome() : undefined;
      configDirValue = fromEnv ?? (userHome ? join(userHome, ".docker") : undefined);
    }
    return configDirValue;
  };
  // Why configDir() found nothing: the variables Deno may not read, or unset.
  const configDirUnknown = () => {
    const denied = ["DOCKER_CONFIG", "HOME"].filter((name) => reader.deniedEnv.includes(name));
    return denied.length
      ? `Deno may not read ${denied.join(" or ")}: run with --allow-env=${
        denied.join(",")
      }, or pass configDir`
      : "set DOCKER_CONFIG or HOME, or pass configDir";
  };

  let endpoint: Endpoint;
  if (options.host !== undefined) {
    checkScheme(options.host, "options");
    endpoint = { host: options.host, tls: undefined, source: "options" };
  } else if (context !== undefined && context !== "default") {
    endpoint = await fromContext(context, configDir(), configDirUnknown);
  } else {
    const dockerHost = context === undefined ? reader.env("DOCKER_HOST") : undefined;
    if (dockerHost !== undefined) {
      endpoint = await fromDockerHost(reader, dockerHost, configDir, configDirUnknown);
    } else {
      let name = context ?? reader.env("DOCKER_CONTEXT");
      if (name === undefined) name = await currentContext(reader, configDir());
      endpoint = name !== undefined && name !== "default"
        ? await fromContext(name, configDir(), configDirUnknown)
        : fromDefault(reader, getHome(), candidates);
    }
  }
  if (candidates.at(-1) !== endpoint.host) candidates.push(endpoint.host);

  const resolved: ResolvedDockerOptions = {
    ...options,
    host: endpoint.host,
    source: endpoint.source,
    candidates,
    notes: reader.notes,
    flags: [],
  };
  const tls = options.tls ?? endpoint.tls;
  if (tls !== undefined) resolved.tls = tls;
  else delete resolved.tls;

  if (options.apiVersion === undefined) {
    const version = reader.env("DOCKER_API_VERSION");
    if (version !== undefined) {
      if (!/^\d+\.\d+$/.test(version)) {
        throw new TypeError(
          `DOCKER_API_VERSION must be a version such as 1.41 (got ${JSON.stringify(version)})`,
        );
      }
      resolved.apiVersion = version;
    }
  }

  resolved.flags = reader.flags();

  if (isTcp(resolved.host) && !resolved.host.startsWith("https://") && resolved.tls === undefined) {
    const message =
      `WARNING: berth connects to the Docker engine at ${resolved.host} (from ${resolved.source}) WITHOUT TLS: anyone who can reach that port controls the engine and the host, and the traffic can be read. Set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem), or pass tls.`;
    if (warn) warn(message);
    else if (!warned.has(resolved.host)) {
      warned.add(resolved.host);
      console.warn(message);
    }
  }
  return resolved;
}

/** `currentContext` of `config.json`, when readable. */
async function currentContext(
  reader: Reader,
  configDir: string | undefined,
): Promise<string | undefined> {
  if (configDir === undefined) return undefined;
  const path = join(configDir, "config.json");
  const text = await reader.text(path, "docker config");
  if (text === undefined) return undefined;
  try {
    const config = JSON.parse(text) as { currentContext?: unknown };
    return typeof config.currentContext === "string" && config.currentContext !== ""
      ? config.currentContext
      : undefined;
  } catch {
    // The docker CLI warns and goes on with an empty configuration.
    reader.notes.push(`docker config ${path} is not valid JSON: ignored`);
    return undefined;
  }
}

/**
 * Creates a {@linkcode Docker} client from the environment, the way the
 * docker CLI chooses its engine (see {@linkcode resolveDockerOptions}), and
 * checks that the engine answers. Meant as `Docker.fromEnv(options)`.
 *
 * @param options Explicit settings, `context`, `env`, `configDir`, `warn`,
 *   and `check` (default `true`) with its `signal`.
 * @returns A connected client; close it when done.
 * @throws {DockerConnectionError} When the settings cannot be used, or the
 *   engine cannot be reached: the message names the source, the
 *   candidates tried and the Deno permissions that were missing.
 * @throws {TypeError} On conflicting or malformed settings.
 *
 * @example Use whatever engine the docker CLI would use
 * ```ts ignore
 * import { dockerFromEnv } from "@berth/docker";
 *
 * await using docker = await dockerFromEnv();
 * console.log((await docker.system.version()).Version);
 * ```
 */
export async function dockerFromEnv(options: DockerFromEnvOptions = {}): Promise<Docker> {
  const { check = true, signal, ...rest } = options;
  const resolved = await resolveDockerOptions(rest);
  const { source, candidates, notes, flags, ...dockerOptions } = resolved;
  const docker = new Docker(dockerOptions);
  if (!check) return docker;
  try {
    if (dockerOptions.apiVersion === undefined) await docker.apiVersion(signal ? { signal } : {});
    else await docker.system.ping(signal ? { signal } : {});
  } catch (error) {
    await docker.close();
    if (!(error instanceof DockerConnectionError)) throw error;
    const parts = [error.message, ` (host from ${source}`];
    const others = candidates.filter((candidate) => candidate !== resolved.host);
    if (others.length) {
      parts.push(`; other candidates, not found or not checked: ${others.join(", ")}`);
    }
    parts.push(")");
    let message = parts.join("");
    if (flags.length) {
      message += `. Not checked for lack of permission: ${
        notes.filter((note) => / not read: run with /.test(note)).map((note) =>
          note.replace(/ not read: .*$/, "")
        ).join(", ")
      } (run with ${flags.join(" ")} to let berth look)`;
    }
    const remarks = notes.filter((note) => !/ not read: run with /.test(note));
    if (remarks.length) message += `. Note: ${remarks.join("; ")}`;
    throw new DockerConnectionError(message, error.host, { cause: error });
  }
  return docker;
}
