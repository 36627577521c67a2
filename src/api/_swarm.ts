/**
 * Helpers the swarm namespaces share (nodes, services, secrets, configs,
 * swarm): the `version` query of versioned updates, and base64 data.
 *
 * @module
 */

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
  if (typeof version !== "number") {
    throw new TypeError(
      `Cannot ${action}: options.version (the object's Version.Index) is required`,
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
