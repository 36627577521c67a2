/**
 * SHA-256 as lowercase hex, for names derived from text (context store
 * directories, BuildKit session keys).
 *
 * @module
 */

/**
 * @param text What to hash (as UTF-8).
 * @returns The digest, 64 hex digits.
 */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
