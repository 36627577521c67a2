/**
 * Where a client connects to, and how: Unix socket, TCP, TLS or ssh. Parses
 * host strings such as `unix:///var/run/docker.sock`, `tcp://10.0.0.2:2375`,
 * `https://10.0.0.2:2376` and `ssh://user@host`, and turns `Deno.connect`
 * failures into {@linkcode DockerConnectionError}s that say what to do.
 *
 * @module
 */

import { DockerConnectionError, DockerTimeoutError } from "../errors.ts";
import { createSshConnector, type SshAddress, type SshOptions } from "./ssh.ts";

export type { SshAddress, SshOptions };

/** TLS material for `https://` and `tcp://` hosts, as PEM text. */
export interface TlsOptions {
  /** CA certificates to trust instead of the system roots (PEM). */
  caCerts?: string[];
  /** Client certificate chain (PEM), for engines started with `--tlsverify`. */
  cert?: string;
  /** Client private key (PEM), paired with {@linkcode TlsOptions.cert}. */
  key?: string;
  /** Name to verify the server certificate against. @default the host name */
  serverName?: string;
}

/** A parsed engine address. */
export type EngineAddress =
  | { transport: "unix"; path: string }
  | { transport: "tcp"; hostname: string; port: number; tls: TlsOptions | undefined }
  | SshAddress;

/** Opens one new connection to the engine. Injected into the HTTP client. */
export interface Connector {
  /** Opens one connection. */
  (): Promise<Deno.Conn>;
  /**
   * Stops connections still being set up and resolves once what the
   * connections closed so far held is released (the ssh processes have
   * exited); absent for sockets, which close at once.
   */
  close?: () => Promise<void>;
}

/** Options of {@linkcode createConnector}. */
export interface ConnectorOptions {
  /** How to run ssh for `ssh://` addresses. */
  ssh?: SshOptions | undefined;
  /**
   * Appended to the message of every `DockerConnectionError` a connect
   * fails with, such as why this address was chosen.
   */
  failureNote?: string | undefined;
}

/**
 * Parses an engine host string.
 *
 * @param host `unix:///abs/path`, `tcp://host:port`, `http://host:port`,
 *   `https://host:port` or `ssh://[user@]host[:port]`. A `tcp://` host uses
 *   TLS when `tls` is given.
 * @param tls TLS material; forces TLS for `tcp://`.
 * @returns The address to connect to.
 * @throws {TypeError} When the host is not one of the supported forms, or
 *   `tls` is given with an `ssh://` host.
 */
export function parseHost(host: string, tls?: TlsOptions): EngineAddress {
  if (host.startsWith("ssh://")) return parseSshHost(host, tls);
  if (host.startsWith("unix://")) {
    const path = host.slice("unix://".length);
    if (!path.startsWith("/")) {
      throw new TypeError(`Cannot use host "${host}": a unix socket path must be absolute`);
    }
    return { transport: "unix", path };
  }
  const match = /^(tcp|http|https):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d{1,5}))?\/?$/.exec(host);
  if (!match) {
    throw new TypeError(
      `Cannot use host "${host}": expected unix:///path, tcp://host:port, https://host:port or ssh://[user@]host[:port]`,
    );
  }
  const scheme = match[1]!;
  const hostname = match[2]!.replace(/^\[(.*)\]$/, "$1");
  const secure = scheme === "https" || (scheme === "tcp" && tls !== undefined);
  const port = match[3] ? Number(match[3]) : secure ? 2376 : 2375;
  if (port < 1 || port > 65535) {
    throw new TypeError(`Cannot use host "${host}": port ${port} is out of range`);
  }
  return { transport: "tcp", hostname, port, tls: secure ? (tls ?? {}) : undefined };
}

/** Visible characters only: no space, control character or DEL (they would reach ssh's argv). */
const PRINTABLE = /^[!-~\u0080-\uffff]+$/;

/**
 * `ssh://[user@]host[:port][/path/to/docker.sock]`, as the docker CLI
 * accepts it (no password, query or fragment). A path names the remote
 * engine's socket: the remote CLI runs with `--host unix://<path>`.
 */
function parseSshHost(host: string, tls: TlsOptions | undefined): SshAddress {
  // Never repeat a password given in the URL.
  const shown = host.replace(/^(ssh:\/\/[^@/]*?):[^@/]*@/, "$1:<redacted>@");
  const fail = (why: string): never => {
    throw new TypeError(`Cannot use host "${shown}": ${why}`);
  };
  if (tls !== undefined) fail("TLS options do not apply to ssh:// hosts (ssh encrypts the link)");
  const rest = host.slice("ssh://".length);
  if (/[?#]/.test(rest)) fail("ssh:// hosts take no query or fragment");
  const slash = rest.indexOf("/");
  let path: string | undefined;
  if (slash !== -1 && slash !== rest.length - 1) {
    try {
      path = decodeURIComponent(rest.slice(slash));
    } catch {
      fail("the socket path is not valid percent-encoding");
    }
    const control = [...path!].some((char) => char < " " || char === "\x7f");
    if (control) fail("the socket path has a control character");
  }
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const at = authority.lastIndexOf("@");
  let user: string | undefined;
  if (at !== -1) {
    user = authority.slice(0, at);
    if (user.includes(":")) fail("passwords are not supported; use a key or an ssh agent");
    try {
      user = decodeURIComponent(user);
    } catch {
      fail("the user name is not valid percent-encoding");
    }
    if (user === "" || user.startsWith("-") || !PRINTABLE.test(user)) {
      fail("the user name is empty or not valid");
    }
  }
  const match = /^(\[[0-9A-Fa-f:.%a-zA-Z0-9]+\]|[^:@\[\]]+)(?::(\d{1,5}))?$/.exec(
    authority.slice(at + 1),
  );
  if (!match) fail("expected ssh://[user@]host[:port][/path]");
  const hostname = match![1]!.replace(/^\[(.*)\]$/, "$1");
  if (hostname.startsWith("-") || !PRINTABLE.test(hostname)) {
    fail("the host name is not valid");
  }
  const address: SshAddress = { transport: "ssh", hostname };
  if (user !== undefined) address.user = user;
  if (match![2] !== undefined) {
    const port = Number(match![2]);
    if (port < 1 || port > 65535) fail(`port ${port} is out of range`);
    address.port = port;
  }
  if (path !== undefined) address.path = path;
  return address;
}

/**
 * Formats an address back into a host string, for messages.
 *
 * @param address A parsed address.
 * @returns `unix:///…`, `tcp://host:port`, `https://host:port` or
 *   `ssh://[user@]host[:port][/path]`.
 */
export function formatHost(address: EngineAddress): string {
  if (address.transport === "unix") return `unix://${address.path}`;
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  if (address.transport === "ssh") {
    const user = address.user === undefined ? "" : `${encodeURIComponent(address.user)}@`;
    const port = address.port === undefined ? "" : `:${address.port}`;
    const path = address.path === undefined ? "" : encodeURI(address.path);
    return `ssh://${user}${host}${port}${path}`;
  }
  return `${address.tls ? "https" : "tcp"}://${host}:${address.port}`;
}

/**
 * The `Host` header for an address: `docker` for Unix sockets and ssh (the
 * engine ignores it there), else `host:port`.
 *
 * @param address A parsed address.
 * @returns The header value.
 */
export function hostHeader(address: EngineAddress): string {
  if (address.transport !== "tcp") return "docker";
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  return `${host}:${address.port}`;
}

/**
 * Builds the connector for an address: each call opens a fresh connection,
 * failing with a {@linkcode DockerConnectionError} (or a
 * {@linkcode DockerTimeoutError} after `connectTimeout` ms). For `ssh://`
 * each connection is an ssh process running `docker system dial-stdio`.
 *
 * @param address Where to connect.
 * @param connectTimeout Milliseconds to wait for the connection; 0 = forever.
 * @param options How to run ssh.
 * @returns A function that opens one connection per call.
 */
export function createConnector(
  address: EngineAddress,
  connectTimeout: number,
  options: ConnectorOptions = {},
): Connector {
  const connector = openConnector(address, connectTimeout, options);
  return options.failureNote === undefined ? connector : noting(connector, options.failureNote);
}

/** A connector whose connection failures end with `note`. */
function noting(connector: Connector, note: string): Connector {
  const noted: Connector = async () => {
    try {
      return await connector();
    } catch (error) {
      if (!(error instanceof DockerConnectionError)) throw error;
      throw new DockerConnectionError(`${error.message} ${note}`, error.host, {
        cause: error.cause,
      });
    }
  };
  if (connector.close) noted.close = connector.close;
  return noted;
}

/** The connector of {@linkcode createConnector}, without its failure note. */
function openConnector(
  address: EngineAddress,
  connectTimeout: number,
  options: ConnectorOptions,
): Connector {
  const host = formatHost(address);
  if (address.transport === "ssh") {
    return createSshConnector(address, host, connectTimeout, options.ssh);
  }
  const open = (): Promise<Deno.Conn> => {
    if (address.transport === "unix") {
      return Deno.connect({ transport: "unix", path: address.path });
    }
    if (!address.tls) {
      return Deno.connect({ hostname: address.hostname, port: address.port });
    }
    const { caCerts, cert, key, serverName } = address.tls;
    const options: Deno.ConnectTlsOptions & Partial<Deno.TlsCertifiedKeyPem> = {
      hostname: serverName ?? address.hostname,
      port: address.port,
    };
    if (caCerts) options.caCerts = caCerts;
    if (cert !== undefined && key !== undefined) {
      options.cert = cert;
      options.key = key;
    }
    return connectTlsTo(address.hostname, options);
  };
  return async () => {
    const pending = open();
    let conn: Deno.Conn;
    try {
      conn = connectTimeout > 0 ? await withTimeout(pending, connectTimeout, host) : await pending;
    } catch (error) {
      if (error instanceof DockerTimeoutError) throw error;
      throw connectionError(error, host, address);
    }
    return conn;
  };
}

/** Connects with TLS, keeping the IP to dial apart from the name to verify. */
async function connectTlsTo(
  dial: string,
  options: Deno.ConnectTlsOptions & Partial<Deno.TlsCertifiedKeyPem>,
): Promise<Deno.TlsConn> {
  if (options.hostname === dial) {
    const conn = await Deno.connectTls(options);
    return await handshake(conn);
  }
  // Dial the given address, then verify against the requested server name.
  const tcp = await Deno.connect({ hostname: dial, port: options.port });
  const startOptions: Deno.StartTlsOptions = { hostname: options.hostname! };
  if (options.caCerts) startOptions.caCerts = options.caCerts;
  if (options.cert !== undefined && options.key !== undefined) {
    // startTls has no client-certificate option: dial by name instead.
    tcp.close();
    return await handshake(await Deno.connectTls(options));
  }
  let conn: Deno.TlsConn;
  try {
    conn = await Deno.startTls(tcp, startOptions);
  } catch (error) {
    tcp.close();
    throw error;
  }
  return await handshake(conn);
}

/** Completes the TLS handshake now, so certificate errors surface at connect. */
async function handshake(conn: Deno.TlsConn): Promise<Deno.TlsConn> {
  try {
    await conn.handshake();
    return conn;
  } catch (error) {
    conn.close();
    throw error;
  }
}

/** Races a connection attempt against a timer; closes a late connection. */
function withTimeout(pending: Promise<Deno.Conn>, ms: number, host: string): Promise<Deno.Conn> {
  return new Promise((resolve, reject) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      reject(
        new DockerTimeoutError(
          `Cannot connect to ${host}: no connection within ${ms} ms`,
          "connect",
          ms,
        ),
      );
    }, ms);
    pending.then(
      (conn) => {
        clearTimeout(timer);
        if (late) conn.close();
        else resolve(conn);
      },
      (error) => {
        clearTimeout(timer);
        if (!late) reject(error);
      },
    );
  });
}

/**
 * Maps a raw connect failure to a {@linkcode DockerConnectionError} with a
 * message that says what to check.
 */
function connectionError(
  error: unknown,
  host: string,
  address: EngineAddress,
): DockerConnectionError {
  const unix = address.transport === "unix";
  let hint: string;
  if (error instanceof Deno.errors.NotCapable) {
    hint = unix
      ? `Deno lacks permission: run with --allow-read=${address.path} --allow-write=${address.path} --allow-net=unix:${address.path}`
      : `Deno lacks permission: run with --allow-net=${address.hostname}:${address.port}`;
  } else if (error instanceof Deno.errors.NotFound) {
    hint = "the socket does not exist; is the engine running?";
  } else if (error instanceof Deno.errors.ConnectionRefused) {
    hint = "the connection was refused; is the engine running?";
  } else if (error instanceof Deno.errors.PermissionDenied) {
    hint = unix
      ? "permission denied on the socket; add the user to the docker group or use the rootless socket"
      : "permission denied";
  } else if (
    error instanceof Deno.errors.InvalidData || /certificate|tls|handshake/i.test(String(error))
  ) {
    hint = `TLS handshake failed (${
      (error as Error).message
    }); check the CA, client certificate and key`;
  } else {
    hint = error instanceof Error ? error.message : String(error);
  }
  return new DockerConnectionError(
    `Cannot connect to the Docker engine at ${host}: ${hint}`,
    host,
    {
      cause: error,
    },
  );
}
