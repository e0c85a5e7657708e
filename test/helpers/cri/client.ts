/**
 * A CRI client (runtime.v1.RuntimeService) on @grpc/grpc-js, as kubelet talks to a runtime. Messages
 * are encoded by hand (wire.ts) with the CRI API's field numbers, noted beside each message.
 */
import * as grpc from "@grpc/grpc-js";
import { Decoded, encode, int, map, msg, msgs, str, strs, type Field } from "./wire";

const SERVICE = "/runtime.v1.RuntimeService/";

export interface PortMapping {
  protocol?: "TCP" | "UDP" | "SCTP";
  containerPort: number;
  hostPort: number;
  hostIp?: string;
}

export interface PodSpec {
  name: string;
  namespace: string;
  uid: string;
  attempt?: number;
  hostname?: string;
  logDirectory?: string;
  portMappings?: PortMapping[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface ContainerSpec {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  logPath?: string;
}

export interface RuntimeCondition {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}

export interface SandboxStatus {
  id: string;
  /** 0 SANDBOX_READY, 1 SANDBOX_NOTREADY. */
  state: number;
  ip: string;
  additionalIps: string[];
  /** Verbose info (JSON strings by key), when asked for. */
  info: Record<string, string>;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const PROTOCOLS = { TCP: 0, UDP: 1, SCTP: 2 } as const;

// PodSandboxConfig: metadata 1 (name 1, uid 2, namespace 3, attempt 4), hostname 2, log_directory 3,
// dns_config 4, port_mappings 5 (protocol 1, container_port 2, host_port 3, host_ip 4), labels 6,
// annotations 7, linux 8.
function podSandboxConfig(p: PodSpec): Field[] {
  return [
    ...msg(1, [...str(1, p.name), ...str(2, p.uid), ...str(3, p.namespace), ...int(4, p.attempt)]),
    ...str(2, p.hostname ?? p.name),
    ...str(3, p.logDirectory),
    ...msgs(
      5,
      (p.portMappings ?? []).map((m) => [...int(1, PROTOCOLS[m.protocol ?? "TCP"]), ...int(2, m.containerPort), ...int(3, m.hostPort), ...str(4, m.hostIp)]),
    ),
    ...map(6, p.labels),
    ...map(7, p.annotations),
  ];
}

// ContainerConfig: metadata 1 (name 1, attempt 2), image 2 (ImageSpec image 1), command 3, args 4,
// log_path 11.
function containerConfig(c: ContainerSpec): Field[] {
  return [...msg(1, str(1, c.name)), ...msg(2, str(1, c.image)), ...strs(3, c.command), ...strs(4, c.args), ...str(11, c.logPath)];
}

export class CriClient {
  private readonly client: grpc.Client;

  constructor(socket: string) {
    this.client = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure());
  }

  close(): void {
    this.client.close();
  }

  private call(method: string, request: Field[], timeoutMs = 120_000): Promise<Decoded> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        SERVICE + method,
        (fields: Field[]) => encode(fields),
        (buf: Buffer) => Decoded.from(buf),
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err: grpc.ServiceError | null, value?: Decoded) => {
          if (err !== null) reject(new Error(`CRI ${method}: ${err.details || err.message}`, { cause: err }));
          else resolve(value ?? Decoded.from(new Uint8Array()));
        },
      );
    });
  }

  // VersionRequest: version 1. VersionResponse: version 1, runtime_name 2, runtime_version 3, runtime_api_version 4.
  async version(timeoutMs?: number): Promise<{ runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }> {
    const r = await this.call("Version", str(1, "v1"), timeoutMs);
    return { runtimeName: r.str(2), runtimeVersion: r.str(3), runtimeApiVersion: r.str(4) };
  }

  // StatusRequest: verbose 1. StatusResponse: status 1 (RuntimeStatus: conditions 1 (type 1, status 2, reason 3, message 4)).
  async status(): Promise<RuntimeCondition[]> {
    const r = await this.call("Status", []);
    return r.msg(1).msgs(1).map((c) => ({ type: c.str(1), status: c.bool(2), reason: c.str(3), message: c.str(4) }));
  }

  // RunPodSandboxRequest: config 1, runtime_handler 2. Response: pod_sandbox_id 1.
  async runPodSandbox(p: PodSpec): Promise<string> {
    return (await this.call("RunPodSandbox", msg(1, podSandboxConfig(p)))).str(1);
  }

  // StopPodSandboxRequest / RemovePodSandboxRequest: pod_sandbox_id 1.
  async stopPodSandbox(id: string): Promise<void> {
    await this.call("StopPodSandbox", str(1, id));
  }

  async removePodSandbox(id: string): Promise<void> {
    await this.call("RemovePodSandbox", str(1, id));
  }

  // PodSandboxStatusRequest: pod_sandbox_id 1, verbose 2. Response: status 1, info 2.
  // PodSandboxStatus: id 1, state 3, network 5 (ip 1, additional_ips 2 (PodIP: ip 1)).
  async podSandboxStatus(id: string, verbose = false): Promise<SandboxStatus> {
    const r = await this.call("PodSandboxStatus", [...str(1, id), ...int(2, verbose)]);
    const s = r.msg(1);
    const net = s.msg(5);
    return { id: s.str(1), state: s.int(3), ip: net.str(1), additionalIps: net.msgs(2).map((p) => p.str(1)), info: r.map(2) };
  }

  // ListPodSandboxRequest: filter 1. Response: items 1 (PodSandbox: id 1, state 3).
  async listPodSandbox(): Promise<{ id: string; state: number }[]> {
    const r = await this.call("ListPodSandbox", []);
    return r.msgs(1).map((p) => ({ id: p.str(1), state: p.int(3) }));
  }

  // CreateContainerRequest: pod_sandbox_id 1, config 2, sandbox_config 3. Response: container_id 1.
  async createContainer(podId: string, pod: PodSpec, c: ContainerSpec): Promise<string> {
    const r = await this.call("CreateContainer", [...str(1, podId), ...msg(2, containerConfig(c)), ...msg(3, podSandboxConfig(pod))]);
    return r.str(1);
  }

  // StartContainerRequest: container_id 1.
  async startContainer(id: string): Promise<void> {
    await this.call("StartContainer", str(1, id));
  }

  // ExecSyncRequest: container_id 1, cmd 2, timeout 3 (seconds). Response: stdout 1, stderr 2, exit_code 3.
  async execSync(id: string, cmd: string[], timeoutSeconds = 30): Promise<ExecResult> {
    const r = await this.call("ExecSync", [...str(1, id), ...strs(2, cmd), ...int(3, timeoutSeconds)], (timeoutSeconds + 30) * 1000);
    return { stdout: r.bytes(1).toString("utf8"), stderr: r.bytes(2).toString("utf8"), exitCode: r.int(3) };
  }
}
