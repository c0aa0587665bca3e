/**
 * The generated descriptors checked against the wire contract (../shared/contract/WIRE.md),
 * written out here by hand: a change to a .proto that alters the wire fails this test even if
 * the baseline image were updated carelessly. Every message, enum and service of the API's own
 * packages must be in these tables, so an addition is noticed too. After an intended .proto
 * change, each failure prints the entry to write here and the other places to update.
 */
import {
  type DescEnum,
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
  ScalarType,
} from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import * as api from "../src/index.js";

// "name=number:type", type is a scalar, "enum:<full name>", "msg:<full name>",
// a "repeated " prefix, or "map<k,v>".
const messages: Record<string, string> = {
  "contentservice.WorkspaceInitializer":
    "empty=1:msg:contentservice.EmptyInitializer git=2:msg:contentservice.GitInitializer snapshot=3:msg:contentservice.SnapshotInitializer prebuild=4:msg:contentservice.PrebuildInitializer composite=5:msg:contentservice.CompositeInitializer download=6:msg:contentservice.FileDownloadInitializer backup=7:msg:contentservice.FromBackupInitializer",
  "contentservice.CompositeInitializer":
    "initializer=1:repeated msg:contentservice.WorkspaceInitializer",
  "contentservice.FileDownloadInitializer":
    "files=1:repeated msg:contentservice.FileDownloadInitializer.FileInfo target_location=2:string",
  "contentservice.FileDownloadInitializer.FileInfo":
    "url=1:string file_path=2:string digest=3:string",
  "contentservice.EmptyInitializer": "",
  "contentservice.GitInitializer":
    "remote_uri=1:string upstream_remote_uri=2:string target_mode=3:enum:contentservice.CloneTargetMode clone_target=4:string checkout_location=5:string config=6:msg:contentservice.GitConfig full_clone=7:bool",
  "contentservice.GitConfig":
    "custom_config=1:map<string,string> authentication=2:enum:contentservice.GitAuthMethod auth_user=3:string auth_password=4:string auth_ots=5:string",
  "contentservice.SnapshotInitializer": "snapshot=1:string from_volume_snapshot=2:bool",
  "contentservice.PrebuildInitializer":
    "prebuild=1:msg:contentservice.SnapshotInitializer git=2:repeated msg:contentservice.GitInitializer",
  "contentservice.FromBackupInitializer": "checkout_location=1:string from_volume_snapshot=2:bool",
  "contentservice.GitStatus":
    "branch=1:string latest_commit=2:string uncommitted_files=3:repeated string untracked_files=4:repeated string unpushed_commits=5:repeated string total_uncommitted_files=6:int64 total_untracked_files=7:int64 total_unpushed_commits=8:int64",
  "wsdaemon.InitWorkspaceRequest":
    "id=1:string metadata=2:msg:wsdaemon.WorkspaceMetadata initializer=3:msg:contentservice.WorkspaceInitializer remote_storage_disabled=7:bool storage_quota_bytes=8:int64",
  "wsdaemon.WorkspaceMetadata": "owner=1:string meta_id=2:string",
  "wsdaemon.InitWorkspaceResponse": "",
  "wsdaemon.WaitForInitRequest": "id=1:string",
  "wsdaemon.WaitForInitResponse": "",
  "wsdaemon.IsWorkspaceExistsRequest": "id=1:string",
  "wsdaemon.IsWorkspaceExistsResponse": "exists=1:bool",
  "wsdaemon.TakeSnapshotRequest": "id=1:string return_immediately=2:bool",
  "wsdaemon.TakeSnapshotResponse": "url=1:string",
  "wsdaemon.DisposeWorkspaceRequest": "id=1:string backup=2:bool backup_logs=3:bool",
  "wsdaemon.DisposeWorkspaceResponse": "git_status=1:msg:contentservice.GitStatus",
  "wsdaemon.BackupWorkspaceRequest": "id=1:string",
  "wsdaemon.BackupWorkspaceResponse": "url=1:string",
  "iws.PrepareForUserNSRequest": "",
  "iws.PrepareForUserNSResponse":
    "fs_shift=1:enum:iws.FSShiftMethod persistent_volume_claim=3:bool",
  "iws.WriteIDMappingRequest":
    "pid=1:int64 gid=2:bool mapping=3:repeated msg:iws.WriteIDMappingRequest.Mapping",
  "iws.WriteIDMappingRequest.Mapping": "container_id=1:uint32 host_id=2:uint32 size=3:uint32",
  "iws.WriteIDMappingResponse": "message=1:string error_code=2:uint32",
  "iws.EvacuateCGroupRequest": "",
  "iws.EvacuateCGroupResponse": "",
  "iws.MountProcRequest": "target=1:string pid=2:int64",
  "iws.MountProcResponse": "",
  "iws.UmountProcRequest": "target=1:string pid=2:int64",
  "iws.UmountProcResponse": "",
  "iws.MountNfsRequest": "source=1:string target=2:string args=3:string pid=4:int64",
  "iws.MountNfsResponse": "",
  "iws.UmountNfsRequest": "target=1:string pid=2:int64",
  "iws.UmountNfsResponse": "",
  "iws.TeardownRequest": "",
  "iws.TeardownResponse": "success=2:bool",
  "iws.WipingTeardownRequest": "do_wipe=1:bool",
  "iws.WipingTeardownResponse": "success=1:bool",
  "iws.SetupPairVethsRequest": "pid=1:int64",
  "iws.SetupPairVethsResponse": "",
  "iws.WorkspaceInfoRequest": "",
  "iws.WorkspaceInfoResponse": "resources=1:msg:iws.Resources",
  "iws.Resources": "cpu=1:msg:iws.Cpu memory=2:msg:iws.Memory",
  "iws.Cpu": "used=1:int64 limit=2:int64",
  "iws.Memory": "used=1:int64 limit=2:int64",
  // Extensions (proto/README.md, "Extensions").
  "wsdaemon.GetWorkspaceStateRequest": "id=1:string",
  "wsdaemon.GetWorkspaceStateResponse":
    "state=1:enum:wsdaemon.WorkspaceContentState metadata=2:msg:wsdaemon.WorkspaceMetadata init_error=3:string init_source=4:string snapshots=5:repeated msg:wsdaemon.SnapshotProgress",
  "wsdaemon.SnapshotProgress":
    "url=1:string state=2:enum:wsdaemon.SnapshotState error=3:string bytes=4:int64",
  "wsdaemon.WatchWorkspaceRequest": "id=1:string follow=2:bool await_creation=3:bool",
  "wsdaemon.WatchWorkspaceResponse":
    "snapshot=1:msg:wsdaemon.WorkspaceSnapshot state_change=2:msg:wsdaemon.WorkspaceStateChange operation_started=3:msg:wsdaemon.OperationStarted progress=4:msg:wsdaemon.OperationProgress operation_finished=5:msg:wsdaemon.OperationFinished time=6:msg:google.protobuf.Timestamp",
  "wsdaemon.WorkspaceSnapshot":
    "workspace=1:msg:wsdaemon.WorkspaceSummary progress=2:msg:wsdaemon.OperationProgress",
  "wsdaemon.WorkspaceStateChange":
    "from=1:enum:wsdaemon.WorkspaceContentState to=2:enum:wsdaemon.WorkspaceContentState removed=3:bool error=4:string",
  "wsdaemon.OperationStarted": "operation=1:enum:wsdaemon.WorkspaceOperation",
  "wsdaemon.OperationProgress":
    "operation=1:enum:wsdaemon.WorkspaceOperation phase=2:enum:wsdaemon.OperationPhase initializer=3:string bytes_done=4:int64 bytes_total=5:int64 files_done=6:int64 files_total=7:int64 bytes_per_second=8:double eta_ms=9:int64 elapsed_ms=10:int64 detail=11:string",
  "wsdaemon.OperationFinished":
    "operation=1:enum:wsdaemon.WorkspaceOperation code=2:int32 message=3:string elapsed_ms=4:int64 url=5:string",
  "wsdaemon.ListWorkspacesRequest": "",
  "wsdaemon.ListWorkspacesResponse": "workspaces=1:repeated msg:wsdaemon.WorkspaceSummary",
  "wsdaemon.WorkspaceSummary":
    "id=1:string metadata=2:msg:wsdaemon.WorkspaceMetadata state=3:enum:wsdaemon.WorkspaceContentState size_bytes=4:int64 size_measured_at=5:msg:google.protobuf.Timestamp last_backup=6:msg:wsdaemon.BackupSummary operation=7:enum:wsdaemon.WorkspaceOperation init_error=8:string created_at=9:msg:google.protobuf.Timestamp",
  "wsdaemon.BackupSummary":
    "url=1:string bytes=2:int64 finished_at=3:msg:google.protobuf.Timestamp",
};

const reserved: Record<string, number[]> = {
  "wsdaemon.InitWorkspaceRequest": [4, 5, 6, 9],
  "iws.PrepareForUserNSResponse": [2],
  "iws.TeardownResponse": [1],
};

const enums: Record<string, string> = {
  "contentservice.CloneTargetMode": "REMOTE_HEAD=0 REMOTE_COMMIT=1 REMOTE_BRANCH=2 LOCAL_BRANCH=3",
  "contentservice.GitAuthMethod": "NO_AUTH=0 BASIC_AUTH=1 BASIC_AUTH_OTS=2",
  "wsdaemon.WorkspaceContentState": "NONE=0 SETTING_UP=1 AVAILABLE=2 WRAPPING_UP=3",
  // IDMAPPED=2 is our extension; 1 (FUSE) stays reserved.
  "iws.FSShiftMethod": "SHIFTFS=0 IDMAPPED=2",
  // Extension (proto/README.md, "Extensions").
  "wsdaemon.SnapshotState":
    "SNAPSHOT_STATE_UNSPECIFIED=0 SNAPSHOT_STATE_RUNNING=1 SNAPSHOT_STATE_DONE=2 SNAPSHOT_STATE_FAILED=3",
  "wsdaemon.WorkspaceOperation":
    "WORKSPACE_OPERATION_UNSPECIFIED=0 WORKSPACE_OPERATION_INIT=1 WORKSPACE_OPERATION_SNAPSHOT=2 WORKSPACE_OPERATION_BACKUP=3 WORKSPACE_OPERATION_DISPOSE=4",
  "wsdaemon.OperationPhase":
    "OPERATION_PHASE_UNSPECIFIED=0 OPERATION_PHASE_QUEUED=1 OPERATION_PHASE_PREPARING=2 OPERATION_PHASE_CLONING=3 OPERATION_PHASE_RESTORING=4 OPERATION_PHASE_DOWNLOADING=5 OPERATION_PHASE_ARCHIVING=6 OPERATION_PHASE_GIT_STATUS=7 OPERATION_PHASE_DELETING=8 OPERATION_PHASE_FINALIZING=9",
};

// "Method:Input:Output" per service; "stream " marks a streamed response (server streaming).
const services: Record<string, string> = {
  "wsdaemon.WorkspaceContentService":
    "InitWorkspace:InitWorkspaceRequest:InitWorkspaceResponse WaitForInit:WaitForInitRequest:WaitForInitResponse IsWorkspaceExists:IsWorkspaceExistsRequest:IsWorkspaceExistsResponse TakeSnapshot:TakeSnapshotRequest:TakeSnapshotResponse DisposeWorkspace:DisposeWorkspaceRequest:DisposeWorkspaceResponse BackupWorkspace:BackupWorkspaceRequest:BackupWorkspaceResponse GetWorkspaceState:GetWorkspaceStateRequest:GetWorkspaceStateResponse WatchWorkspace:WatchWorkspaceRequest:stream WatchWorkspaceResponse ListWorkspaces:ListWorkspacesRequest:ListWorkspacesResponse",
  "iws.InWorkspaceService":
    "PrepareForUserNS:PrepareForUserNSRequest:PrepareForUserNSResponse WriteIDMapping:WriteIDMappingRequest:WriteIDMappingResponse EvacuateCGroup:EvacuateCGroupRequest:EvacuateCGroupResponse MountProc:MountProcRequest:MountProcResponse UmountProc:UmountProcRequest:UmountProcResponse MountSysfs:MountProcRequest:MountProcResponse UmountSysfs:UmountProcRequest:UmountProcResponse MountNfs:MountNfsRequest:MountNfsResponse UmountNfs:UmountNfsRequest:UmountNfsResponse Teardown:TeardownRequest:TeardownResponse WipingTeardown:WipingTeardownRequest:WipingTeardownResponse SetupPairVeths:SetupPairVethsRequest:SetupPairVethsResponse WorkspaceInfo:WorkspaceInfoRequest:WorkspaceInfoResponse",
  "iws.WorkspaceInfoService": "WorkspaceInfo:WorkspaceInfoRequest:WorkspaceInfoResponse",
};

const registry = new Map<string, DescMessage>();
const enumRegistry = new Map<string, DescEnum>();
const serviceRegistry = new Map<string, DescService>();
for (const value of Object.values(api)) {
  if (typeof value !== "object" || value === null || !("kind" in value)) continue;
  const desc = value as { kind: string; typeName: string };
  if (desc.kind === "message") registry.set(desc.typeName, value as DescMessage);
  if (desc.kind === "enum") enumRegistry.set(desc.typeName, value as never);
  if (desc.kind === "service") serviceRegistry.set(desc.typeName, value as never);
}

function describeField(f: DescField): string {
  const scalar = (t: ScalarType) => ScalarType[t].toLowerCase();
  switch (f.fieldKind) {
    case "scalar":
      return scalar(f.scalar);
    case "enum":
      return `enum:${f.enum.typeName}`;
    case "message":
      return `msg:${f.message.typeName}`;
    case "list":
      return `repeated ${
        f.listKind === "scalar"
          ? scalar(f.scalar)
          : f.listKind === "enum"
            ? `enum:${f.enum.typeName}`
            : `msg:${f.message.typeName}`
      }`;
    case "map":
      return `map<${scalar(f.mapKey)},${
        f.mapKind === "scalar"
          ? scalar(f.scalar)
          : f.mapKind === "enum"
            ? `enum:${f.enum.typeName}`
            : `msg:${f.message.typeName}`
      }>`;
  }
}

const messageSpec = (desc: DescMessage): string =>
  desc.fields.map((f) => `${f.name}=${f.number}:${describeField(f)}`).join(" ");
const enumSpec = (desc: DescEnum): string =>
  desc.values.map((v) => `${v.name}=${v.number}`).join(" ");
const serviceSpec = (desc: DescService): string => {
  const pkg = desc.typeName.slice(0, desc.typeName.lastIndexOf("."));
  const strip = (t: string) => (t.startsWith(`${pkg}.`) ? t.slice(pkg.length + 1) : t);
  const kind = (m: DescMethod) => {
    if (m.methodKind === "unary") return "";
    if (m.methodKind === "server_streaming") return "stream ";
    // Nothing of the API streams requests; a new one must be pinned here on purpose.
    return `${m.methodKind} `;
  };
  return desc.methods
    .map((m) => `${m.name}:${strip(m.input.typeName)}:${kind(m)}${strip(m.output.typeName)}`)
    .join(" ");
};

/** Packages whose every declaration this file pins; health and reflection are upstream gRPC's. */
const ownPackage = /^(contentservice|wsdaemon|iws)\./;

/** What a failure says: the entry that matches the generated code, and what else to update. */
function howToUpdate(table: string, name: string, actual: string): string {
  return [
    `${name} as generated from proto/ does not match the "${table}" table in libs/api-ts/test/wire-contract.test.ts.`,
    "If the .proto change is intended:",
    `  1. set its entry in "${table}" to  "${name}": ${JSON.stringify(actual)},`,
    '  2. list an addition in proto/README.md under "Extensions" (a renamed field under "Renamed fields"),',
    "  3. run `npx nx run @ws-daemon/api:contract` (buf lint, and buf breaking against proto/wire-baseline.binpb);",
    "     a change buf breaking rejects alters the published wire and needs the reviewed baseline update",
    '     described in proto/README.md under "Checks".',
    "Otherwise fix the .proto.",
  ].join("\n");
}

function gone(kind: string, name: string): string {
  return `${kind} ${name} of the contract table is not generated from proto/ any more; if it was removed on purpose, remove its entry in libs/api-ts/test/wire-contract.test.ts (buf breaking flags the removal as a wire change)`;
}

describe("wire contract", () => {
  it.each(Object.entries(messages))(
    "message %s has exactly the contract's fields",
    (name, spec) => {
      const desc = registry.get(name);
      expect(desc, gone("message", name)).toBeDefined();
      if (desc === undefined) return;
      const actual = messageSpec(desc);
      expect(actual, howToUpdate("messages", name, actual)).toBe(spec);
    },
  );

  it("lists every message, enum and service of the API's own packages", () => {
    const unlisted = [
      ...[...registry.values()]
        .filter((d) => ownPackage.test(d.typeName) && !(d.typeName in messages))
        .map((d) => howToUpdate("messages", d.typeName, messageSpec(d))),
      ...[...enumRegistry.values()]
        .filter((d) => ownPackage.test(d.typeName) && !(d.typeName in enums))
        .map((d) => howToUpdate("enums", d.typeName, enumSpec(d))),
      ...[...serviceRegistry.values()]
        .filter((d) => ownPackage.test(d.typeName) && !(d.typeName in services))
        .map((d) => howToUpdate("services", d.typeName, serviceSpec(d))),
    ];
    expect(unlisted.join("\n\n"), "declarations missing from the contract tables").toBe("");
  });

  it.each(Object.entries(reserved))("message %s reserves %j", (name, numbers) => {
    const ranges = (registry.get(name)?.proto.reservedRange ?? []).map(
      (r) => [r.start ?? 0, (r.end ?? 0) - 1] as const,
    );
    for (const n of numbers) {
      expect(
        ranges.some(([a, b]) => n >= a && n <= b),
        `${name} reserves ${n}`,
      ).toBe(true);
    }
  });

  it("field 4 of WorkspaceInitializer and friends sit in one oneof 'spec'", () => {
    const desc = registry.get("contentservice.WorkspaceInitializer");
    expect(desc?.oneofs.map((o) => [o.name, o.fields.length])).toEqual([["spec", 7]]);
  });

  it.each(Object.entries(enums))("enum %s has values %s", (name, spec) => {
    const desc = enumRegistry.get(name);
    expect(desc, gone("enum", name)).toBeDefined();
    if (desc === undefined) return;
    const actual = enumSpec(desc);
    expect(actual, howToUpdate("enums", name, actual)).toBe(spec);
  });

  it("FSShiftMethod keeps 1 (FUSE) reserved", () => {
    const desc = enumRegistry.get("iws.FSShiftMethod");
    expect(desc?.proto.reservedRange.some((r) => r.start === 1)).toBe(true);
  });

  it.each(Object.entries(services))(
    "service %s has exactly the contract's methods",
    (name, spec) => {
      const desc = serviceRegistry.get(name);
      expect(desc, gone("service", name)).toBeDefined();
      if (desc === undefined) return;
      const actual = serviceSpec(desc);
      expect(actual, howToUpdate("services", name, actual)).toBe(spec);
    },
  );

  it("full method paths on the wire match the upstream API", () => {
    const paths = [...serviceRegistry.values()].flatMap((s) =>
      s.methods.map((m) => `/${s.typeName}/${m.name}`),
    );
    expect(paths).toContain("/wsdaemon.WorkspaceContentService/InitWorkspace");
    expect(paths).toContain("/iws.InWorkspaceService/WriteIDMapping");
    expect(paths).toContain("/iws.WorkspaceInfoService/WorkspaceInfo");
  });
});
