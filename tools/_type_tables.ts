/**
 * The tables of `tools/gen_types.ts`: which file each model goes to, which
 * required fields stay required in response models, the aliases and
 * hand-written models berth adds, and the docs, notes and `null`s the
 * specification lacks.
 *
 * @module
 */

/** Output files, in the order `mod.ts` re-exports them. */
export const AREAS = {
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

export type Area = keyof typeof AREAS;

/** Which file each definition lives in; unknown definitions go to `common` with a warning. */
export const DEFINITION_AREAS: Record<string, Area> = {
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
export const TAG_AREAS: Record<string, Area> = {
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
export const STABLE_REQUIRED: Record<string, readonly string[]> = {
  ContainerCreateResponse: ["Id", "Warnings"],
  ContainerWaitResponse: ["StatusCode"],
  ContainerChangeResponseItem: ["Path", "Kind"],
  ErrorResponse: ["message"],
};

/** Required fields kept in every model: those that identify the object. */
export const IDENTITY = new Set(["Id", "ID", "Name"]);

/** Names berth uses that the spec spells otherwise. */
export const ALIASES: { name: string; target: string; doc: string }[] = [
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
export const HAND_WRITTEN: { area: Area; names: string[]; code: string }[] = [{
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

/**
 * Docs for properties the specification leaves undescribed, keyed by
 * `Model.path.Property` or, for names that mean the same everywhere, by the
 * property name alone. Paraphrased from the Engine's behaviour.
 */
export const FIELD_DOCS: Record<string, string> = {
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
export const NULLABLE_FIELDS = new Set([
  "Resources.MemorySwappiness",
  "ExecInspectResponse.ExitCode",
]);

/** Facts appended to a property's description, keyed like {@linkcode FIELD_DOCS}. */
export const FIELD_NOTES: Record<string, string> = {
  "ContainerChangeResponseItem.Kind": "`0` modified, `1` added, `2` deleted.",
};

/** Docs for definitions the specification leaves undescribed. */
export const MODEL_DOCS: Record<string, string> = {
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
