/**
 * Credential helpers: runs `docker-credential-<name> get|list` the way the
 * docker CLI does, with a timeout, abort, and errors that never carry the
 * secret.
 *
 * @module
 */

import type { RegistryAuth } from "./auth.ts";
import { DockerError } from "./errors.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Whether Deno has granted a permission, without prompting.
 *
 * @param descriptor The permission.
 * @returns `true` when granted.
 */
export function granted(descriptor: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false;
  }
}

/** What a credential helper prints for `get`. */
interface HelperCredentials {
  ServerURL?: unknown;
  Username?: unknown;
  Secret?: unknown;
}

/** Runs `docker-credential-<name> <action>` with `input` on stdin. */
async function runHelper(
  name: string,
  action: "get" | "list",
  input: string,
  what: string,
  timeout: number,
  signal: AbortSignal | undefined,
): Promise<{ ok: boolean; stdout: string }> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
    throw new DockerError(
      `Cannot ${what}: credential helper name ${JSON.stringify(name)} is not a plain name`,
    );
  }
  const command = `docker-credential-${name}`;
  if (!granted({ name: "run", command })) {
    throw new DockerError(
      `Cannot ${what} with credential helper "${command}": Deno needs --allow-run=${command} (which Deno grants only when the helper is on the PATH)`,
    );
  }
  signal?.throwIfAborted();
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeout);
  const onAbort = () => controller.abort();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    const child = new Deno.Command(command, {
      args: [action],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).spawn();
    const writer = child.stdin.getWriter();
    try {
      await writer.write(encoder.encode(input));
      await writer.close();
    } catch {
      // The helper exited without reading its input; its status tells why.
    }
    const output = await child.output();
    if (signal?.aborted) throw signal.reason;
    if (timedOut) {
      throw new DockerError(
        `Cannot ${what}: credential helper "${command}" did not answer within ${timeout} ms`,
      );
    }
    const stdout = decoder.decode(output.stdout);
    if (output.success) return { ok: true, stdout };
    const message = (stdout.trim() || decoder.decode(output.stderr).trim()).split("\n")[0] ?? "";
    if (/credentials not found/i.test(message)) return { ok: false, stdout: "" };
    const excerpt = message.length > 200 ? `${message.slice(0, 200)}…` : message;
    throw new DockerError(
      `Cannot ${what}: credential helper "${command}" failed with exit code ${output.code}${
        excerpt ? `: ${excerpt}` : ""
      }`,
    );
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (error instanceof DockerError) throw error;
    if (error instanceof Deno.errors.NotFound) {
      throw new DockerError(`Cannot ${what}: credential helper "${command}" is not on the PATH`);
    }
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      throw new DockerError(
        `Cannot ${what} with credential helper "${command}": Deno needs --allow-run=${command}`,
        { cause: error },
      );
    }
    throw new DockerError(`Cannot ${what}: credential helper "${command}" could not run`, {
      cause: error,
    });
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

/** Asks a credential helper for the credentials of `key`. */
export async function helperGet(
  name: string,
  key: string,
  timeout: number,
  signal: AbortSignal | undefined,
): Promise<RegistryAuth | undefined> {
  const what = `get credentials for "${key}"`;
  const { ok, stdout } = await runHelper(name, "get", key, what, timeout, signal);
  if (!ok) return undefined;
  let parsed: HelperCredentials;
  try {
    parsed = JSON.parse(stdout) as HelperCredentials;
  } catch {
    throw new DockerError(
      `Cannot ${what}: credential helper "docker-credential-${name}" printed something that is not JSON`,
    );
  }
  const username = typeof parsed?.Username === "string" ? parsed.Username : "";
  const secret = typeof parsed?.Secret === "string" ? parsed.Secret : "";
  if (username === "" && secret === "") return undefined;
  if (username === "<token>") return { identitytoken: secret, serveraddress: key };
  return { username, password: secret, serveraddress: key };
}

/** Asks a credential helper which registries it knows. */
export async function helperList(
  name: string,
  timeout: number,
  signal: AbortSignal | undefined,
): Promise<string[]> {
  const what = "list stored credentials";
  const { ok, stdout } = await runHelper(name, "list", "", what, timeout, signal);
  if (!ok) return [];
  try {
    const parsed = JSON.parse(stdout) as unknown;
    return parsed && typeof parsed === "object" ? Object.keys(parsed) : [];
  } catch {
    throw new DockerError(
      `Cannot ${what}: credential helper "docker-credential-${name}" printed something that is not JSON`,
    );
  }
}
