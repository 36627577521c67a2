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

/**
 * Whether `command` is on the PATH, found without prompting: `"unknown"`
 * when Deno may not read `PATH` or look into one of its directories.
 * Asked only once running the helper was refused: Deno drops an
 * `--allow-run=<name>` it cannot resolve on the PATH, so a missing helper
 * and a missing flag look the same to `Deno.permissions`.
 */
function onPath(command: string): "yes" | "no" | "unknown" {
  if (!granted({ name: "env", variable: "PATH" })) return "unknown";
  let path: string;
  try {
    path = Deno.env.get("PATH") ?? "";
  } catch {
    return "unknown";
  }
  const windows = Deno.build.os === "windows";
  const names = windows
    ? [command, ...[".exe", ".cmd", ".bat", ".com"].map((extension) => command + extension)]
    : [command];
  let unknown = false;
  for (const entry of path.split(windows ? ";" : ":")) {
    // An empty entry is the working directory, as for the shell.
    const dir = entry === "" ? "." : entry;
    for (const name of names) {
      const file = `${dir}${windows ? "\\" : "/"}${name}`;
      if (!granted({ name: "read", path: file })) {
        unknown = true;
        continue;
      }
      try {
        const info = Deno.statSync(file);
        if (info.isFile && (windows || info.mode === null || (info.mode & 0o111) !== 0)) {
          return "yes";
        }
      } catch {
        // Not there (or not ours to look at): the next directory.
      }
    }
  }
  return unknown ? "unknown" : "no";
}

/** The error for a helper that is not on the PATH. */
function notOnPath(what: string, command: string, origin: string, cause?: unknown): DockerError {
  return new DockerError(
    `Cannot ${what}: credential helper "${command}" (from ${origin}) was not found on the PATH`,
    cause === undefined ? undefined : { cause },
  );
}

/** Runs `docker-credential-<name> <action>` with `input` on stdin. */
async function runHelper(
  name: string,
  action: "get" | "list",
  input: string,
  what: string,
  origin: string,
  timeout: number,
  signal: AbortSignal | undefined,
): Promise<{ ok: boolean; stdout: string }> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
    throw new DockerError(
      `Cannot ${what}: credential helper name ${
        JSON.stringify(name)
      } (from ${origin}) is not a plain name`,
    );
  }
  const command = `docker-credential-${name}`;
  if (!granted({ name: "run", command })) {
    const found = onPath(command);
    if (found === "no") throw notOnPath(what, command, origin);
    throw new DockerError(
      `Cannot ${what} with credential helper "${command}" (from ${origin}): Deno needs --allow-run=${command}${
        found === "yes"
          ? ""
          : ", and the helper must be on the PATH (Deno ignores --allow-run for a command it cannot find there)"
      }`,
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
    if (error instanceof Deno.errors.NotFound) throw notOnPath(what, command, origin, error);
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      throw new DockerError(
        `Cannot ${what} with credential helper "${command}" (from ${origin}): Deno needs --allow-run=${command}`,
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

/**
 * Asks a credential helper for the credentials of `key`.
 *
 * @param origin Where the config names the helper, for messages, such as
 *   `credsStore in "/home/me/.docker/config.json"`.
 */
export async function helperGet(
  name: string,
  key: string,
  origin: string,
  timeout: number,
  signal: AbortSignal | undefined,
): Promise<RegistryAuth | undefined> {
  const what = `get credentials for "${key}"`;
  const { ok, stdout } = await runHelper(name, "get", key, what, origin, timeout, signal);
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

/**
 * Asks a credential helper which registries it knows.
 *
 * @param origin Where the config names the helper, for messages.
 */
export async function helperList(
  name: string,
  origin: string,
  timeout: number,
  signal: AbortSignal | undefined,
): Promise<string[]> {
  const what = "list stored credentials";
  const { ok, stdout } = await runHelper(name, "list", "", what, origin, timeout, signal);
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
