/**
 * Header fields of the HTTP/2 server's requests: looking one up, and the
 * rules that make a header or trailer section malformed (RFC 9113 §8.1.1,
 * §8.2, §8.3).
 *
 * @module
 */

/** The pseudo-header fields a request may have (RFC 9113 §8.3.1). */
const REQUEST_PSEUDO = new Set([":method", ":scheme", ":authority", ":path"]);
/** Those it must have; CONNECT, which has neither `:scheme` nor `:path` (§8.5), is not served. */
const REQUIRED_PSEUDO = [":method", ":scheme", ":path"];
/** A regular field name: a token (RFC 9110 §5.6.2) without uppercase (RFC 9113 §8.2.1). */
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
/** Fields about one HTTP/1.1 connection, not the message: malformed in HTTP/2 (§8.2.2). */
const CONNECTION_SPECIFIC = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);
/** A field value with NUL, CR or LF, or starting or ending with SP or HTAB (§8.2.1). */
const BAD_VALUE = /[\0\r\n]|^[ \t]|[ \t]$/;

/**
 * The value of the first field named `name` (a pseudo-field such as
 * `:path`, or gRPC metadata), if any.
 *
 * @param fields A header list.
 * @param name A lowercase field name.
 * @returns The value, or `undefined`.
 */
export function fieldValue(
  fields: readonly [string, string][],
  name: string,
): string | undefined {
  return fields.find(([key]) => key === name)?.[1];
}

/**
 * What makes a request's header section, or its trailer section, malformed
 * (RFC 9113 §8.1.1), if anything.
 *
 * @param fields The decoded fields.
 * @param trailers Whether they are trailers, where no pseudo-header field may be (§8.1).
 * @returns The fault, or `undefined`.
 */
export function malformedFields(
  fields: readonly [string, string][],
  trailers: boolean,
): string | undefined {
  const pseudo = new Set<string>();
  let regular = false;
  for (const [name, value] of fields) {
    if (name.startsWith(":")) {
      if (trailers) return `pseudo-header field ${name} in trailers`;
      if (!REQUEST_PSEUDO.has(name)) return `pseudo-header field ${name}`;
      if (regular) return `${name} after a regular field`;
      if (pseudo.has(name)) return `${name} twice`;
      pseudo.add(name);
    } else {
      regular = true;
      if (!FIELD_NAME.test(name)) return `field name ${JSON.stringify(name)}`;
      if (CONNECTION_SPECIFIC.has(name)) return `connection-specific field ${name}`;
      // TE is the one left, and only to say the client accepts trailers (§8.2.2).
      if (name === "te" && value !== "trailers") return `te ${JSON.stringify(value)}`;
    }
    if (BAD_VALUE.test(value)) return `the value of ${name}`;
  }
  if (trailers) return undefined;
  const missing = REQUIRED_PSEUDO.find((name) => !pseudo.has(name));
  if (missing !== undefined) return `no ${missing}`;
  // "/" stands for no path in http and https URIs: an empty one is malformed (§8.3.1).
  return fieldValue(fields, ":path") === "" ? "an empty :path" : undefined;
}
