/**
 * gRPC's message framing over HTTP/2 (the 5-byte prefix: a compressed
 * flag, then the length), shared by the session's calls.
 *
 * @module
 */

/**
 * A message with its 5-byte prefix (uncompressed).
 *
 * @param message The encoded message.
 * @returns The prefix and the message, in one buffer.
 */
export function grpcFrame(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return out;
}
