import { describe, expect, it } from "vitest";
import {
  checkoutLocations,
  type GitInitializerSpec,
  type InitializerSpec,
  redactUrl,
  summarizeInitializer,
  validateInitializerSpec,
} from "../../src/content/index.js";
import { gitInitializer } from "./fixtures.js";

const git = (over: Partial<GitInitializerSpec> = {}) =>
  gitInitializer("https://example.com/repo.git", over);

const DIGEST = `sha256:${"a".repeat(64)}`;

describe("summarizeInitializer", () => {
  it("keeps the shape but no secret", () => {
    const spec: InitializerSpec = {
      kind: "composite",
      initializers: [
        {
          kind: "git",
          ...git({
            remoteUri: "https://bob:hunter22@example.com/r.git",
            auth: { kind: "basic", user: "bob", password: "s3cr3t-pw" },
          }),
        },
        {
          kind: "prebuild",
          snapshot: { snapshot: "snap@bucket" },
          git: [git({ auth: { kind: "basic-ots", otsUrl: "https://ots.example/x?token=tok123" } })],
        },
        {
          kind: "download",
          targetLocation: "d",
          files: [{ url: "https://h/f?X-Amz-Signature=sig999", filePath: "f", digest: DIGEST }],
        },
      ],
    };
    const summary = summarizeInitializer(spec);
    const json = JSON.stringify(summary);
    for (const secret of ["hunter22", "s3cr3t-pw", "tok123", "sig999", "ots.example"]) {
      expect(json).not.toContain(secret);
    }
    expect(summary).toMatchObject({
      kind: "composite",
      initializers: [
        { kind: "git", authMethod: "basic", remoteUri: "https://example.com/r.git" },
        { kind: "prebuild", snapshot: "snap@bucket", git: [{ authMethod: "basic-ots" }] },
        { kind: "download", files: [{ url: "https://h/f", filePath: "f" }] },
      ],
    });
    expect(checkoutLocations(summary)).toEqual(["repo", "repo"]);
  });

  it("redacts non-URL strings after the query mark", () => {
    expect(redactUrl("git@host:repo.git")).toBe("git@host:repo.git");
    expect(redactUrl("name@bucket?sig=1")).toBe("name@bucket");
  });
});

describe("validateInitializerSpec", () => {
  const bad: [string, InitializerSpec, string][] = [
    [
      "git ..",
      { kind: "git", ...git({ checkoutLocation: "../x" }) },
      "initializer.git.checkoutLocation",
    ],
    [
      "git absolute",
      { kind: "git", ...git({ checkoutLocation: "/x" }) },
      "initializer.git.checkoutLocation",
    ],
    ["git no remote", { kind: "git", ...git({ remoteUri: "" }) }, "initializer.git.remoteUri"],
    [
      "commit without target",
      { kind: "git", ...git({ targetMode: "remote-commit" }) },
      "cloneTarget",
    ],
    [
      "download target ..",
      { kind: "download", targetLocation: "a/../..", files: [] },
      "targetLocation",
    ],
    [
      "download file absolute",
      {
        kind: "download",
        targetLocation: "",
        files: [{ url: "http://h/x", filePath: "/etc/x", digest: DIGEST }],
      },
      "files.0.filePath",
    ],
    [
      "download file ..",
      {
        kind: "download",
        targetLocation: "",
        files: [{ url: "http://h/x", filePath: "../x", digest: DIGEST }],
      },
      "files.0.filePath",
    ],
    [
      "download file empty",
      {
        kind: "download",
        targetLocation: "",
        files: [{ url: "http://h/x", filePath: ".", digest: DIGEST }],
      },
      "files.0.filePath",
    ],
    [
      "download digest",
      {
        kind: "download",
        targetLocation: "",
        files: [{ url: "http://h/x", filePath: "x", digest: "md5:abc" }],
      },
      "files.0.digest",
    ],
    [
      "download scheme",
      {
        kind: "download",
        targetLocation: "",
        files: [{ url: "file:///etc/passwd", filePath: "x", digest: DIGEST }],
      },
      "files.0.url",
    ],
    [
      "backup ..",
      { kind: "backup", checkoutLocation: "..", fromVolumeSnapshot: false },
      "backup.checkoutLocation",
    ],
    [
      "backup volume",
      { kind: "backup", checkoutLocation: "", fromVolumeSnapshot: true },
      "fromVolumeSnapshot",
    ],
    [
      "snapshot empty",
      { kind: "snapshot", snapshot: "", fromVolumeSnapshot: false },
      "snapshot.snapshot",
    ],
    [
      "prebuild git",
      { kind: "prebuild", git: [git({ checkoutLocation: "/abs" })] },
      "prebuild.git.0.checkoutLocation",
    ],
    [
      "nested composite",
      {
        kind: "composite",
        initializers: [
          {
            kind: "composite",
            initializers: [{ kind: "git", ...git({ checkoutLocation: "a\0" }) }],
          },
        ],
      },
      "initializer.composite.0.composite.0.git.checkoutLocation",
    ],
  ];
  it.each(bad)("refuses %s", (_name, spec, field) => {
    expect(() => validateInitializerSpec(spec)).toThrow(
      expect.objectContaining({
        kind: "invalid-argument",
        message: expect.stringContaining(field),
      }),
    );
  });

  it("accepts a sensible composite", () => {
    expect(() =>
      validateInitializerSpec({
        kind: "composite",
        initializers: [
          { kind: "backup", checkoutLocation: "repo", fromVolumeSnapshot: false },
          {
            kind: "download",
            targetLocation: "tools",
            files: [{ url: "https://h/x", filePath: "bin/x", digest: DIGEST }],
          },
          { kind: "empty" },
        ],
      }),
    ).not.toThrow();
  });

  it("refuses excessive nesting", () => {
    let spec: InitializerSpec = { kind: "empty" };
    for (let i = 0; i < 12; i++) spec = { kind: "composite", initializers: [spec] };
    expect(() => validateInitializerSpec(spec)).toThrow(/nesting/);
  });
});
