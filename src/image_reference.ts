/**
 * Image references and registry keys: how the docker CLI splits
 * `[registry/]path[:tag][@digest]` and names a registry in `config.json`.
 *
 * @module
 */

/** The `auths` key (and credential helper server URL) of Docker Hub. */
export const DOCKER_HUB_KEY = "https://index.docker.io/v1/";

/** Host names that all mean Docker Hub. */
const HUB_HOSTS = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

/** An image reference split into its parts; see {@linkcode parseImageReference}. */
export interface ImageReferenceParts {
  /**
   * Registry host and port when the reference names one (`127.0.0.1:5000`,
   * `ghcr.io`, `localhost`), else `undefined` (Docker Hub).
   */
  domain: string | undefined;
  /** The repository as written, with its registry part: `ghcr.io/team/app`, `busybox`. */
  repository: string;
  /** The tag, such as `1.0`, if any. */
  tag: string | undefined;
  /** The digest, such as `sha256:…`, if any. */
  digest: string | undefined;
}

/**
 * Splits an image reference (`[registry/]path[:tag][@digest]`) like the
 * docker CLI: the first `/`-separated part is a registry when it contains
 * `.` or `:` or is `localhost`. Nothing is normalised (`busybox` stays
 * `busybox`).
 *
 * @param ref An image reference such as `127.0.0.1:5000/team/app:1.0`.
 * @returns Its registry, repository, tag and digest.
 * @throws {TypeError} When `ref` is empty or has an empty part.
 *
 * @example Split a reference
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseImageReference } from "./image_reference.ts";
 *
 * assert.deepEqual(parseImageReference("localhost:5000/app:1.0"), {
 *   domain: "localhost:5000", repository: "localhost:5000/app", tag: "1.0", digest: undefined,
 * });
 * assert.equal(parseImageReference("busybox").domain, undefined);
 * ```
 */
export function parseImageReference(ref: string): ImageReferenceParts {
  if (typeof ref !== "string" || ref.trim() === "") {
    throw new TypeError(`An image reference is required (got ${JSON.stringify(ref)})`);
  }
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (digest === "") throw new TypeError(`Invalid image reference "${ref}": empty digest`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (tag === "") throw new TypeError(`Invalid image reference "${ref}": empty tag`);
  }
  if (rest === "" || rest.split("/").some((part) => part === "")) {
    throw new TypeError(`Invalid image reference "${ref}": empty name part`);
  }
  const slash = rest.indexOf("/");
  const first = slash === -1 ? "" : rest.slice(0, slash);
  const domain =
    first !== "" && (first.includes(".") || first.includes(":") || first === "localhost")
      ? first
      : undefined;
  return { domain, repository: rest, tag, digest };
}

/**
 * The registry an image reference points to, as `host[:port]`; Docker Hub
 * (and its aliases, and references without a registry part) is
 * `docker.io`.
 *
 * @param ref An image reference such as `ghcr.io/team/app:1.0` or `busybox`.
 * @returns The registry host, such as `ghcr.io` or `docker.io`.
 * @throws {TypeError} When `ref` is empty or malformed.
 *
 * @example Find an image's registry
 * ```ts
 * import assert from "node:assert/strict";
 * import { registryOfImage } from "./image_reference.ts";
 *
 * assert.equal(registryOfImage("busybox"), "docker.io");
 * assert.equal(registryOfImage("index.docker.io/library/busybox"), "docker.io");
 * assert.equal(registryOfImage("127.0.0.1:5000/team/app:1.0"), "127.0.0.1:5000");
 * ```
 */
export function registryOfImage(ref: string): string {
  const domain = parseImageReference(ref).domain?.toLowerCase();
  return domain === undefined || HUB_HOSTS.has(domain) ? "docker.io" : domain;
}

/**
 * The registry a search term goes to, read as the engine reads it: the
 * part before the first `/` when it names a host (has a `.` or `:`, or is
 * `localhost`), else Docker Hub. A term is free text, not a reference:
 * nothing else about it is checked.
 *
 * @param term A search term such as `redis` or `registry.example.com/team/app`.
 * @returns `docker.io` or the lower-cased `host[:port]`.
 *
 * @example Find where a search goes
 * ```ts
 * import assert from "node:assert/strict";
 * import { registryOfSearchTerm } from "./image_reference.ts";
 *
 * assert.equal(registryOfSearchTerm("redis"), "docker.io");
 * assert.equal(registryOfSearchTerm("team/app"), "docker.io");
 * assert.equal(registryOfSearchTerm("Registry.example.com:5000/app"), "registry.example.com:5000");
 * ```
 */
export function registryOfSearchTerm(term: string): string {
  const slash = term.indexOf("/");
  if (slash === -1) return "docker.io";
  const host = term.slice(0, slash).toLowerCase();
  const named = host.includes(".") || host.includes(":") || host === "localhost";
  return !named || HUB_HOSTS.has(host) ? "docker.io" : host;
}

/**
 * The host (and port) of a registry address written in any of the forms
 * config files use: `host:port`, `https://host:port/v2/`, `http://host`.
 */
function hostOf(address: string): string {
  let rest = address.trim();
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(rest);
  if (scheme) rest = rest.slice(scheme[0].length);
  const slash = rest.indexOf("/");
  return (slash === -1 ? rest : rest.slice(0, slash)).toLowerCase();
}

/**
 * The key the docker CLI stores a registry's credentials under: the
 * Docker Hub key for Hub and its aliases, else `host[:port]`.
 *
 * @param registry A registry address: `docker.io`, `https://index.docker.io/v1/`,
 *   `registry.example.com:5000`, `https://registry.example.com:5000/v2/`, ...
 * @returns `https://index.docker.io/v1/` or the lower-cased `host[:port]`.
 * @throws {TypeError} When `registry` is empty.
 *
 * @example Normalise registry addresses
 * ```ts
 * import assert from "node:assert/strict";
 * import { registryKey } from "./image_reference.ts";
 *
 * assert.equal(registryKey("registry-1.docker.io"), "https://index.docker.io/v1/");
 * assert.equal(registryKey("https://Registry.example.com:5000/v2/"), "registry.example.com:5000");
 * ```
 */
export function registryKey(registry: string): string {
  if (typeof registry !== "string" || registry.trim() === "") {
    throw new TypeError(`A registry address is required (got ${JSON.stringify(registry)})`);
  }
  const host = hostOf(registry);
  return HUB_HOSTS.has(host) ? DOCKER_HUB_KEY : host;
}

/**
 * Whether a key of a config file (in whatever form) names the registry `key`.
 *
 * @param configKey A key as the config file has it.
 * @param key A key from {@linkcode registryKey}.
 * @returns Whether both name the same registry.
 */
export function keyMatches(configKey: string, key: string): boolean {
  if (configKey === key) return true;
  try {
    return registryKey(configKey) === key;
  } catch {
    return false;
  }
}
