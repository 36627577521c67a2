/**
 * Registry credentials: the `X-Registry-Auth` and `X-Registry-Config`
 * headers, and a {@linkcode CredentialStore} that finds credentials the way
 * the docker CLI does.
 *
 * ## Where credentials come from
 *
 * - Per call: `docker.images.pull(ref, { auth: { username, password } })`.
 * - From a store given to the client: {@linkcode CredentialStore.from} (a
 *   fixed map) or {@linkcode CredentialStore.fromDockerConfig} (the user's
 *   `config.json`, as written by `docker login`).
 *
 * A Docker config store is read on every lookup (so a later `docker login`
 * is seen) and picks, for a registry, like the docker CLI:
 *
 * 1. `credHelpers[registry]`: runs `docker-credential-<name> get`;
 * 2. `credsStore`: runs `docker-credential-<name> get` (when it knows no
 *    credentials, the `auths` entry is used if it holds any);
 * 3. `auths[registry]`: `auth` (base64 `user:password`), or `username` and
 *    `password`, and `identitytoken`.
 *
 * Registries are matched by host name and port. Docker Hub and its aliases
 * (`docker.io`, `index.docker.io`, `registry-1.docker.io`, and references
 * without a registry part such as `busybox`) use the key
 * `https://index.docker.io/v1/`; config keys written with a scheme or a
 * path (`https://registry.example.com:5000/v2/`) match their host.
 *
 * ## Deno permissions
 *
 * Reading the config needs `--allow-env=DOCKER_CONFIG` (and `HOME` too
 * when `DOCKER_CONFIG` is unset; neither when a path is given) and
 * `--allow-read=<config dir>`; a credential helper needs
 * `--allow-run=docker-credential-<name>`, which Deno grants only when the
 * helper is on the PATH. berth never prompts: a missing permission is a
 * {@linkcode DockerError} naming the flag to add, and a helper that is not
 * on the PATH is reported as such (when Deno may read `PATH` and its
 * directories to tell).
 *
 * ## Secrecy
 *
 * Credentials never appear in error messages (a malformed config is
 * reported without its content), and the credential objects berth returns
 * print as `<redacted>` in `console.log`, `Deno.inspect` and `String()`.
 * Their fields stay ordinary properties, so they can still be passed to
 * `docker.system.auth()`.
 *
 * @module
 */

import {
  DockerApiError,
  DockerConflictError,
  DockerError,
  DockerNotFoundError,
  DockerStreamError,
} from "./errors.ts";
import { REDACTED } from "./observer.ts";
import { granted, helperGet, helperList } from "./_credential_helpers.ts";
import { keyMatches, registryKey, registryOfImage } from "./image_reference.ts";

export {
  DOCKER_HUB_KEY,
  type ImageReferenceParts,
  parseImageReference,
  registryKey,
  registryOfImage,
} from "./image_reference.ts";

/**
 * Credentials for one registry, as the engine takes them (JSON field names
 * of moby's `registry.AuthConfig`). Give either `username` and `password`,
 * or an `identitytoken` (an OAuth refresh token from `docker login`), or a
 * `registrytoken` (a bearer token sent as is).
 */
export interface RegistryAuth {
  /** Registry user name. */
  username?: string;
  /** Registry password or access token. */
  password?: string;
  /** Email associated with the account (ignored by modern registries). */
  email?: string;
  /**
   * Registry address such as `registry.example.com:5000`, or
   * `https://index.docker.io/v1/` for Docker Hub.
   */
  serveraddress?: string;
  /** Identity (refresh) token, used instead of a password. */
  identitytoken?: string;
  /** Bearer token sent to the registry as is. */
  registrytoken?: string;
}

/** Fields that go into `X-Registry-Auth`, in wire order. */
const AUTH_FIELDS = [
  "username",
  "password",
  "email",
  "serveraddress",
  "identitytoken",
  "registrytoken",
] as const;

/** Default time a credential helper may take, in milliseconds. */
const DEFAULT_HELPER_TIMEOUT = 30_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/** Base64 of bytes (RFC 4648 §4). */
function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Base64url with padding (RFC 4648 §5), as Go's `base64.URLEncoding`. */
function base64Url(text: string): string {
  return base64(encoder.encode(text)).replaceAll("+", "-").replaceAll("/", "_");
}

/** Copies the wire fields of `auth` (strings only) into a fresh object. */
function wireAuth(auth: RegistryAuth, what: string): Record<string, string> {
  if (!auth || typeof auth !== "object") {
    throw new TypeError(`${what} must be an object of registry credentials`);
  }
  const out: Record<string, string> = {};
  for (const field of AUTH_FIELDS) {
    const value = auth[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== "string") {
      throw new TypeError(`${what}: "${field}" must be a string`);
    }
    out[field] = value;
  }
  return out;
}

/**
 * Encodes credentials for the `X-Registry-Auth` header: base64url (RFC 4648
 * §5, with padding, as moby's `base64.URLEncoding`) of the JSON of
 * `{ username, password, serveraddress }` or `{ identitytoken,
 * serveraddress }`. Only the known string fields are sent; `{}` encodes
 * "no credentials" (`e30=`), which `POST /images/{name}/push` requires
 * when there are none.
 *
 * @param auth The credentials.
 * @returns The header value.
 * @throws {TypeError} When `auth` is not an object or a field is not a string.
 *
 * @example Encode credentials
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeAuthHeader } from "./auth.ts";
 *
 * assert.equal(encodeAuthHeader({}), "e30=");
 * const header = encodeAuthHeader({ username: "me", password: "pw", serveraddress: "r.example" });
 * const json = atob(header.replaceAll("-", "+").replaceAll("_", "/"));
 * assert.deepEqual(JSON.parse(json), { username: "me", password: "pw", serveraddress: "r.example" });
 * ```
 */
export function encodeAuthHeader(auth: RegistryAuth): string {
  return base64Url(JSON.stringify(wireAuth(auth, "Registry credentials")));
}

/**
 * Encodes several registries' credentials for the `X-Registry-Config`
 * header of `POST /build`: base64url (with padding) of the JSON map from
 * registry key (host name, or `https://index.docker.io/v1/`) to
 * credentials.
 *
 * @param map Credentials by registry, such as {@linkcode CredentialStore.all} returns.
 * @returns The header value.
 * @throws {TypeError} When `map` or one of its values is not an object.
 *
 * @example Encode two registries
 * ```ts
 * import { encodeRegistryConfig } from "./auth.ts";
 *
 * const header = encodeRegistryConfig({
 *   "https://index.docker.io/v1/": { username: "me", password: "pw" },
 *   "registry.example.com": { identitytoken: "token" },
 * });
 * console.log(header.length > 0);
 * ```
 */
export function encodeRegistryConfig(map: Record<string, RegistryAuth>): string {
  if (!map || typeof map !== "object") {
    throw new TypeError("A registry config must be an object of credentials by registry");
  }
  const out: Record<string, Record<string, string>> = {};
  for (const key of Object.keys(map)) {
    out[key] = wireAuth(map[key]!, `Credentials of registry "${key}"`);
  }
  return base64Url(JSON.stringify(out));
}

/**
 * The strings that would give `auth` away if they appeared in a message:
 * each secret, and the base64 and base64url forms a header or a config
 * file would carry. Used to scrub engine messages before they are thrown.
 *
 * @param auth Credentials, or `undefined`.
 * @returns Secrets of at least 4 characters (shorter ones would match by chance).
 *
 * @example Secrets of a password login
 * ```ts
 * import { authSecrets } from "./auth.ts";
 *
 * console.log(authSecrets({ username: "me", password: "s3cret-pw" }).includes("s3cret-pw")); // true
 * ```
 */
export function authSecrets(auth: RegistryAuth | undefined): string[] {
  if (!auth || typeof auth !== "object") return [];
  const secrets: string[] = [];
  for (const value of [auth.password, auth.identitytoken, auth.registrytoken]) {
    if (typeof value === "string" && value.length > 0) secrets.push(value);
  }
  if (typeof auth.password === "string" && auth.password.length > 0) {
    const basic = base64(encoder.encode(`${auth.username ?? ""}:${auth.password}`));
    secrets.push(basic, basic.replaceAll("+", "-").replaceAll("/", "_"));
  }
  try {
    secrets.push(encodeAuthHeader(auth));
  } catch {
    // Not encodable: it was never sent either.
  }
  return secrets.filter((secret) => secret.length >= 4);
}

/**
 * Rebuilds an error whose text contains a secret (a registry or engine that
 * echoes what it was sent), with each secret replaced by `<redacted>`. The
 * error is rebuilt rather than edited so its `stack`, which holds the
 * original message, goes too; the original is not kept as `cause`. API
 * errors keep their class and status; other errors pass unchanged.
 *
 * @param error What a call threw.
 * @param secrets Passwords and tokens that must not appear (empty ones are ignored).
 * @returns The same error, or a scrubbed copy.
 *
 * @example Scrub an echoed password
 * ```ts
 * import { scrubSecrets } from "./auth.ts";
 * import { DockerStreamError } from "./errors.ts";
 *
 * const error = scrubSecrets(new DockerStreamError("bad password hunter2"), ["hunter2"]);
 * console.log((error as Error).message); // "bad password <redacted>"
 * ```
 */
export function scrubSecrets(error: unknown, secrets: readonly (string | undefined)[]): unknown {
  const present = secrets.filter((secret): secret is string => !!secret);
  if (present.length === 0 || !(error instanceof Error)) return error;
  const has = (text: string | undefined) =>
    typeof text === "string" && present.some((secret) => text.includes(secret));
  const clean = (text: string) =>
    present.reduce((out, secret) => out.split(secret).join(REDACTED), text);
  if (
    !has(error.message) && !has(error.stack) &&
    !(error instanceof DockerStreamError && has(error.detail?.message))
  ) {
    return error;
  }
  if (error instanceof DockerStreamError) {
    const detail = error.detail === undefined ? undefined : { ...error.detail };
    if (detail?.message !== undefined) detail.message = clean(detail.message);
    return new DockerStreamError(clean(error.message), detail, clean(error.engineMessage));
  }
  if (error instanceof DockerApiError) {
    const Class = error instanceof DockerNotFoundError
      ? DockerNotFoundError
      : error instanceof DockerConflictError
      ? DockerConflictError
      : DockerApiError;
    // The message is "Cannot <action>: engine answered …": keep the action.
    const end = error.message.indexOf(": engine answered ");
    const action = error.message.startsWith("Cannot ") && end > 0
      ? clean(error.message.slice("Cannot ".length, end))
      : undefined;
    return new Class({
      status: error.status,
      statusText: error.statusText,
      method: error.method,
      path: clean(error.path),
      engineMessage: clean(error.engineMessage),
      ...(action === undefined ? {} : { action }),
    });
  }
  return new DockerError(clean(error.message));
}

// ---------------------------------------------------------------------------
// Redacted credential objects
// ---------------------------------------------------------------------------

const INSPECT_DENO = Symbol.for("Deno.customInspect");
const INSPECT_NODE = Symbol.for("nodejs.util.inspect.custom");

/** What a credential object shows instead of its secrets. */
function describe(auth: RegistryAuth): string {
  const parts: string[] = [];
  if (auth.serveraddress !== undefined) {
    parts.push(`serveraddress: ${JSON.stringify(auth.serveraddress)}`);
  }
  if (auth.username !== undefined) parts.push(`username: ${JSON.stringify(auth.username)}`);
  for (const field of ["password", "identitytoken", "registrytoken"] as const) {
    if (auth[field] !== undefined) parts.push(`${field}: <redacted>`);
  }
  return `RegistryAuth { ${parts.join(", ")} }`;
}

/**
 * Makes a credential object that prints without its secrets: its
 * `toString()` and inspection (Deno and Node) show `<redacted>`. The
 * fields stay ordinary, enumerable properties.
 */
function sealed(auth: RegistryAuth): RegistryAuth {
  const copy: RegistryAuth = {};
  for (const field of AUTH_FIELDS) {
    const value = auth[field];
    if (typeof value === "string") copy[field] = value;
  }
  const show = () => describe(copy);
  for (const key of ["toString", INSPECT_DENO, INSPECT_NODE]) {
    Object.defineProperty(copy, key, { value: show, enumerable: false });
  }
  return Object.freeze(copy);
}

/** Whether credentials hold anything usable. */
function hasSecret(auth: RegistryAuth): boolean {
  return Boolean(auth.password || auth.identitytoken || auth.registrytoken || auth.username);
}

// ---------------------------------------------------------------------------
// Docker config
// ---------------------------------------------------------------------------

/** One `auths` entry of a Docker config file. */
interface ConfigAuthEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  email?: unknown;
  identitytoken?: unknown;
  registrytoken?: unknown;
}

/** The parts of `config.json` credentials come from. */
interface DockerConfigFile {
  auths?: Record<string, ConfigAuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** Options of {@linkcode CredentialStore.fromDockerConfig}. */
export interface DockerConfigStoreOptions {
  /**
   * Longest a credential helper may run, in milliseconds; it is killed
   * after that.
   * @default 30000
   */
  helperTimeout?: number;
}

/** Options of the lookups of {@linkcode CredentialStore}. */
export interface CredentialLookupOptions {
  /** Cancels a lookup (and kills a credential helper it started). */
  signal?: AbortSignal;
}

/** The variable that holds the home directory on this OS. */
function homeVariable(): string {
  return Deno.build.os === "windows" ? "USERPROFILE" : "HOME";
}

/** Joins a directory and a file name with the OS separator. */
function join(dir: string, name: string): string {
  const separator = Deno.build.os === "windows" ? "\\" : "/";
  return dir.endsWith("/") || dir.endsWith("\\") ? dir + name : dir + separator + name;
}

/** The directory part of a path, for a permission hint. */
function dirname(path: string): string {
  const index = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return index <= 0 ? (index === 0 ? "/" : ".") : path.slice(0, index);
}

/**
 * Finds the Docker config file like the docker CLI's `config.Dir()`:
 * `$DOCKER_CONFIG/config.json` when `DOCKER_CONFIG` is set (the home
 * variable is then not read, nor needed), else `~/.docker/config.json`;
 * `undefined` when neither variable is set.
 */
function defaultConfigPath(): string | undefined {
  const home = homeVariable();
  const homeGranted = granted({ name: "env", variable: home });
  if (!granted({ name: "env", variable: "DOCKER_CONFIG" })) {
    // DOCKER_CONFIG wins over the home directory, so it must be read first.
    throw new DockerError(
      `Cannot find the Docker config: Deno needs --allow-env=${
        homeGranted
          ? "DOCKER_CONFIG"
          : `DOCKER_CONFIG,${home} (${home} only when DOCKER_CONFIG is unset)`
      }, or pass the config path`,
    );
  }
  const dir = Deno.env.get("DOCKER_CONFIG");
  if (dir) return join(dir, "config.json");
  if (!homeGranted) {
    throw new DockerError(
      `Cannot find the Docker config: DOCKER_CONFIG is unset, so it is ~/.docker/config.json, and Deno needs --allow-env=${home} to find ~ (or set DOCKER_CONFIG, or pass the config path)`,
    );
  }
  const homeDir = Deno.env.get(home);
  if (!homeDir) return undefined;
  return join(join(homeDir, ".docker"), "config.json");
}

/** Reads and checks a Docker config file; a missing file is an empty config. */
async function readDockerConfig(path: string): Promise<DockerConfigFile> {
  if (!granted({ name: "read", path })) {
    throw new DockerError(
      `Cannot read the Docker config "${path}": Deno needs --allow-read=${dirname(path)}`,
    );
  }
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return {};
    // The OS error names the path only; keep it as the cause.
    throw new DockerError(`Cannot read the Docker config "${path}"`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The SyntaxError quotes the file, credentials included: never pass it on.
    throw new DockerError(`Cannot read the Docker config "${path}": it is not valid JSON`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new DockerError(`Cannot read the Docker config "${path}": it is not a JSON object`);
  }
  const config = parsed as Record<string, unknown>;
  const out: DockerConfigFile = {};
  if (config.auths && typeof config.auths === "object") {
    out.auths = config.auths as Record<string, ConfigAuthEntry>;
  }
  if (typeof config.credsStore === "string" && config.credsStore !== "") {
    out.credsStore = config.credsStore;
  }
  if (config.credHelpers && typeof config.credHelpers === "object") {
    const helpers: Record<string, string> = {};
    for (const [key, value] of Object.entries(config.credHelpers as Record<string, unknown>)) {
      if (typeof value === "string" && value !== "") helpers[key] = value;
    }
    out.credHelpers = helpers;
  }
  return out;
}

/** Credentials of one `auths` entry, or `undefined` when it holds none. */
function entryAuth(
  entry: ConfigAuthEntry,
  serveraddress: string,
  path: string,
): RegistryAuth | undefined {
  if (!entry || typeof entry !== "object") return undefined;
  const auth: RegistryAuth = { serveraddress };
  if (typeof entry.auth === "string" && entry.auth !== "") {
    let text: string;
    try {
      const binary = atob(entry.auth.trim());
      text = decoder.decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
    } catch {
      throw new DockerError(
        `Cannot read the credentials of "${serveraddress}" in "${path}": "auth" is not valid base64`,
      );
    }
    const colon = text.indexOf(":");
    if (colon === -1) {
      throw new DockerError(
        `Cannot read the credentials of "${serveraddress}" in "${path}": "auth" is not "user:password"`,
      );
    }
    auth.username = text.slice(0, colon);
    auth.password = text.slice(colon + 1);
  } else {
    if (typeof entry.username === "string" && entry.username !== "") auth.username = entry.username;
    if (typeof entry.password === "string" && entry.password !== "") auth.password = entry.password;
  }
  if (typeof entry.email === "string" && entry.email !== "") auth.email = entry.email;
  if (typeof entry.identitytoken === "string" && entry.identitytoken !== "") {
    auth.identitytoken = entry.identitytoken;
  }
  if (typeof entry.registrytoken === "string" && entry.registrytoken !== "") {
    auth.registrytoken = entry.registrytoken;
  }
  return hasSecret(auth) ? auth : undefined;
}

/** Finds the `auths` entry for `key`: the exact key first, then any key of the same host. */
function findEntry(
  auths: Record<string, ConfigAuthEntry> | undefined,
  key: string,
): ConfigAuthEntry | undefined {
  if (!auths) return undefined;
  if (Object.hasOwn(auths, key)) return auths[key];
  for (const configKey of Object.keys(auths)) {
    if (keyMatches(configKey, key)) return auths[configKey];
  }
  return undefined;
}

/** Finds the credential helper configured for `key`, with the config key that names it. */
function findHelper(
  helpers: Record<string, string> | undefined,
  key: string,
): { name: string; configKey: string } | undefined {
  if (!helpers) return undefined;
  if (Object.hasOwn(helpers, key)) return { name: helpers[key]!, configKey: key };
  for (const configKey of Object.keys(helpers)) {
    if (keyMatches(configKey, key)) return { name: helpers[configKey]!, configKey };
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// CredentialStore
// ---------------------------------------------------------------------------

/** Where a store's credentials come from. */
type Source =
  | { kind: "static"; entries: Map<string, RegistryAuth> }
  | { kind: "config"; path: string | undefined; helperTimeout: number };

/**
 * Finds registry credentials: from a fixed map ({@linkcode CredentialStore.from})
 * or from the user's Docker config ({@linkcode CredentialStore.fromDockerConfig}).
 * Give one to the client (`new Docker({ credentials })`) and pulls and
 * pushes send the right `X-Registry-Auth` by themselves.
 *
 * A store holds its credentials in private fields: printing it shows where
 * they come from, never what they are.
 *
 * @example Use the credentials of `docker login`
 * ```ts ignore
 * import { CredentialStore } from "@berth/docker";
 *
 * const store = CredentialStore.fromDockerConfig();
 * const auth = await store.forImage("registry.example.com/team/app:1.0");
 * console.log(auth); // RegistryAuth { serveraddress: "registry.example.com", username: "me", password: <redacted> }
 * ```
 */
export class CredentialStore {
  readonly #source: Source;

  private constructor(source: Source) {
    this.#source = source;
  }

  /**
   * A store over a fixed map of credentials by registry address (any form:
   * `docker.io`, `registry.example.com:5000`, `https://host/v2/`).
   *
   * @param entries Credentials by registry.
   * @returns The store.
   * @throws {TypeError} When `entries` is not an object, a key is empty, or
   *   a value is not credentials.
   *
   * @example Credentials for a private registry
   * ```ts
   * import assert from "node:assert/strict";
   * import { CredentialStore } from "./auth.ts";
   *
   * const store = CredentialStore.from({ "registry.example.com": { username: "me", password: "pw" } });
   * const auth = await store.forImage("registry.example.com/app:1");
   * assert.equal(auth?.username, "me");
   * assert.equal(String(auth).includes("pw"), false);
   * ```
   */
  static from(entries: Record<string, RegistryAuth>): CredentialStore {
    if (!entries || typeof entries !== "object") {
      throw new TypeError("CredentialStore.from needs an object of credentials by registry");
    }
    const map = new Map<string, RegistryAuth>();
    for (const [registry, auth] of Object.entries(entries)) {
      const key = registryKey(registry);
      const wire = wireAuth(auth, `Credentials of registry "${registry}"`);
      map.set(key, sealed({ serveraddress: key, ...wire }));
    }
    return new CredentialStore({ kind: "static", entries: map });
  }

  /**
   * A store over a Docker config file (`config.json` as written by `docker
   * login`), read on every lookup. Nothing is read here.
   *
   * @param path The config file. @default `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`
   * @param options `helperTimeout`.
   * @returns The store.
   *
   * @example Pull with the user's credentials
   * ```ts ignore
   * import { CredentialStore, Docker } from "@berth/docker";
   *
   * await using docker = new Docker({ credentials: CredentialStore.fromDockerConfig() });
   * await docker.images.pull("registry.example.com/team/app:1.0");
   * ```
   */
  static fromDockerConfig(path?: string, options: DockerConfigStoreOptions = {}): CredentialStore {
    if (path !== undefined && (typeof path !== "string" || path === "")) {
      throw new TypeError("A Docker config path must be a non-empty string");
    }
    const helperTimeout = options.helperTimeout ?? DEFAULT_HELPER_TIMEOUT;
    if (!Number.isFinite(helperTimeout) || helperTimeout <= 0) {
      throw new RangeError(`helperTimeout must be a positive number of ms (got ${helperTimeout})`);
    }
    return new CredentialStore({ kind: "config", path, helperTimeout });
  }

  /**
   * The credentials for a registry.
   *
   * @param registry A registry address: `docker.io`, `registry.example.com:5000`, ...
   * @param options `signal`.
   * @returns The credentials (printing as `<redacted>`), or `undefined` when there are none.
   * @throws {TypeError} When `registry` is empty.
   * @throws {DockerError} When the config cannot be read, a permission is
   *   missing (the message names the flag), or a credential helper fails.
   *
   * @example Look up Docker Hub
   * ```ts ignore
   * import { CredentialStore } from "@berth/docker";
   * const auth = await CredentialStore.fromDockerConfig().get("docker.io");
   * console.log(auth?.username);
   * ```
   */
  async get(
    registry: string,
    options: CredentialLookupOptions = {},
  ): Promise<RegistryAuth | undefined> {
    const key = registryKey(registry);
    const source = this.#source;
    if (source.kind === "static") return source.entries.get(key);
    const path = source.path ?? defaultConfigPath();
    if (path === undefined) return undefined;
    const config = await readDockerConfig(path);
    const found = await lookup(config, key, path, source.helperTimeout, options.signal);
    return found ? sealed(found) : undefined;
  }

  /**
   * The credentials for the registry of an image reference.
   *
   * @param ref An image reference such as `registry.example.com/app:1.0` or `busybox`.
   * @param options `signal`.
   * @returns The credentials, or `undefined`.
   * @throws {TypeError} When `ref` is empty or malformed.
   * @throws {DockerError} As {@linkcode CredentialStore.get}.
   *
   * @example Credentials for an image
   * ```ts ignore
   * import { CredentialStore } from "@berth/docker";
   * const auth = await CredentialStore.fromDockerConfig().forImage("ghcr.io/me/app:1");
   * ```
   */
  forImage(ref: string, options: CredentialLookupOptions = {}): Promise<RegistryAuth | undefined> {
    return this.get(registryOfImage(ref), options);
  }

  /**
   * Every registry's credentials, for `X-Registry-Config` (builds): the
   * `auths` entries, the registries of `credHelpers`, and those the
   * `credsStore` lists.
   *
   * @param options `signal`.
   * @returns Credentials by registry key (`https://index.docker.io/v1/` or `host[:port]`).
   * @throws {DockerError} As {@linkcode CredentialStore.get}.
   *
   * @example Encode every credential for a build
   * ```ts ignore
   * import { CredentialStore, encodeRegistryConfig } from "@berth/docker";
   * const header = encodeRegistryConfig(await CredentialStore.fromDockerConfig().all());
   * ```
   */
  async all(options: CredentialLookupOptions = {}): Promise<Record<string, RegistryAuth>> {
    const source = this.#source;
    const out: Record<string, RegistryAuth> = {};
    if (source.kind === "static") {
      for (const [key, auth] of source.entries) out[key] = auth;
      return out;
    }
    const path = source.path ?? defaultConfigPath();
    if (path === undefined) return out;
    const config = await readDockerConfig(path);
    const keys = new Set<string>();
    const add = (raw: string) => {
      try {
        keys.add(registryKey(raw));
      } catch {
        // An empty key in the config: nothing to look up.
      }
    };
    for (const raw of Object.keys(config.auths ?? {})) add(raw);
    for (const raw of Object.keys(config.credHelpers ?? {})) add(raw);
    if (config.credsStore) {
      const origin = `credsStore in "${path}"`;
      const listed = await helperList(
        config.credsStore,
        origin,
        source.helperTimeout,
        options.signal,
      );
      for (const raw of listed) add(raw);
    }
    for (const key of keys) {
      const found = await lookup(config, key, path, source.helperTimeout, options.signal);
      if (found) out[key] = sealed(found);
    }
    return out;
  }

  /**
   * Says where the credentials come from, never what they are.
   *
   * @returns Such as `CredentialStore(docker config "/home/me/.docker/config.json")`.
   */
  toString(): string {
    const source = this.#source;
    if (source.kind === "static") return `CredentialStore(${source.entries.size} registries)`;
    return `CredentialStore(docker config ${
      source.path ? JSON.stringify(source.path) : "(default)"
    })`;
  }
}

/** Looks a registry key up in a config, in the docker CLI's order. */
async function lookup(
  config: DockerConfigFile,
  key: string,
  path: string,
  timeout: number,
  signal: AbortSignal | undefined,
): Promise<RegistryAuth | undefined> {
  const helper = findHelper(config.credHelpers, key);
  if (helper) {
    const origin = `credHelpers[${JSON.stringify(helper.configKey)}] in "${path}"`;
    return await helperGet(helper.name, key, origin, timeout, signal);
  }
  if (config.credsStore) {
    const origin = `credsStore in "${path}"`;
    const stored = await helperGet(config.credsStore, key, origin, timeout, signal);
    if (stored) return stored;
  }
  const entry = findEntry(config.auths, key);
  return entry ? entryAuth(entry, key, path) : undefined;
}

/** The client option of credentials, as {@linkcode resolveCredentials} takes it. */
export type CredentialsOption = CredentialStore | "docker-config" | false | undefined;

/**
 * Turns the client's `credentials` option into a store: a
 * {@linkcode CredentialStore} as given, `"docker-config"` for
 * {@linkcode CredentialStore.fromDockerConfig} with defaults, `false` or
 * `undefined` for none.
 *
 * @param option The option.
 * @returns The store, or `undefined`.
 * @throws {TypeError} For any other value.
 *
 * @example Resolve the option
 * ```ts
 * import { resolveCredentials } from "./auth.ts";
 * console.log(resolveCredentials(false)); // undefined
 * ```
 */
export function resolveCredentials(option: CredentialsOption): CredentialStore | undefined {
  if (option === undefined || option === false) return undefined;
  if (option === "docker-config") return CredentialStore.fromDockerConfig();
  if (option instanceof CredentialStore) return option;
  throw new TypeError(
    'The credentials option must be a CredentialStore, "docker-config" or false',
  );
}
