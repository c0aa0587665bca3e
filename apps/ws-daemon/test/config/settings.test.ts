import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CONFIG_DOC, configDoc } from "../../scripts/config-docs.js";
import {
  configSchema,
  envName,
  helpText,
  listSettings,
  loadConfig,
} from "../../src/config/index.js";
import { DEFAULT_DOWNLOAD_MAX_BYTES } from "../../src/content/index.js";

describe("settings listing", () => {
  it("docs/configuration.md is current (run `npm run docs:config -w @ws-daemon/daemon` after a schema change)", () => {
    expect(readFileSync(CONFIG_DOC, "utf8")).toBe(configDoc());
  });

  it("lists every key of the schema, each with its env name and flag, and defaults that validate", () => {
    const settings = listSettings();
    const keys = settings.map((s) => s.key);
    expect(keys).toContain("listen.port");
    expect(keys).toContain("storage.bucket");
    expect(keys).toContain("log.format");
    // A key may exist in several kinds of a section (runtime.socketPath for docker and cri),
    // never twice in one.
    const perKind = settings.map((s) => `${s.key} ${s.only ?? ""}`);
    expect(new Set(perKind).size).toBe(perKind.length);
    for (const s of settings) {
      expect(s.env).toBe(envName(s.key));
      expect(s.flag).toBe(`--${s.key}`);
      expect(s.description, s.key).not.toBe("");
    }
    const port = settings.find((s) => s.key === "listen.port");
    expect(port).toMatchObject({ type: "integer", default: "8080", env: "WSD_LISTEN__PORT" });
    expect(settings.find((s) => s.key === "storage.bucket")?.only).toBe("storage.kind=s3");
    expect(settings.find((s) => s.key === "storage.kind")?.type).toBe('"local" | "s3"');
    expect(configSchema.parse({})).toBeDefined();
  });

  it("each env name is what the loader reads", async () => {
    for (const s of listSettings().filter((x) => x.type === "integer" && x.default !== undefined)) {
      const value = Number(s.default) + 1;
      // A key of one kind of a section (e.g. runtime.kind=cri) is read with that kind chosen.
      const kind = s.only?.split("=");
      const env = kind
        ? { [s.env]: String(value), [envName(kind[0] ?? "")]: kind[1] ?? "" }
        : { [s.env]: String(value) };
      const config = await loadConfig({ env });
      const read = s.key
        .split(".")
        .reduce<unknown>((node, k) => (node as Record<string, unknown>)[k], config);
      expect(read, s.env).toBe(value);
    }
  });

  it("--help names every flag", () => {
    const help = helpText("1.2.3");
    expect(help.split("\n")[0]).toMatch(/^ws-daemon 1.2.3: /);
    for (const s of listSettings()) expect(help).toContain(`--${s.key} <`);
  });
});

describe("downloads settings", () => {
  it("default to public addresses only and the content domain's size limit", () => {
    const { downloads } = configSchema.parse({});
    expect(downloads).toEqual({
      allowPrivateNetworks: false,
      maxBytes: DEFAULT_DOWNLOAD_MAX_BYTES,
    });
  });
});
