import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  CloneTargetMode,
  GitAuthMethod,
  GitConfigSchema,
  GitInitializerSchema,
  WorkspaceInitializerSchema,
} from "@ws-daemon/api";
import { describe, expect, it } from "vitest";
import { toInitializerSpec } from "../../src/rpc/index.js";

type InitInput = MessageInitShape<typeof WorkspaceInitializerSchema>;
const convert = (init: InitInput) => toInitializerSpec(create(WorkspaceInitializerSchema, init));

const git = (over: MessageInitShape<typeof GitInitializerSchema> = {}) =>
  create(GitInitializerSchema, {
    remoteUri: "https://example.com/r.git",
    targetMode: CloneTargetMode.REMOTE_BRANCH,
    cloneTarget: "main",
    checkoutLocation: "r",
    ...over,
  });
const config = (c: MessageInitShape<typeof GitConfigSchema>) => create(GitConfigSchema, c);

describe("toInitializerSpec", () => {
  it("empty, snapshot, backup and download", () => {
    expect(convert({ spec: { case: "empty", value: {} } })).toEqual({ kind: "empty" });
    expect(
      convert({
        spec: {
          case: "snapshot",
          value: { snapshot: "wsd-snapshot:x", fromVolumeSnapshot: false },
        },
      }),
    ).toEqual({ kind: "snapshot", snapshot: "wsd-snapshot:x", fromVolumeSnapshot: false });
    expect(convert({ spec: { case: "backup", value: { checkoutLocation: "r" } } })).toEqual({
      kind: "backup",
      checkoutLocation: "r",
      fromVolumeSnapshot: false,
    });
    expect(
      convert({
        spec: {
          case: "download",
          value: {
            targetLocation: "dl",
            files: [{ url: "http://h/f", filePath: "f", digest: "sha256:ab" }],
          },
        },
      }),
    ).toEqual({
      kind: "download",
      targetLocation: "dl",
      files: [{ url: "http://h/f", filePath: "f", digest: "sha256:ab" }],
    });
  });

  it("git with every target mode and auth method", () => {
    const modes = [
      [CloneTargetMode.REMOTE_HEAD, "remote-head"],
      [CloneTargetMode.REMOTE_COMMIT, "remote-commit"],
      [CloneTargetMode.REMOTE_BRANCH, "remote-branch"],
      [CloneTargetMode.LOCAL_BRANCH, "local-branch"],
    ] as const;
    for (const [wire, domain] of modes) {
      expect(convert({ spec: { case: "git", value: git({ targetMode: wire }) } })).toMatchObject({
        kind: "git",
        targetMode: domain,
        auth: { kind: "none" },
      });
    }
    const basic = convert({
      spec: {
        case: "git",
        value: git({
          upstreamRemoteUri: "https://example.com/up.git",
          fullClone: true,
          config: config({
            authentication: GitAuthMethod.BASIC_AUTH,
            authUser: "u",
            authPassword: "p",
            customConfig: { "core.autocrlf": "false" },
          }),
        }),
      },
    });
    expect(basic).toEqual({
      kind: "git",
      remoteUri: "https://example.com/r.git",
      upstreamRemoteUri: "https://example.com/up.git",
      targetMode: "remote-branch",
      cloneTarget: "main",
      checkoutLocation: "r",
      customConfig: { "core.autocrlf": "false" },
      auth: { kind: "basic", user: "u", password: "p" },
      fullClone: true,
    });
    expect(
      convert({
        spec: {
          case: "git",
          value: git({
            config: config({
              authentication: GitAuthMethod.BASIC_AUTH_OTS,
              authOts: "https://ots/x",
            }),
          }),
        },
      }),
    ).toMatchObject({ auth: { kind: "basic-ots", otsUrl: "https://ots/x" } });
  });

  it("each refusal names the field, with its path inside composites and prebuilds", () => {
    const bad: [InitInput, string][] = [
      [{}, "initializer has no initializer set"],
      [
        { spec: { case: "git", value: git({ remoteUri: "" }) } },
        "initializer.git.remote_uri is required",
      ],
      [
        { spec: { case: "git", value: git({ targetMode: 99 as CloneTargetMode }) } },
        "initializer.git.target_mode has an unknown value 99",
      ],
      [
        {
          spec: {
            case: "git",
            value: git({
              config: config({ authentication: GitAuthMethod.BASIC_AUTH }),
            }),
          },
        },
        "initializer.git.config.auth_user is required for BASIC_AUTH",
      ],
      [
        {
          spec: {
            case: "git",
            value: git({
              config: config({ authentication: GitAuthMethod.BASIC_AUTH_OTS }),
            }),
          },
        },
        "initializer.git.config.auth_ots is required for BASIC_AUTH_OTS",
      ],
      [
        {
          spec: {
            case: "git",
            value: git({
              config: config({ authentication: 7 as GitAuthMethod }),
            }),
          },
        },
        "initializer.git.config.authentication has an unknown value 7",
      ],
      [
        {
          spec: {
            case: "composite",
            value: { initializer: [{ spec: { case: "empty", value: {} } }, {}] },
          },
        },
        "initializer.composite.initializer[1] has no initializer set",
      ],
      [
        { spec: { case: "prebuild", value: { git: [git(), git({ remoteUri: "" })] } } },
        "initializer.prebuild.git[1].remote_uri is required",
      ],
    ];
    for (const [input, message] of bad) {
      expect(() => convert(input), message).toThrow(
        expect.objectContaining({ kind: "invalid-argument", message }),
      );
    }
  });

  it("a prebuild keeps its snapshot and git list; a composite its order", () => {
    expect(
      convert({
        spec: {
          case: "prebuild",
          value: { prebuild: { snapshot: "wsd-snapshot:p" }, git: [git()] },
        },
      }),
    ).toMatchObject({
      kind: "prebuild",
      snapshot: { snapshot: "wsd-snapshot:p" },
      git: [{ checkoutLocation: "r" }],
    });
    expect(
      convert({
        spec: {
          case: "composite",
          value: {
            initializer: [
              { spec: { case: "empty", value: {} } },
              { spec: { case: "backup", value: {} } },
            ],
          },
        },
      }),
    ).toMatchObject({ kind: "composite", initializers: [{ kind: "empty" }, { kind: "backup" }] });
  });
});
