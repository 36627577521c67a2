/**
 * Generates `src/types/*.ts` from the Engine API swagger file.
 *
 * ```sh
 * deno run --allow-read --allow-write tools/gen_types.ts --history /tmp/apidocs /tmp/apidocs/v1.41.yaml
 * ```
 *
 * The swagger file (moby's `api/docs/v1.NN.yaml`) is read from the path given
 * as the first argument and is never kept in this repository; DEVELOPERS.md
 * says where to get it. `--history DIR` names a directory with the swagger
 * files of every version (`v1.25.yaml` …) and moby's API changelog
 * (`CHANGELOG.md`); each model and property then gets a note of its API
 * history, as {@linkcode ApiHistory} explains. Without it there are no notes.
 * The committed `src/types/` are generated with it. A small YAML
 * subset parser is included, enough for that file: block mappings and
 * sequences, flow collections, plain and quoted scalars, `|`/`>` block scalars
 * and comments. Anchors, aliases, tags and multiple documents are rejected.
 *
 * What is emitted:
 * - one interface (or alias) per `definitions` entry;
 * - one per inline 200/201 response schema (`${operationId}Response`, or the
 *   schema's title for inline array items) and per request body
 *   (`${operationId}Body`, an alias when the body is a `$ref` or an array);
 * - a few hand-written models the spec leaves untyped ({@linkcode HAND_WRITTEN})
 *   and aliases for names berth uses ({@linkcode ALIASES}).
 *
 * Typing rules: wire names are kept; `enum` of strings becomes a literal union
 * plus `(string & {})`; `x-nullable: true` adds `| null`; integers become
 * `number`; `additionalProperties` becomes `Record<string, T>`; `allOf` becomes
 * `extends` (or an intersection). Models reachable from a response keep only
 * their identity fields (`Id`, `ID`, `Name`) and a few stable ones required,
 * since engines of other versions omit fields; request-only models keep the
 * spec's `required` list.
 *
 * The output is laid out the way `deno fmt` (line width 100) would, so
 * regenerating and `deno fmt --check` agree.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ApiHistory, type ModelSource } from "./_api_history.ts";
import { refName, type Schema, type Spec } from "./_swagger.ts";
import { parseYaml, type YamlValue } from "./_yaml.ts";

export { ApiHistory, type ModelSource } from "./_api_history.ts";
export { parseYaml, YamlError, type YamlValue } from "./_yaml.ts";

// ---------------------------------------------------------------------------
// Swagger model
// ---------------------------------------------------------------------------

/** Output files, in the order `mod.ts` re-exports them. */
const AREAS = {
  common: "Models shared by several areas: mounts, ports, object versions, progress and errors.",
  containers:
    "Container models: create and update bodies, host config, inspect, list, wait, top, changes, stats and archive stat.",
  exec: "Exec models: create and start bodies and the inspect response.",
  images:
    "Image models: inspect, list, history, search, delete, prune, and the build, pull and push progress lines.",
  networks: "Network models: networks, endpoints, IPAM, and the create, connect and prune bodies.",
  volumes: "Volume models: volumes, the create body, and the list and prune responses.",
  system: "System models: version, info, events, disk usage and registry auth.",
  swarm: "Swarm models: the swarm itself, nodes, services, tasks, secrets and configs.",
  plugins: "Plugin models: plugins, their settings and privileges.",
  distribution: "Distribution models: the registry-side image descriptor and its platforms.",
} as const;

type Area = keyof typeof AREAS;

/** Which file each definition lives in; unknown definitions go to `common` with a warning. */
const DEFINITION_AREAS: Record<string, Area> = {
  Port: "common",
  MountType: "common",
  Mount: "common",
  Limit: "common",
  ResourceObject: "common",
  GenericResources: "common",
  HealthConfig: "common",
  GraphDriverData: "common",
  ErrorDetail: "common",
  ProgressDetail: "common",
  ErrorResponse: "common",
  IdResponse: "common",
  ObjectVersion: "common",
  Platform: "common",
  Driver: "common",
  MountPoint: "containers",
  DeviceMapping: "containers",
  DeviceRequest: "containers",
  ThrottleDevice: "containers",
  RestartPolicy: "containers",
  Resources: "containers",
  Health: "containers",
  HealthcheckResult: "containers",
  HostConfig: "containers",
  ContainerConfig: "containers",
  NetworkingConfig: "containers",
  NetworkSettings: "containers",
  Address: "containers",
  PortMap: "containers",
  PortBinding: "containers",
  ContainerSummary: "containers",
  ContainerState: "containers",
  ContainerWaitResponse: "containers",
  ContainerWaitExitError: "containers",
  ProcessConfig: "exec",
  ImageHistoryResponseItem: "images",
  ImageConfig: "images",
  ImageInspect: "images",
  ImageSummary: "images",
  ImageID: "images",
  BuildInfo: "images",
  BuildCache: "images",
  CreateImageInfo: "images",
  PushImageInfo: "images",
  ImageDeleteResponseItem: "images",
  Network: "networks",
  ConfigReference: "networks",
  IPAM: "networks",
  IPAMConfig: "networks",
  NetworkContainer: "networks",
  PeerInfo: "networks",
  EndpointSettings: "networks",
  EndpointIPAMConfig: "networks",
  Volume: "volumes",
  VolumeCreateOptions: "volumes",
  VolumeListResponse: "volumes",
  AuthConfig: "system",
  SystemVersion: "system",
  SystemInfo: "system",
  PluginsInfo: "system",
  RegistryServiceConfig: "system",
  IndexInfo: "system",
  Runtime: "system",
  Commit: "system",
  EventActor: "system",
  EventMessage: "system",
  NodeSpec: "swarm",
  Node: "swarm",
  NodeDescription: "swarm",
  EngineDescription: "swarm",
  TLSInfo: "swarm",
  NodeStatus: "swarm",
  NodeState: "swarm",
  ManagerStatus: "swarm",
  Reachability: "swarm",
  SwarmSpec: "swarm",
  ClusterInfo: "swarm",
  JoinTokens: "swarm",
  Swarm: "swarm",
  TaskSpec: "swarm",
  TaskState: "swarm",
  NetworkAttachment: "swarm",
  NetworkAttachmentConfig: "swarm",
  Task: "swarm",
  ServiceSpec: "swarm",
  EndpointPortConfig: "swarm",
  EndpointSpec: "swarm",
  Service: "swarm",
  ServiceUpdateResponse: "swarm",
  SecretSpec: "swarm",
  Secret: "swarm",
  ConfigSpec: "swarm",
  Config: "swarm",
  SwarmInfo: "swarm",
  LocalNodeState: "swarm",
  PeerNode: "swarm",
  PluginMount: "plugins",
  PluginDevice: "plugins",
  PluginEnv: "plugins",
  PluginInterfaceType: "plugins",
  PluginPrivilege: "plugins",
  Plugin: "plugins",
  OCIDescriptor: "distribution",
  OCIPlatform: "distribution",
  DistributionInspect: "distribution",
};

/** Which file an operation's inline schemas live in, by the operation's first tag. */
const TAG_AREAS: Record<string, Area> = {
  Container: "containers",
  Exec: "exec",
  Image: "images",
  Network: "networks",
  Volume: "volumes",
  System: "system",
  Swarm: "swarm",
  Node: "swarm",
  Service: "swarm",
  Task: "swarm",
  Secret: "swarm",
  Config: "swarm",
  Plugin: "plugins",
  Distribution: "distribution",
  Session: "system",
};

/**
 * Required fields that stay required in response models beyond the identity
 * ones: fields every engine version sends.
 */
const STABLE_REQUIRED: Record<string, readonly string[]> = {
  ContainerCreateResponse: ["Id", "Warnings"],
  ContainerWaitResponse: ["StatusCode"],
  ContainerChangeResponseItem: ["Path", "Kind"],
  ErrorResponse: ["message"],
};

/** Required fields kept in every model: those that identify the object. */
const IDENTITY = new Set(["Id", "ID", "Name"]);

/** Names berth uses that the spec spells otherwise. */
const ALIASES: { name: string; target: string; doc: string }[] = [
  {
    name: "BuildCachePruneResponse",
    target: "BuildPruneResponse",
    doc: "Response of `POST /build/prune`; another name of {@linkcode BuildPruneResponse}.",
  },
  {
    name: "ExecCreateBody",
    target: "ContainerExecBody",
    doc: "Body of `POST /containers/{id}/exec`; another name of {@linkcode ContainerExecBody}.",
  },
  {
    name: "HistoryResponseItem",
    target: "ImageHistoryResponseItem",
    doc:
      "One layer in `GET /images/{name}/history`; another name of {@linkcode ImageHistoryResponseItem}.",
  },
];

/** Models the spec leaves untyped (`type: object` or a header), written here by hand. */
const HAND_WRITTEN: { area: Area; names: string[]; code: string }[] = [{
  area: "containers",
  names: [
    "ContainerThrottlingData",
    "ContainerCpuUsage",
    "ContainerCpuStats",
    "ContainerMemoryStats",
    "ContainerBlkioStatEntry",
    "ContainerBlkioStats",
    "ContainerStorageStats",
    "ContainerNetworkStats",
    "ContainerPidsStats",
    "ContainerStats",
    "ContainerPathStat",
  ],
  code: `
/** CPU throttling counters of a container (hand-written: the spec leaves stats untyped). */
export interface ContainerThrottlingData {
  /** Number of periods with throttling active. */
  periods?: number;
  /** Number of periods when the container hit its throttling limit. */
  throttled_periods?: number;
  /** Aggregate time the container was throttled for, in nanoseconds. */
  throttled_time?: number;
}

/** CPU time consumed by a container (hand-written). */
export interface ContainerCpuUsage {
  /** Total CPU time consumed, in nanoseconds (Linux) or 100 ns intervals (Windows). */
  total_usage?: number;
  /** Per-core CPU time; omitted on cgroup v2 and Windows. */
  percpu_usage?: number[];
  /** Time spent in kernel mode, in nanoseconds (Linux) or 100 ns intervals (Windows). */
  usage_in_kernelmode?: number;
  /** Time spent in user mode, in nanoseconds (Linux) or 100 ns intervals (Windows). */
  usage_in_usermode?: number;
}

/** CPU statistics of a container (hand-written). */
export interface ContainerCpuStats {
  /** CPU time consumed by the container. */
  cpu_usage?: ContainerCpuUsage;
  /** CPU time of the whole host, in nanoseconds (Linux only). */
  system_cpu_usage?: number;
  /** Number of online CPUs (Linux only). */
  online_cpus?: number;
  /** Throttling counters (Linux only). */
  throttling_data?: ContainerThrottlingData;
}

/** Memory statistics of a container (hand-written). */
export interface ContainerMemoryStats {
  /** Current memory usage in bytes (Linux only). */
  usage?: number;
  /** Peak memory usage in bytes (Linux, cgroup v1 only). */
  max_usage?: number;
  /** Raw cgroup memory counters such as \`cache\`, \`rss\` or \`inactive_file\` (Linux only). */
  stats?: Record<string, number>;
  /** Number of times usage hit the limit (Linux, cgroup v1 only). */
  failcnt?: number;
  /** Memory limit in bytes (Linux only). */
  limit?: number;
  /** Committed bytes (Windows only). */
  commitbytes?: number;
  /** Peak committed bytes (Windows only). */
  commitpeakbytes?: number;
  /** Private working set in bytes (Windows only). */
  privateworkingset?: number;
}

/** One block I/O counter of a device (hand-written). */
export interface ContainerBlkioStatEntry {
  /** Device major number. */
  major?: number;
  /** Device minor number. */
  minor?: number;
  /** Operation such as \`read\`, \`write\`, \`sync\`, \`async\` or \`total\`. */
  op?: string;
  /** Counter value. */
  value?: number;
}

/** Block I/O statistics of a container (hand-written); cgroup v2 fills only the first list. */
export interface ContainerBlkioStats {
  /** Bytes transferred per device and operation. */
  io_service_bytes_recursive?: ContainerBlkioStatEntry[] | null;
  /** I/O operations per device and operation (cgroup v1 only). */
  io_serviced_recursive?: ContainerBlkioStatEntry[] | null;
  /** Queued I/O operations (cgroup v1 only). */
  io_queue_recursive?: ContainerBlkioStatEntry[] | null;
  /** I/O service time (cgroup v1 only). */
  io_service_time_recursive?: ContainerBlkioStatEntry[] | null;
  /** I/O wait time (cgroup v1 only). */
  io_wait_time_recursive?: ContainerBlkioStatEntry[] | null;
  /** Merged I/O operations (cgroup v1 only). */
  io_merged_recursive?: ContainerBlkioStatEntry[] | null;
  /** I/O time (cgroup v1 only). */
  io_time_recursive?: ContainerBlkioStatEntry[] | null;
  /** Sectors transferred (cgroup v1 only). */
  sectors_recursive?: ContainerBlkioStatEntry[] | null;
}

/** Storage statistics of a container (hand-written; Windows only). */
export interface ContainerStorageStats {
  /** Normalized read operations. */
  read_count_normalized?: number;
  /** Bytes read. */
  read_size_bytes?: number;
  /** Normalized write operations. */
  write_count_normalized?: number;
  /** Bytes written. */
  write_size_bytes?: number;
}

/** Network statistics of one interface of a container (hand-written). */
export interface ContainerNetworkStats {
  /** Bytes received. */
  rx_bytes?: number;
  /** Packets received. */
  rx_packets?: number;
  /** Receive errors. */
  rx_errors?: number;
  /** Incoming packets dropped. */
  rx_dropped?: number;
  /** Bytes sent. */
  tx_bytes?: number;
  /** Packets sent. */
  tx_packets?: number;
  /** Send errors. */
  tx_errors?: number;
  /** Outgoing packets dropped. */
  tx_dropped?: number;
  /** Endpoint id (Windows only). */
  endpoint_id?: string;
  /** Instance id (Windows only). */
  instance_id?: string;
}

/** Process counters of a container (hand-written; Linux only). */
export interface ContainerPidsStats {
  /** Number of processes in the cgroup. */
  current?: number;
  /** Process limit of the cgroup; absent or 0 when unlimited. */
  limit?: number;
}

/**
 * One sample of \`GET /containers/{id}/stats\` (hand-written: the spec only says
 * \`type: object\`). Counters are 64-bit on the wire and lose precision beyond 2^53.
 */
export interface ContainerStats {
  /** Time of this sample (RFC 3339 with nanoseconds). */
  read?: string;
  /** Time of the previous sample; the zero time on the first one. */
  preread?: string;
  /** Process counters. */
  pids_stats?: ContainerPidsStats;
  /** Block I/O counters. */
  blkio_stats?: ContainerBlkioStats;
  /** Number of processors (Windows only). */
  num_procs?: number;
  /** Storage counters (Windows only). */
  storage_stats?: ContainerStorageStats;
  /** CPU counters of this sample. */
  cpu_stats?: ContainerCpuStats;
  /** CPU counters of the previous sample, to compute a usage percentage. */
  precpu_stats?: ContainerCpuStats;
  /** Memory counters. */
  memory_stats?: ContainerMemoryStats;
  /** Container name, with its leading \`/\`. */
  name?: string;
  /** Container id. */
  id?: string;
  /** Network counters by interface name (absent with \`--network none\` or host networking). */
  networks?: Record<string, ContainerNetworkStats>;
}

/**
 * What the \`X-Docker-Container-Path-Stat\` header of \`HEAD\`/\`GET /containers/{id}/archive\`
 * decodes to (base64 JSON; hand-written, the spec describes it in prose only).
 */
export interface ContainerPathStat {
  /** Base name of the path. */
  name: string;
  /** Size in bytes. */
  size: number;
  /** Go \`os.FileMode\` bits: permissions plus type bits (directory is \`2 ** 31\`). */
  mode: number;
  /** Modification time (RFC 3339). */
  mtime: string;
  /** Target of a symbolic link, or \`""\`. */
  linkTarget: string;
}
`,
}];

/** Another name for a model or a type expression. */
interface Alias {
  name: string;
  area: Area;
  doc: string;
  /** Either a model name or a schema to render. */
  target: string | Schema;
}

interface Model {
  name: string;
  area: Area;
  schema: Schema;
  /** Prefix for the JSDoc, such as "Response of `GET /info`." */
  origin?: string;
  /** Seed of the response/request classification. */
  role: "definition" | "response" | "request";
  /** Where the model is in the swagger document, to find it in other versions. */
  source: ModelSource;
}

/**
 * Docs for properties the specification leaves undescribed, keyed by
 * `Model.path.Property` or, for names that mean the same everywhere, by the
 * property name alone. Paraphrased from the Engine's behaviour.
 */
const FIELD_DOCS: Record<string, string> = {
  // Names that mean the same in every model.
  ID: "Unique identifier of the object.",
  Id: "Unique identifier of the object.",
  CreatedAt: "Creation time (RFC 3339 with nanoseconds).",
  UpdatedAt: "Time of the last update (RFC 3339 with nanoseconds).",
  Spec: "The user-defined part of the object, as given at create or update.",
  errorDetail: "Structured error; set when the operation failed.",
  error: "Error message; prefer `errorDetail`.",
  progressDetail: "Numeric progress of the current step.",
  progress: "Progress bar rendered as text; `progressDetail` has the numbers.",
  status: "Status text such as `Downloading` or `Pull complete`.",
  Settable: "Parts that `POST /plugins/{name}/set` may change, such as `value` or `source`.",
  // Model-specific.
  "ImageHistoryResponseItem.Id":
    "Id of the layer's image, or `<missing>` for layers built elsewhere.",
  "ImageHistoryResponseItem.Created": "Creation time in seconds since the Unix epoch.",
  "ImageHistoryResponseItem.CreatedBy": "Build instruction that created the layer.",
  "ImageHistoryResponseItem.Tags": "Tags of the image at this layer, if any.",
  "ImageHistoryResponseItem.Size": "Size of the layer in bytes.",
  "ImageHistoryResponseItem.Comment": "Commit message or comment of the layer.",
  "Port.Type": "Protocol of the port.",
  "DeviceMapping.PathOnHost": "Device path on the host.",
  "DeviceMapping.PathInContainer": "Device path inside the container.",
  "DeviceMapping.CgroupPermissions": "Cgroup permissions: a combination of `r`, `w` and `m`.",
  "DeviceRequest.Driver": "Device driver, such as `nvidia`.",
  "DeviceRequest.Count": "Number of devices to request; `-1` for all.",
  "DeviceRequest.DeviceIDs": "Ids of the devices to request; exclusive with `Count`.",
  "Resources.BlkioWeightDevice.Path": "Device path.",
  "Resources.BlkioWeightDevice.Weight": "Block I/O weight of the device.",
  "Limit.NanoCPUs": "CPU quota in units of 10^-9 CPUs.",
  "Limit.MemoryBytes": "Memory limit in bytes.",
  "ResourceObject.NanoCPUs": "CPU quota in units of 10^-9 CPUs.",
  "ResourceObject.MemoryBytes": "Memory in bytes.",
  "GenericResources.NamedResourceSpec": "A resource identified by name, such as one GPU.",
  "GenericResources.NamedResourceSpec.Kind": "Kind of resource, such as `GPU`.",
  "GenericResources.NamedResourceSpec.Value": "Name of the resource.",
  "GenericResources.DiscreteResourceSpec": "A countable resource.",
  "GenericResources.DiscreteResourceSpec.Kind": "Kind of resource, such as `SSD`.",
  "GenericResources.DiscreteResourceSpec.Value": "Amount of the resource.",
  "HostConfig.LogConfig.Type": "Logging driver, such as `json-file`, `local` or `none`.",
  "HostConfig.LogConfig.Config": "Options of the logging driver.",
  "NetworkSettings.SecondaryIPAddresses": "Additional IPv4 addresses (deprecated, usually `null`).",
  "NetworkSettings.SecondaryIPv6Addresses":
    "Additional IPv6 addresses (deprecated, usually `null`).",
  "ImageInspect.RootFS.Type": "Type of the root filesystem, `layers`.",
  "ImageInspect.RootFS.Layers":
    "Digests of the layers' uncompressed content (diff ids), base first.",
  "AuthConfig.username": "Registry user name.",
  "AuthConfig.password": "Registry password or token.",
  "AuthConfig.serveraddress": "Registry address, without the protocol.",
  "ProcessConfig.privileged": "Whether the process runs with extended privileges.",
  "ProcessConfig.user": "User the process runs as.",
  "ProcessConfig.tty": "Whether a TTY is allocated.",
  "ProcessConfig.entrypoint": "Program that was run.",
  "ProcessConfig.arguments": "Arguments of the program.",
  "Network.IPAM": "IP address management settings of the network.",
  "IPAMConfig.Subnet": "Subnet in CIDR notation.",
  "IPAMConfig.IPRange":
    "Range of the subnet to allocate container addresses from, in CIDR notation.",
  "IPAMConfig.Gateway": "Gateway address of the subnet.",
  "IPAMConfig.AuxiliaryAddresses": "Addresses the IPAM driver must not hand out, by host name.",
  "NetworkContainer.Name": "Name of the container.",
  "NetworkContainer.EndpointID": "Id of the container's endpoint on the network.",
  "NetworkContainer.MacAddress": "MAC address of the endpoint.",
  "NetworkContainer.IPv4Address": "IPv4 address of the endpoint, in CIDR notation.",
  "NetworkContainer.IPv6Address": "IPv6 address of the endpoint, in CIDR notation.",
  "BuildInfo.id": "Id of the layer or step the line is about.",
  "BuildInfo.stream": "Build output text, usually ending with a newline.",
  "BuildCache.UsageCount": "Number of times the record was used.",
  "ImageID.ID": "Id of the image.",
  "CreateImageInfo.id": "Id of the layer or tag the line is about.",
  "ErrorDetail.code": "Error code, when the engine sets one.",
  "ErrorDetail.message": "Error message.",
  "ProgressDetail.current": "Bytes or items done so far.",
  "ProgressDetail.total": "Total bytes or items, when known.",
  "EndpointSettings.Links": "Legacy links to other containers, as `name:alias`.",
  "EndpointSettings.Aliases": "Network-scoped aliases of the container.",
  "EndpointIPAMConfig.IPv4Address": "Static IPv4 address of the endpoint.",
  "EndpointIPAMConfig.IPv6Address": "Static IPv6 address of the endpoint.",
  "EndpointIPAMConfig.LinkLocalIPs": "Link-local addresses of the endpoint.",
  "PluginMount.Name": "Name of the mount.",
  "PluginMount.Description": "Description of the mount.",
  "PluginMount.Source": "Source path on the host.",
  "PluginMount.Destination": "Destination path inside the plugin.",
  "PluginMount.Type": "Mount type, such as `bind`.",
  "PluginMount.Options": "Mount options, such as `rbind` and `rw`.",
  "PluginDevice.Name": "Name of the device setting.",
  "PluginDevice.Description": "Description of the device.",
  "PluginDevice.Path": "Device path on the host.",
  "PluginEnv.Name": "Name of the variable.",
  "PluginEnv.Description": "Description of the variable.",
  "PluginEnv.Value": "Value of the variable.",
  "PluginInterfaceType.Prefix": "Prefix of the interface type, `docker`.",
  "PluginInterfaceType.Capability": "Capability the plugin provides, such as `volumedriver`.",
  "PluginInterfaceType.Version": "Version of the interface, such as `1.0`.",
  "PluginPrivilege.Name": "Name of the privilege, such as `network` or `mount`.",
  "PluginPrivilege.Description": "Description of the privilege.",
  "PluginPrivilege.Value": "Values the plugin asks for.",
  "Plugin.Id": "Id of the plugin.",
  "Plugin.Name": "Name of the plugin, such as `tiborvass/sample-volume-plugin:latest`.",
  "Plugin.Settings.Mounts": "Mounts of the plugin, as set by the user.",
  "Plugin.Settings.Env": "Environment of the plugin, as `KEY=value`.",
  "Plugin.Settings.Args": "Arguments of the plugin.",
  "Plugin.Settings.Devices": "Devices of the plugin.",
  "Plugin.Config.Description": "Description of the plugin.",
  "Plugin.Config.Documentation": "URL of the plugin's documentation.",
  "Plugin.Config.Interface.Types": "Interface types the plugin implements.",
  "Plugin.Config.Interface.Socket": "Name of the socket the engine talks to the plugin on.",
  "Plugin.Config.Entrypoint": "Entrypoint of the plugin's process.",
  "Plugin.Config.WorkDir": "Working directory of the plugin's process.",
  "Plugin.Config.User": "User the plugin's process runs as.",
  "Plugin.Config.User.UID": "User id.",
  "Plugin.Config.User.GID": "Group id.",
  "Plugin.Config.Network": "Network of the plugin.",
  "Plugin.Config.Network.Type": "Network mode, such as `host`.",
  "Plugin.Config.Linux": "Linux-specific settings.",
  "Plugin.Config.Linux.Capabilities": "Linux capabilities the plugin needs.",
  "Plugin.Config.Linux.AllowAllDevices": "Whether the plugin may access every device.",
  "Plugin.Config.Linux.Devices": "Devices the plugin needs.",
  "Plugin.Config.PropagatedMount": "Path inside the plugin whose mounts propagate to the host.",
  "Plugin.Config.IpcHost": "Whether the plugin shares the host's IPC namespace.",
  "Plugin.Config.PidHost": "Whether the plugin shares the host's PID namespace.",
  "Plugin.Config.Mounts": "Mounts the plugin declares.",
  "Plugin.Config.Env": "Environment variables the plugin declares.",
  "Plugin.Config.Args": "Arguments the plugin declares.",
  "Plugin.Config.Args.Name": "Name of the arguments setting.",
  "Plugin.Config.Args.Description": "Description of the arguments.",
  "Plugin.Config.Args.Value": "Default arguments.",
  "Plugin.Config.rootfs": "Root filesystem of the plugin image.",
  "Plugin.Config.rootfs.type": "Type of the root filesystem, `layers`.",
  "Plugin.Config.rootfs.diff_ids": "Digests of the layers' uncompressed content.",
  "ObjectVersion.Index": "Version number, to pass back as `version` on update.",
  "NodeDescription.Hostname": "Host name of the node.",
  "EngineDescription.EngineVersion": "Version of the engine on the node.",
  "EngineDescription.Labels": "Engine labels of the node.",
  "EngineDescription.Plugins": "Plugins available on the node.",
  "EngineDescription.Plugins.Type": "Plugin type, such as `Log`, `Network` or `Volume`.",
  "EngineDescription.Plugins.Name": "Plugin name, such as `bridge`.",
  "NodeStatus.Message": "Human-readable detail of the node's state.",
  "ManagerStatus.Leader": "Whether this manager is the Raft leader.",
  "TaskSpec.PluginSpec.PluginPrivilege": "Privileges granted to the plugin.",
  "TaskSpec.Placement": "Where the tasks may be scheduled.",
  "TaskSpec.Placement.Preferences.Spread": "Spread tasks evenly over the values of a node label.",
  "TaskSpec.LogDriver.Name": "Logging driver.",
  "TaskSpec.LogDriver.Options": "Options of the logging driver.",
  "NetworkAttachment.Network": "The network the task is attached to.",
  "Task.Slot": "Slot of the task in a replicated service.",
  "Task.Status": "Observed status of the task.",
  "Task.Status.Timestamp": "Time of the last status change.",
  "Task.Status.State": "Current state of the task.",
  "Task.Status.Message": "Human-readable status message.",
  "Task.Status.Err": "Error that stopped the task, if any.",
  "Task.Status.ContainerStatus": "Status of the task's container.",
  "Task.Status.ContainerStatus.ContainerID": "Id of the container.",
  "Task.Status.ContainerStatus.PID": "Process id of the container's main process.",
  "Task.Status.ContainerStatus.ExitCode": "Exit code of the container.",
  "Task.DesiredState": "State the orchestrator wants the task in.",
  "ServiceSpec.Mode.Replicated": "Run a fixed number of tasks.",
  "ServiceSpec.Mode.Replicated.Replicas": "Number of tasks to run.",
  "ServiceSpec.Mode.Global": "Run one task on every eligible node.",
  "EndpointPortConfig.Name": "Name of the port.",
  "EndpointPortConfig.Protocol": "Protocol of the port.",
  "Service.Endpoint": "Ports and virtual IPs the service is reachable at.",
  "Service.Endpoint.Ports": "Published ports.",
  "Service.Endpoint.VirtualIPs": "Virtual IPs of the service, one per network.",
  "Service.Endpoint.VirtualIPs.NetworkID": "Id of the network.",
  "Service.Endpoint.VirtualIPs.Addr": "Virtual IP in CIDR notation.",
  "Service.UpdateStatus.State": "State of the update.",
  "Service.UpdateStatus.StartedAt": "Start time of the update.",
  "Service.UpdateStatus.CompletedAt": "Completion time of the update.",
  "Service.UpdateStatus.Message": "Human-readable detail of the update.",
  "ContainerSummary.HostConfig": "A summary of the container's host configuration.",
  "ContainerSummary.HostConfig.NetworkMode": "Network mode, such as `bridge` or `host`.",
  "ContainerSummary.NetworkSettings.Networks":
    "Endpoint settings of the container by network name.",
  "ContainerSummary.Mounts": "Mounts of the container.",
  "ContainerState.Dead": "Whether the container is dead (removal failed part way).",
  "ContainerState.Error": "Error of the last start attempt, if any.",
  "SystemVersion.Platform": "Platform of the engine's distribution.",
  "SystemVersion.Platform.Name": "Name of the platform, such as `Docker Engine - Community`.",
  "RegistryServiceConfig.IndexConfigs": "Registries the engine knows about, by name.",
  "SwarmInfo.ControlAvailable": "Whether this node is a manager.",
  "SwarmInfo.Error": "Error of the swarm component, if any.",
  "ContainerInspectResponse.ResolvConfPath": "Path of the container's `resolv.conf` on the host.",
  "ContainerInspectResponse.HostnamePath": "Path of the container's `hostname` file on the host.",
  "ContainerInspectResponse.HostsPath": "Path of the container's `hosts` file on the host.",
  "ContainerInspectResponse.LogPath": "Path of the container's log file on the host.",
  "ContainerInspectResponse.Name": "Name of the container, with a leading `/`.",
  "ContainerInspectResponse.RestartCount": "Number of restarts by the restart policy.",
  "ContainerInspectResponse.Driver": "Storage driver of the container's filesystem.",
  "ContainerInspectResponse.Platform": "Operating system of the container, such as `linux`.",
  "ContainerInspectResponse.MountLabel": "SELinux label of the container's mounts.",
  "ContainerInspectResponse.ProcessLabel": "SELinux label of the container's process.",
  "ContainerInspectResponse.AppArmorProfile": "AppArmor profile of the container.",
  "ContainerInspectResponse.Mounts": "Mounts of the container.",
  "ContainerUpdateResponse.Warnings": "Warnings raised by the update.",
  "BuildPruneResponse.CachesDeleted": "Ids of the deleted build cache records.",
  "ImageSearchResponseItem.description": "Short description of the repository.",
  "ImageSearchResponseItem.is_official": "Whether this is an official image.",
  "ImageSearchResponseItem.is_automated":
    "Whether the repository is an automated build (deprecated).",
  "ImageSearchResponseItem.name": "Name of the repository.",
  "ImageSearchResponseItem.star_count": "Number of stars.",
  "SystemDataUsageResponse.LayersSize": "Disk space used by image layers, in bytes.",
  "SystemDataUsageResponse.Images": "Images and their disk usage.",
  "SystemDataUsageResponse.Containers": "Containers and their disk usage.",
  "SystemDataUsageResponse.Volumes": "Volumes and their disk usage.",
  "SystemDataUsageResponse.BuildCache": "Build cache records and their disk usage.",
  "ExecInspectResponse.CanRemove": "Whether the exec instance can be removed.",
  "ExecInspectResponse.DetachKeys": "Key sequence that detaches from the exec session.",
  "ExecInspectResponse.ID": "Id of the exec instance.",
  "ExecInspectResponse.Running": "Whether the process is still running.",
  "ExecInspectResponse.ExitCode": "Exit code of the process; `null` while it runs.",
  "ExecInspectResponse.ProcessConfig": "The process that was started.",
  "ExecInspectResponse.OpenStdin": "Whether stdin is attached.",
  "ExecInspectResponse.OpenStderr": "Whether stderr is attached.",
  "ExecInspectResponse.OpenStdout": "Whether stdout is attached.",
  "ExecInspectResponse.ContainerID": "Id of the container the process runs in.",
  "NetworkCreateResponse.Warning": "Warning raised while creating the network, if any.",
};

/**
 * Properties the engine sends as `null` although the spec does not say
 * `x-nullable` (Go pointers without `omitempty`), keyed like {@linkcode FIELD_DOCS}.
 */
const NULLABLE_FIELDS = new Set([
  "Resources.MemorySwappiness",
  "ExecInspectResponse.ExitCode",
]);

/** Facts appended to a property's description, keyed like {@linkcode FIELD_DOCS}. */
const FIELD_NOTES: Record<string, string> = {
  "ContainerChangeResponseItem.Kind": "`0` modified, `1` added, `2` deleted.",
};

/** Docs for definitions the specification leaves undescribed. */
const MODEL_DOCS: Record<string, string> = {
  ImageHistoryResponseItem: "One layer of an image, as listed by `GET /images/{name}/history`.",
  ContainerWaitResponse: "Response of `POST /containers/{id}/wait`: the container's exit status.",
  Mount: "A mount to create in a container: a bind mount, a volume, a tmpfs or a named pipe.",
  ErrorDetail: "Structured error of a line in a progress stream (pull, push, build, load).",
  ProgressDetail: "Numeric progress of a line in a progress stream.",
  ThrottleDevice: "A per-device I/O limit.",
  ContainerSummary: "One container as listed by `GET /containers/json`.",
  ProcessConfig: "The process an exec instance runs.",
  ImageSummary: "One image as listed by `GET /images/json`.",
  BuildInfo: "One line of the `POST /build` progress stream.",
  CreateImageInfo: "One line of the `POST /images/create` (pull or import) progress stream.",
  PushImageInfo: "One line of the `POST /images/{name}/push` progress stream.",
  ImageDeleteResponseItem: "One image untagged or deleted by `DELETE /images/{name}` or a prune.",
  Network: "A network as returned by `GET /networks` and `GET /networks/{id}`.",
  IPAM: "IP address management settings of a network.",
  IPAMConfig: "One address pool of a network: subnet, range, gateway.",
  NetworkContainer: "A container's endpoint on a network, as listed by network inspect.",
  PluginMount: "A mount a plugin declares or is configured with.",
  PluginDevice: "A device a plugin declares or is configured with.",
  PluginEnv: "An environment variable a plugin declares or is configured with.",
  PluginInterfaceType: "An interface type a plugin implements, such as `docker.volumedriver/1.0`.",
  NodeSpec: "The user-defined part of a swarm node: name, labels, role and availability.",
  Node: "A swarm node as returned by `GET /nodes` and `GET /nodes/{id}`.",
  Swarm: "The swarm as returned by `GET /swarm`: cluster info plus the join tokens.",
  TaskState: "State of a swarm task.",
  Task: "A swarm task as returned by `GET /tasks` and `GET /tasks/{id}`.",
  EndpointPortConfig: "A port a swarm service publishes.",
  Service: "A swarm service as returned by `GET /services` and `GET /services/{id}`.",
  ServiceUpdateResponse: "Response of `POST /services/{id}/update`.",
  SecretSpec: "The user-defined part of a swarm secret.",
  Secret: "A swarm secret as returned by `GET /secrets` and `GET /secrets/{id}`.",
  ConfigSpec: "The user-defined part of a swarm config.",
  Config: "A swarm config as returned by `GET /configs` and `GET /configs/{id}`.",
  AuthConfig:
    "Registry credentials, as sent to `POST /auth` or base64url-encoded in `X-Registry-Auth`.",
  SystemInfo: "System-wide information returned by `GET /info`.",
  Volume: "A volume as returned by `GET /volumes/{name}` and `POST /volumes/create`.",
};

const LINE_WIDTH = 100;
const DESCRIPTION_LIMIT = 300;
const header = (version: string) =>
  `// Generated by tools/gen_types.ts from the Engine API v${version} specification. Do not edit.`;

class Generator {
  #spec: Spec;
  #definitions: Record<string, Schema>;
  #models = new Map<string, Model>();
  #aliases = new Map<string, Alias>();
  #hand = new Map<string, Area>();
  #responseModels = new Set<string>();
  #version: string;
  #history: ApiHistory | undefined;

  constructor(spec: Spec, history?: ApiHistory) {
    this.#spec = spec;
    this.#history = history;
    this.#definitions = spec.definitions ?? {};
    this.#version = String(spec.info?.version ?? "?");
  }

  /** Builds the file contents, keyed by file name. */
  generate(): Map<string, string> {
    this.#collect();
    this.#classify();
    const files = new Map<string, string>();
    for (const area of Object.keys(AREAS) as Area[]) {
      files.set(`${area}.ts`, this.#file(area));
    }
    files.set("mod.ts", this.#mod());
    return files;
  }

  #claim(name: string): void {
    if (this.#models.has(name) || this.#aliases.has(name) || this.#hand.has(name)) {
      throw new Error(`Two models are named ${name}`);
    }
  }

  #collect(): void {
    for (const [name, schema] of Object.entries(this.#definitions)) {
      let area = DEFINITION_AREAS[name];
      if (!area) {
        console.warn(`warning: definition ${name} has no area; putting it in common.ts`);
        area = "common";
      }
      this.#claim(name);
      this.#models.set(name, {
        name,
        area,
        schema,
        role: "definition",
        source: { kind: "definition", name },
      });
    }
    for (const [path, operations] of Object.entries(this.#spec.paths ?? {})) {
      for (const [method, op] of Object.entries(operations)) {
        if (method === "parameters" || !op.operationId) continue;
        const area = TAG_AREAS[op.tags?.[0] ?? ""] ?? "common";
        const endpoint = `\`${method.toUpperCase()} ${path}\``;
        for (const code of ["200", "201"]) {
          const schema = op.responses?.[code]?.schema;
          if (!schema) continue;
          if (isInlineObject(schema)) {
            const name = `${op.operationId}Response`;
            this.#claim(name);
            this.#models.set(name, {
              name,
              area,
              schema,
              origin: `Response of ${endpoint}.`,
              role: "response",
              source: { kind: "response", operationId: op.operationId, status: code, item: false },
            });
          } else if (schema.type === "array" && schema.items && isInlineObject(schema.items)) {
            const name = schema.items.title ?? `${op.operationId}ResponseItem`;
            this.#claim(name);
            this.#models.set(name, {
              name,
              area,
              schema: schema.items,
              origin: `One item of the response of ${endpoint}.`,
              role: "response",
              source: { kind: "response", operationId: op.operationId, status: code, item: true },
            });
          }
        }
        const body = op.parameters?.find((p) => p.in === "body")?.schema;
        if (!body || body.type === "string") continue;
        const name = `${op.operationId}Body`;
        this.#claim(name);
        const reduced = reduceAllOf(body);
        if (isInlineObject(reduced)) {
          this.#models.set(name, {
            name,
            area,
            schema: reduced,
            origin: `Body of ${endpoint}.`,
            role: "request",
            source: { kind: "body", operationId: op.operationId },
          });
        } else {
          const target = reduced.$ref ? refName(reduced.$ref) : reduced;
          const what = typeof target === "string" ? `; the same as {@linkcode ${target}}` : "";
          this.#aliases.set(name, { name, area, target, doc: `Body of ${endpoint}${what}.` });
        }
      }
    }
    for (const alias of ALIASES) {
      const target = this.#models.get(alias.target) ?? this.#aliases.get(alias.target);
      if (!target) throw new Error(`Alias ${alias.name} names unknown ${alias.target}`);
      this.#claim(alias.name);
      this.#aliases.set(alias.name, { ...alias, area: target.area });
    }
    for (const hand of HAND_WRITTEN) {
      for (const name of hand.names) {
        this.#claim(name);
        this.#hand.set(name, hand.area);
      }
    }
  }

  /** Marks every model reachable from a response, or not reachable from any request. */
  #classify(): void {
    const reach = (roots: Iterable<Schema>): Set<string> => {
      const seen = new Set<string>();
      const visit = (schema: Schema | undefined): void => {
        if (!schema) return;
        if (schema.$ref) {
          const name = refName(schema.$ref);
          if (seen.has(name)) return;
          seen.add(name);
          visit(this.#definitions[name]);
          return;
        }
        for (const child of Object.values(schema.properties ?? {})) visit(child);
        if (typeof schema.additionalProperties === "object") visit(schema.additionalProperties);
        visit(schema.items);
        for (const part of schema.allOf ?? []) visit(part);
      };
      for (const root of roots) visit(root);
      return seen;
    };
    const responses: Schema[] = [];
    const requests: Schema[] = [];
    for (const operations of Object.values(this.#spec.paths ?? {})) {
      for (const [method, op] of Object.entries(operations)) {
        if (method === "parameters") continue;
        for (const response of Object.values(op.responses ?? {})) {
          if (response.schema) responses.push(response.schema);
        }
        for (const p of op.parameters ?? []) if (p.schema) requests.push(p.schema);
      }
    }
    const fromResponses = reach(responses);
    const fromRequests = reach(requests);
    for (const model of this.#models.values()) {
      const response = model.role === "response" ||
        (model.role === "definition" &&
          (fromResponses.has(model.name) || !fromRequests.has(model.name)));
      if (response) this.#responseModels.add(model.name);
    }
  }

  #areaOf(name: string): Area {
    const area = this.#models.get(name)?.area ?? this.#aliases.get(name)?.area ??
      this.#hand.get(name);
    if (!area) throw new Error(`Unknown model ${name}`);
    return area;
  }

  #file(area: Area): string {
    const context: Context = {
      area,
      imports: new Map(),
      keep: () => true,
      path: [],
      response: false,
      source: undefined,
    };
    const blocks: string[] = [];
    for (const model of this.#models.values()) {
      if (model.area === area) blocks.push(this.#model(model, context));
    }
    for (const alias of this.#aliases.values()) {
      if (alias.area !== area) continue;
      // An alias is not found in other versions by name: no history notes.
      context.source = undefined;
      const type = typeof alias.target === "string"
        ? this.#reference(alias.target, context)
        : this.#type(alias.target, context, 0);
      context.keep = () => true;
      context.response = false;
      blocks.push(jsdoc(alias.doc, 0) + typeAlias(alias.name, type));
    }
    for (const hand of HAND_WRITTEN) {
      if (hand.area === area) blocks.push(hand.code.trim());
    }
    const imports = [...context.imports.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([from, names]) => importLine([...names].sort(), `./${from}.ts`));
    const doc = [
      `Engine API v${this.#version} ${AREAS[area].replace(/^./, (c) => c.toLowerCase())}`,
      "",
      "Wire names are kept as the engine sends them. Every field of a response model is optional " +
      "except identity fields, since engines of other versions omit fields; its lists and maps " +
      "may be `null` (the engine sends Go's nil slices and maps so). Enums also accept unknown " +
      "strings. 64-bit integers are typed `number` and lose precision beyond 2^53.",
      "",
      ...this.#historyDoc(),
      "@module",
    ];
    const moduleDoc = "/**\n" +
      doc.flatMap((l) => (l ? wrapWords(l, LINE_WIDTH - 3, "") : [""]))
        .map((l) => (l ? ` * ${l}` : " *")).join("\n") +
      "\n */";
    // `(string & {})` keeps the literals' completions while accepting any string.
    const ignore = blocks.some((b) => b.includes("(string & {})"))
      ? ["// deno-lint-ignore-file ban-types"]
      : [];
    return [
      header(this.#version),
      ...ignore,
      "",
      moduleDoc,
      ...(imports.length ? ["", ...imports] : []),
      "",
      blocks.join("\n\n"),
    ]
      .join("\n") + "\n";
  }

  #mod(): string {
    const lines = [
      header(this.#version),
      "",
      "/**",
      ` * Engine API v${this.#version} models, generated from the swagger specification.`,
      " *",
      " * Wire names are kept (PascalCase `Id`, `State`) so the Engine documentation still applies.",
      " * Response fields are optional except identity fields, response lists and maps may be",
      " * `null`, enums accept unknown strings, and 64-bit integers are typed `number`, so values",
      " * beyond 2^53 lose precision.",
      " *",
      ...this.#historyDoc().flatMap((l) =>
        l ? wrapWords(l, LINE_WIDTH - 3, "").map((w) => ` * ${w}`) : [" *"]
      ),
      " * @module",
      " */",
      "",
      ...Object.keys(AREAS).map((area) => `export type * from "./${area}.ts";`),
    ];
    return lines.join("\n") + "\n";
  }

  /** The module-doc paragraph (and a blank line) that explains the history notes, if any. */
  #historyDoc(): string[] {
    if (!this.#history) return [];
    const [oldest, newest] = this.#history.range;
    return [
      `History notes come from the specifications of API 1.${oldest} to 1.${newest} and the API ` +
      `changelog: "Added in API 1.NN." where a model or field first appears after 1.${oldest} ` +
      "and the changelog names it (older specifications are incomplete, so fields without the " +
      'note may be older than they look), "Deprecated in API 1.NN." where a newer one first ' +
      `marks it deprecated ("Deprecated." where 1.${this.#history.base}'s already does), ` +
      '"Not in API 1.NN and later." where newer specifications lack it.',
      "",
    ];
  }

  #model(model: Model, context: Context): string {
    const schema = reduceAllOf(model.schema);
    let description = firstParagraph(schema.description ?? model.schema.description);
    // Go-generator boilerplate such as "OK response to ContainerTop operation".
    if (/\boperation\.?$/.test(description)) description = "";
    const doc = [model.origin, sentence(description || MODEL_DOCS[model.name] || "")]
      .filter(Boolean).join(" ");
    if (!doc) console.warn(`warning: ${model.name} has no description`);
    context.keep = this.#keepRequired(model.name);
    context.path = [model.name];
    context.response = this.#responseModels.has(model.name);
    context.source = model.source;
    const text = doc || `The \`${model.name}\` model of the Engine API.`;
    const head = jsdoc(withNote(text, this.#historyNote(context, text)), 0);
    if (schema.allOf) {
      const parts = schema.allOf;
      const bases = parts.filter((p) => p.$ref).map((p) =>
        this.#reference(refName(p.$ref!), context)
      );
      const own = parts.filter((p) => !p.$ref);
      if (
        own.every((p) => p.type === "object" && p.properties && !p.allOf && !p.additionalProperties)
      ) {
        const properties: Record<string, Schema> = {};
        for (const part of own) Object.assign(properties, part.properties);
        const required = own.flatMap((p) => p.required ?? []);
        const body = this.#members(properties, required, context, 1);
        const extendsClause = bases.length ? ` extends ${bases.join(", ")}` : "";
        return head + `export interface ${model.name}${extendsClause} {\n${body}}`;
      }
      return head + typeAlias(model.name, this.#type(schema, context, 0));
    }
    if (hasProperties(schema) && !schema.additionalProperties) {
      const body = this.#members(schema.properties!, schema.required ?? [], context, 1);
      return head + `export interface ${model.name} {\n${body}}`;
    }
    return head + typeAlias(model.name, this.#type(schema, context, 0));
  }

  #keepRequired(name: string): (property: string) => boolean {
    if (!this.#responseModels.has(name)) return () => true;
    const stable = STABLE_REQUIRED[name] ?? [];
    return (property) => IDENTITY.has(property) || stable.includes(property);
  }

  #members(
    properties: Record<string, Schema>,
    required: string[],
    context: Context,
    depth: number,
  ): string {
    const pad = "  ".repeat(depth);
    let out = "";
    for (const [key, schema] of Object.entries(properties)) {
      context.path.push(key);
      const doc = this.#propertyDoc(schema, context);
      out += jsdoc(doc, depth);
      const optional = required.includes(key) && context.keep(key) ? "" : "?";
      const name = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? key : JSON.stringify(key);
      const type = this.#type(schema, context, depth, "property");
      out += member(pad, `${name}${optional}`, type);
      context.path.pop();
    }
    return out;
  }

  #propertyDoc(schema: Schema, context: Context): string {
    const key = context.path.at(-1)!;
    const ref = schema.$ref ?? (schema.allOf?.length === 1 ? schema.allOf[0]!.$ref : undefined);
    let text = firstParagraph(schema.description) ||
      FIELD_DOCS[context.path.join(".")] ||
      (ref && firstParagraph(this.#definitions[refName(ref)]?.description)) ||
      FIELD_DOCS[key] ||
      (ref && `See {@linkcode ${refName(ref)}}.`) ||
      "";
    const note = FIELD_NOTES[context.path.join(".")];
    if (note) text = text ? `${sentence(text)} ${note}` : note;
    if (!text) {
      console.warn(`warning: ${context.path.join(".")} has no description`);
      text = `The \`${key}\` field (not described by the specification).`;
    }
    if (schema.format === "int64" || schema.format === "uint64") {
      const note = `${schema.format}, exact only up to 2^53`;
      text = `${text.replace(/\.$/, "")} (${note}).`;
    }
    return withNote(sentence(text), this.#historyNote(context, text));
  }

  /** The history note of the model or property `context.path` names, or `""`; `text` is its doc. */
  #historyNote(context: Context, text: string): string {
    if (!this.#history || !context.source) return "";
    const notes = this.#history.notes(context.source, context.path.slice(1), context.path[0]!);
    if (notes === undefined) console.warn(`warning: no history for ${context.path.join(".")}`);
    // "Deprecated." only when the description does not say so.
    const said = /deprecated/i.test(text);
    return (notes ?? []).filter((note) => !(said && note === "Deprecated.")).join(" ");
  }

  #reference(name: string, context: Context): string {
    const area = this.#areaOf(name);
    if (area !== context.area) {
      let names = context.imports.get(area);
      if (!names) context.imports.set(area, names = new Set());
      names.add(name);
    }
    return name;
  }

  /** Whether values of `schema` may be `null`. */
  /**
   * Whether the engine (Go) sends a nil slice or map as `null`: lists and
   * maps of response models, whatever the spec says.
   */
  #goNil(schema: Schema): boolean {
    let resolved = reduceAllOf(schema);
    if (resolved.$ref) resolved = reduceAllOf(this.#definitions[refName(resolved.$ref)] ?? {});
    return resolved.type === "array" ||
      (resolved.type === "object" && !hasProperties(resolved) && !resolved.allOf);
  }

  #nullable(schema: Schema): boolean {
    if (schema["x-nullable"] === true) return true;
    const ref = schema.$ref ?? (schema.allOf?.length === 1 ? schema.allOf[0]!.$ref : undefined);
    return ref !== undefined && this.#definitions[refName(ref)]?.["x-nullable"] === true;
  }

  /** Renders a type expression; multi-line results are indented for nesting `depth`. */
  #type(schema: Schema, context: Context, depth: number, position: Position = "root"): string {
    const nullable = (position !== "root" && this.#nullable(schema)) ||
      (position === "property" && context.response && schema["x-nullable"] !== false &&
        (this.#goNil(schema) || NULLABLE_FIELDS.has(context.path.join("."))));
    const base = this.#baseType(schema, context, depth);
    if (!nullable) return base;
    if (!base.includes("\n")) return union([base, "null"]);
    // `deno fmt` puts a multi-line union on its own lines, one level deeper.
    const pad = "  ".repeat(depth + 1);
    return `\n${pad}| ${this.#baseType(schema, context, depth + 1)}\n${pad}| null`;
  }

  #baseType(schema: Schema, context: Context, depth: number): string {
    if (schema.$ref) return this.#reference(refName(schema.$ref), context);
    const reduced = reduceAllOf(schema);
    if (reduced !== schema) return this.#baseType(reduced, context, depth);
    if (schema.allOf) {
      return schema.allOf.map((part) => wrap(this.#baseType(part, context, depth))).join(" & ");
    }
    if (Array.isArray(schema.enum) && schema.type !== "object") {
      const literals = schema.enum.map((v) => JSON.stringify(v));
      return schema.type === "string" ? union([...literals, "(string & {})"]) : union(literals);
    }
    switch (schema.type) {
      case "string":
        return "string";
      case "integer":
      case "number":
        return "number";
      case "boolean":
        return "boolean";
      case "array": {
        const item = schema.items ? this.#type(schema.items, context, depth, "element") : "unknown";
        return /^[A-Za-z_$][\w$]*$/.test(item) ? `${item}[]` : `Array<${item}>`;
      }
      case "object":
      case undefined: {
        if (hasProperties(schema)) {
          const pad = "  ".repeat(depth);
          const body = this.#members(
            schema.properties!,
            schema.required ?? [],
            context,
            depth + 1,
          );
          return `{\n${body}${pad}}`;
        }
        const extra = schema.additionalProperties;
        if (extra && typeof extra === "object") {
          return `Record<string, ${this.#type(extra, context, depth, "element")}>`;
        }
        return "Record<string, unknown>";
      }
      default:
        return "unknown";
    }
  }
}

/** Where a type expression appears: `null` rules differ. */
type Position = "root" | "property" | "element";

interface Context {
  area: Area;
  imports: Map<Area, Set<string>>;
  /** Whether a property the spec lists as required stays required in the model being rendered. */
  keep: (property: string) => boolean;
  /** Model name and property names down to the property being rendered. */
  path: string[];
  /** Whether the model being rendered is read from the engine. */
  response: boolean;
  /** Where the model being rendered is in the swagger, for history notes; none for aliases. */
  source: ModelSource | undefined;
}

function hasProperties(schema: Schema): boolean {
  return schema.properties !== undefined && Object.keys(schema.properties).length > 0;
}

function isInlineObject(schema: Schema): boolean {
  const reduced = reduceAllOf(schema);
  return !reduced.$ref && (hasProperties(reduced) || reduced.allOf !== undefined);
}

/**
 * Drops `allOf` parts that add nothing (a bare `type: object`) and unwraps an
 * `allOf` left with one part, keeping the outer description.
 */
function reduceAllOf(schema: Schema): Schema {
  if (!schema.allOf) return schema;
  const parts = schema.allOf.filter((p) =>
    p.$ref || p.allOf || hasProperties(p) || p.additionalProperties || p.enum ||
    (p.type && p.type !== "object")
  );
  if (parts.length === 1) {
    const only = parts[0]!;
    const merged: Schema = { ...only };
    if (schema.description) merged.description = schema.description;
    if (schema["x-nullable"] !== undefined) merged["x-nullable"] = schema["x-nullable"];
    return merged;
  }
  if (parts.length === schema.allOf.length) return schema;
  return { ...schema, allOf: parts };
}

// ---------------------------------------------------------------------------
// Text layout
// ---------------------------------------------------------------------------

/**
 * The first prose paragraph of a description, without markdown tables, joined
 * into one line (list items keep their own lines), cut to the limit, with
 * `*\/` escaped.
 */
function firstParagraph(description: string | undefined): string {
  if (!description) return "";
  const paragraphs = description.trim().split(/\n\s*\n/);
  const isTable = (p: string) =>
    p.split("\n").some((l) => /^\s*\|/.test(l) || /-{3,}\s*\|/.test(l));
  const index = paragraphs.findIndex((p) => p.trim() && !isTable(p));
  if (index < 0) return "";
  let paragraph = paragraphs[index]!;
  // "Possible values are:" followed by a list: keep the list's first sentences.
  const list = paragraphs[index + 1]?.trim();
  if (paragraph.trim().endsWith(":") && list && /^[-*] /.test(list)) {
    let kept = paragraph;
    for (const item of list.split(/\n(?=\s*[-*] )/)) {
      const flat = item.trim().replace(/\s+/g, " ");
      const end = sentenceEnds(flat)[0];
      const short = end === undefined ? flat : flat.slice(0, end + 1);
      if (kept.length + short.length + 1 > DESCRIPTION_LIMIT) {
        kept += "\n- …";
        break;
      }
      kept += "\n" + short;
    }
    paragraph = kept;
  } else if (paragraph.trim().endsWith(":")) {
    const text = paragraph.trim();
    // "…in the form:" followed by a one-line code block: inline it.
    const code = /^(?:```\w*\n(.+)\n```|`([^`\n]+)`)$/.exec(list ?? "");
    const inline = (code?.[1] ?? code?.[2])?.trim();
    if (inline && inline.length <= 80 && !inline.includes("`")) {
      paragraph = `${text.slice(0, -1)} \`${inline}\`.`;
    } else {
      // "…must be located in:" followed by a longer block: drop the dangling sentence.
      const cut = sentenceEnds(text).at(-1) ?? -1;
      paragraph = cut > 0 ? text.slice(0, cut + 1) : text.slice(0, -1) + ".";
    }
  }
  const lines = paragraph.split("\n").map((l) => l.trim()).filter(Boolean);
  const joined: string[] = [];
  for (const line of lines) {
    const clean = line.replace(/\s+/g, " ");
    if (/^[-*] /.test(clean) || joined.length === 0) joined.push(clean);
    else joined[joined.length - 1] += " " + clean;
  }
  let text = joined.join("\n");
  if (text.length > DESCRIPTION_LIMIT) {
    const head = text.slice(0, DESCRIPTION_LIMIT);
    const sentence = sentenceEnds(head).at(-1) ?? -1;
    if (sentence > DESCRIPTION_LIMIT / 3) {
      text = head.slice(0, sentence + 1);
    } else {
      text = head.slice(0, head.lastIndexOf(" ")).replace(/[\s,;:(]+$/, "") + "…";
    }
    if ((text.match(/`/g) ?? []).length % 2 === 1) text = text.replace(/…?$/, "`…");
  }
  return text.replaceAll("*/", "*\\/");
}

/** Indexes of the periods that end a sentence (not "e.g." or "i.e."). */
function sentenceEnds(text: string): number[] {
  return [...text.matchAll(/(?<!\b(?:e\.g|i\.e|etc|vs|e\.g\.,))\.(?=\s)/g)].map((m) => m.index);
}

/**
 * Appends a history note as a sentence, or as a paragraph of its own after a
 * list (a sentence there would join the list's last item).
 */
function withNote(text: string, note: string): string {
  if (!note) return text;
  if (/\n[-*] [^\n]*$/.test(text)) return `${text}\n\n${note}`;
  return `${sentence(text)} ${note}`;
}

/** A JSDoc block for nesting `depth`, on one line when it fits. */
function jsdoc(text: string, depth: number): string {
  const pad = "  ".repeat(depth);
  const single = `${pad}/** ${text} */`;
  if (!text.includes("\n") && single.length <= LINE_WIDTH) return single + "\n";
  const width = LINE_WIDTH - pad.length - 3;
  const lines: string[] = [];
  for (const item of text.split("\n")) {
    if (item === "") {
      lines.push("");
      continue;
    }
    const hanging = /^[-*] /.test(item) ? "  " : "";
    lines.push(...wrapWords(item, width, hanging));
  }
  return `${pad}/**\n${lines.map((l) => `${pad} * ${l}`.trimEnd()).join("\n")}\n${pad} */\n`;
}

/**
 * Greedy word wrap. A code span is never split, a word starting with `@`
 * never starts a line (it would read as a tag), and "API 1.NN" stays on one line.
 */
function wrapWords(text: string, width: number, hanging: string): string[] {
  const words = text.split(/\s+/).filter(Boolean);
  const tokens: string[] = [];
  let inCode = false;
  for (const word of words) {
    // Keep `code spans` and words starting with `@` on the line before.
    const glued = inCode || word.startsWith("@") ||
      (/^1\.\d+\b/.test(word) && tokens.at(-1)?.endsWith("API"));
    if (glued && tokens.length) tokens[tokens.length - 1] += " " + word;
    else tokens.push(word);
    if ((word.match(/`/g) ?? []).length % 2 === 1) inCode = !inCode;
  }
  const lines: string[] = [];
  let line = "";
  for (const token of tokens) {
    if (line && line.length + 1 + token.length > width) {
      lines.push(line);
      line = hanging + token;
    } else {
      line = line ? `${line} ${token}` : token;
    }
  }
  if (line) lines.push(line);
  return lines;
}

/** Ends prose with a period unless it already ends with punctuation or a list. */
function sentence(text: string): string {
  text = text.replace(/^[a-z](?=[a-z]* )/, (c) => c.toUpperCase());
  if (!text || /[.!?:…*_]$/.test(text) || /\n[-*] [^\n]*$/.test(text)) return text;
  return text + ".";
}

function union(members: string[]): string {
  return members.map(wrap).join(" | ");
}

/** Parenthesizes a type expression that would bind wrongly inside `|`, `&` or `[]`. */
function wrap(type: string): string {
  if (type.includes("\n")) return type;
  const compound = topLevelSplit(type, "|").length > 1 || topLevelSplit(type, "&").length > 1;
  return compound ? `(${type})` : type;
}

/** One property line (or lines), laid out as `deno fmt` would. */
function member(pad: string, name: string, type: string): string {
  if (type.startsWith("\n")) return `${pad}${name}:${type};\n`;
  const line = `${pad}${name}: ${type};`;
  if (type.includes("\n") || line.length <= LINE_WIDTH || !isFlatUnion(type)) return line + "\n";
  return `${pad}${name}:\n${splitUnion(type, pad + "  ")};\n`;
}

function typeAlias(name: string, type: string): string {
  const line = `export type ${name} = ${type};`;
  if (type.includes("\n") || line.length <= LINE_WIDTH || !isFlatUnion(type)) return line;
  return `export type ${name} =\n${splitUnion(type, "  ")};`;
}

function isFlatUnion(type: string): boolean {
  return topLevelSplit(type, "|").length > 1;
}

function splitUnion(type: string, pad: string): string {
  return topLevelSplit(type, "|").map((part) => `${pad}| ${part.trim()}`).join("\n");
}

/** Splits at `separator` outside brackets and quotes. */
function topLevelSplit(type: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  let quote = "";
  for (let i = 0; i < type.length; i++) {
    const c = type[i]!;
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = "";
    } else if (c === '"') {
      quote = c;
    } else if ("([{<".includes(c)) {
      depth++;
    } else if (")]}>".includes(c)) {
      depth--;
    } else if (c === separator && depth === 0) {
      parts.push(type.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(type.slice(start));
  return parts;
}

function importLine(names: string[], from: string): string {
  const line = `import type { ${names.join(", ")} } from "${from}";`;
  if (line.length <= LINE_WIDTH) return line;
  return `import type {\n${names.map((n) => `  ${n},`).join("\n")}\n} from "${from}";`;
}

// ---------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------

/**
 * Generates the contents of `src/types/`, keyed by file name.
 *
 * @param spec The parsed swagger document, such as moby's `v1.41.yaml`.
 * @param history The documents of every version; without it, no history notes.
 * @returns The file contents by file name (`containers.ts`, …, `mod.ts`).
 */
export function generateTypes(spec: YamlValue, history?: ApiHistory): Map<string, string> {
  return new Generator(fixSpec(spec as Spec), history).generate();
}

/**
 * Corrects what the v1.41 specification says wrong about what engines send
 * (checked against Docker 20.10, and fixed in later specifications):
 * - `PluginInterfaceType` is a string such as `docker.volumedriver/1.0`
 *   (the engine's type marshals itself so; the 1.52 specification agrees),
 *   not an object;
 * - `POST /services/create` answers `Warnings`, an array (the engine's
 *   field; the 1.44 specification agrees), not `Warning`.
 *
 * What a fix expects and does not find is left as it is.
 *
 * @param spec The parsed specification.
 * @returns A corrected copy.
 */
export function fixSpec(spec: Spec): Spec {
  const fixed = structuredClone(spec);
  const definitions = fixed.definitions ?? {};
  if (definitions.PluginInterfaceType) {
    definitions.PluginInterfaceType = {
      type: "string",
      description: "An interface type a plugin implements, as `prefix.capability/version`, " +
        "such as `docker.volumedriver/1.0`.",
    };
  }
  const created = fixed.paths?.["/services/create"]?.post?.responses?.["201"]?.schema;
  if (created?.properties?.Warning) {
    delete created.properties.Warning;
    created.properties.Warnings = {
      type: "array",
      items: { type: "string" },
      "x-nullable": true,
      description: "Warnings, such as an image that could not be pinned to a digest.",
    };
  }
  return fixed;
}

/**
 * The minor version of a swagger document (`41` for `info.version: "1.41"`).
 *
 * @throws {RangeError} When the version is not `1.NN`.
 */
export function specVersion(spec: YamlValue): number {
  const version = String((spec as Spec).info?.version ?? "");
  const match = /^1\.(\d+)$/.exec(version);
  if (!match) throw new RangeError(`Unexpected API version ${JSON.stringify(version)}`);
  return Number(match[1]);
}

/**
 * Reads every `v1.NN.yaml` in `dir` and the changelog `dir/CHANGELOG.md`;
 * `base` stands in for its own version's file.
 */
async function readHistory(dir: string, base: YamlValue): Promise<ApiHistory> {
  const specs = new Map<number, YamlValue>();
  const folder = dir.replace(/\/?$/, "/");
  for await (const entry of Deno.readDir(dir)) {
    const match = /^v1\.(\d+)\.yaml$/.exec(entry.name);
    if (!match || !entry.isFile) continue;
    const text = await Deno.readTextFile(folder + entry.name);
    try {
      specs.set(Number(match[1]), parseYaml(text));
    } catch (error) {
      throw new Error(`Cannot parse ${folder}${entry.name}`, { cause: error });
    }
  }
  const version = specVersion(base);
  specs.set(version, base);
  const changelog = await Deno.readTextFile(folder + "CHANGELOG.md");
  return new ApiHistory(specs, version, changelog);
}

if (import.meta.main) {
  const usage = "usage: deno run --allow-read --allow-write tools/gen_types.ts " +
    "[--history <dir with v1.NN.yaml files and CHANGELOG.md>] <v1.NN.yaml> [out-dir]";
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      options: { history: { type: "string" } },
      allowPositionals: true,
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    Deno.exit(2);
  }
  const [input, output = new URL("../src/types/", import.meta.url).pathname] = parsed.positionals;
  if (!input || parsed.positionals.length > 2) {
    console.error(usage);
    Deno.exit(2);
  }
  const spec = parseYaml(await Deno.readTextFile(input));
  const history = parsed.values.history === undefined
    ? undefined
    : await readHistory(parsed.values.history, spec);
  const files = generateTypes(spec, history);
  await Deno.mkdir(output, { recursive: true });
  for (const [name, text] of files) {
    await Deno.writeTextFile(`${output.replace(/\/?$/, "/")}${name}`, text);
    console.log(`${name}: ${text.split("\n").length - 1} lines`);
  }
  if (history) {
    const unconfirmed = history.unconfirmed;
    console.log(
      `${unconfirmed.length} first appearances after API 1.${history.range[0]} are not named ` +
        `in the changelog and have no "Added in" note, such as ${
          unconfirmed.slice(0, 3).join(", ")
        }`,
    );
    // JSDoc lines joined, so a note wrapped over two lines counts.
    const all = [...files.values()].join("\n").replace(/\s*\n\s*\*(?!\/)\s*/g, " ");
    const count = (pattern: RegExp) => all.match(pattern)?.length ?? 0;
    const [oldest, newest] = history.range;
    console.log(
      `history from API 1.${oldest} to 1.${newest}: ` +
        `${count(/\bAdded in API 1\.\d+\./g)} "Added in", ` +
        `${count(/\bDeprecated in API 1\.\d+\./g)} "Deprecated in", ` +
        `${count(/\bDeprecated\.(?= Not in API| ?\*\/)/g)} "Deprecated.", ` +
        `${count(/\bNot in API 1\.\d+/g)} "Not in" notes`,
    );
  }
}
