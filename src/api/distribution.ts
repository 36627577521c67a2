/**
 * `docker.distribution`: what a registry holds for an image reference —
 * its manifest digest and platforms — asked through the engine, without
 * pulling anything.
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
import type { DistributionInspect } from "../types/mod.ts";
import { type ApiClient, imageSegment, type RequestOptions } from "./_client.ts";

// Re-exported so this module documents on its own (`deno doc --lint`);
// mod.ts exports the same bindings.
export type { RequestOptions } from "./_client.ts";
export type { CredentialLookupOptions, CredentialStore, RegistryAuth } from "../auth.ts";
export type * from "../types/distribution.ts";

/** Options of {@linkcode Distribution.inspect}. */
export interface DistributionInspectOptions extends RequestOptions {
  /**
   * Registry credentials, sent as `X-Registry-Auth`.
   * @default the client's credential store's entry for the image's registry, else anonymous
   */
  auth?: RegistryAuth;
}

/** Options of {@linkcode Distribution}. */
export interface DistributionOptions {
  /** Where to find credentials when a call gives no `auth`. */
  credentials?: CredentialStore | undefined;
}

/** Registry queries through the engine. Reach it as `docker.distribution`. */
export class Distribution {
  readonly #api: ApiClient;
  readonly #credentials: CredentialStore | undefined;

  /**
   * Creates the namespace; use `docker.distribution` rather than calling this.
   *
   * @param api The API client of a {@linkcode Docker} instance.
   * @param options The client's credential store, if any.
   */
  constructor(api: ApiClient, options: DistributionOptions = {}) {
    this.#api = api;
    this.#credentials = options.credentials;
  }

  /**
   * Sends `GET /distribution/{name}/json`: asks the image's registry (with
   * the engine's network and registry settings) for the manifest of a
   * reference: its digest, media type and size, and the platforms of a
   * multi-platform index.
   *
   * @param name Image reference, such as `registry:5000/team/app:1.0` or `busybox`.
   * @param options `auth`, `signal`.
   * @returns The descriptor and the platforms.
   * @throws {TypeError} When `name` is empty or has an empty, `.` or `..` part.
   * @throws {DockerNotFoundError} When the registry knows no such repository
   *   or tag (`manifest unknown`).
   * @throws {DockerApiError} When the registry refuses the credentials
   *   (401), or no credentials were sent where needed or the registry
   *   cannot be reached (the engine answers 500 with the reason).
   *
   * @example Find the digest of a tag before pulling it
   * ```ts ignore
   * import { Docker } from "@berth/docker";
   * await using docker = new Docker();
   * const { Descriptor, Platforms } = await docker.distribution.inspect("busybox:latest");
   * console.log(Descriptor?.digest, Platforms?.map((p) => `${p.os}/${p.architecture}`));
   * ```
   */
  async inspect(
    name: string,
    options: DistributionInspectOptions = {},
  ): Promise<DistributionInspect> {
    const path = `/distribution/${imageSegment(name)}/json`;
    const auth = options.auth ??
      await this.#credentials?.forImage(name, options.signal ? { signal: options.signal } : {});
    try {
      return await this.#api.json<DistributionInspect>({
        method: "GET",
        path,
        headers: auth ? { "X-Registry-Auth": encodeAuthHeader(auth) } : {},
        signal: options.signal,
        action: `inspect image "${name}" in its registry`,
      });
    } catch (error) {
      throw scrubSecrets(error, authSecrets(auth));
    }
  }
}
