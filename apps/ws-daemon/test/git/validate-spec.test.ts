/**
 * One test per check of src/git/validate-spec.ts (issue 17, finding 6): each bad input is refused
 * by exactly the check under test, shown by its own message, next to a close input that passes,
 * so that weakening any single check makes a test fail.
 */
import { describe, expect, it } from "vitest";
import type { GitCheckoutSpec } from "../../src/git/index.js";
import {
  ALLOWED_CONFIG_KEYS,
  DEFAULT_ALLOWED_SCHEMES,
  normalizeCommitId,
  validateCheckoutSpec,
  validateConfigEntry,
  validateRemoteUri,
} from "../../src/git/validate-spec.js";

const ALL = DEFAULT_ALLOWED_SCHEMES;
const SHA1 = "0123456789abcdef0123456789abcdef01234567";
const SHA256 = `${SHA1}${"89abcdef".repeat(3)}`;

const refusedUri = (uri: string, message: RegExp, schemes: readonly string[] = ALL) =>
  expect(() => validateRemoteUri(uri, schemes)).toThrow(
    expect.objectContaining({ kind: "invalid-argument", message: expect.stringMatching(message) }),
  );
const acceptedUri = (uri: string, schemes: readonly string[] = ALL) =>
  expect(() => validateRemoteUri(uri, schemes)).not.toThrow();

const spec = (over: Partial<GitCheckoutSpec> = {}): GitCheckoutSpec => ({
  remoteUri: "https://example.com/repo.git",
  targetMode: "remote-head",
  cloneTarget: "",
  checkoutDir: "/workspace/repo",
  customConfig: {},
  auth: { kind: "none" },
  fullClone: false,
  ...over,
});
const refusedSpec = (over: Partial<GitCheckoutSpec>, message: RegExp) =>
  expect(() => validateCheckoutSpec(spec(over), ALL)).toThrow(
    expect.objectContaining({ kind: "invalid-argument", message: expect.stringMatching(message) }),
  );
const acceptedSpec = (over: Partial<GitCheckoutSpec>) =>
  expect(() => validateCheckoutSpec(spec(over), ALL)).not.toThrow();

describe("validateRemoteUri", () => {
  it("the default schemes are https, http, ssh, git and file", () => {
    expect(DEFAULT_ALLOWED_SCHEMES).toEqual(["https", "http", "ssh", "git", "file"]);
  });

  it("refuses an empty URI", () => {
    refusedUri("", /^remote URI is empty$/);
  });

  it("refuses a leading '-' (git would read an option)", () => {
    refusedUri("-uhost:repo", /must not start with '-'/);
    refusedUri("--upload-pack=touch x", /must not start with '-'/);
  });

  it("refuses control characters anywhere, DEL included; a space is no control character", () => {
    refusedUri("https://example.com/re\npo.git", /contains control characters/);
    refusedUri("https://example.com/re\u001fpo.git", /contains control characters/);
    refusedUri("https://example.com/repo.git\u007f", /contains control characters/);
    acceptedUri("https://example.com/my repo.git");
    acceptedUri("https://example.com/repo~1.git");
  });

  it("refuses a scheme that is not allowed, naming it; schemes compare case-insensitively", () => {
    refusedUri("ftp://example.com/repo.git", /scheme 'ftp' is not allowed \(allowed: https, http/);
    refusedUri("file:///srv/repo.git", /scheme 'file' is not allowed/, ["https"]);
    acceptedUri("HTTPS://example.com/repo.git");
    acceptedUri("git+ssh://example.com/repo.git", ["git+ssh"]);
    acceptedUri("file:///srv/repo.git");
  });

  it("refuses a URL the URL parser rejects", () => {
    refusedUri("https://exa mple.com/repo.git", /is not a valid URL/);
  });

  it("refuses a password in the URL, accepts a user name", () => {
    refusedUri("https://user:secret@example.com/repo.git", /must not contain a password/);
    acceptedUri("https://user@example.com/repo.git");
  });

  it("refuses remote-helper transports (<transport>::<address>)", () => {
    refusedUri("ext::sh -c touch% /tmp/pwned", /uses a remote-helper transport/);
    refusedUri("fd::3", /uses a remote-helper transport/);
    // anchored: '::' later in a path is no transport, and no scp address either
    refusedUri("/srv/x::y", /must be a URL with one of the schemes/);
  });

  describe("scp-like [user@]host:path", () => {
    it("is accepted as ssh, with or without a user", () => {
      acceptedUri("git@github.com:org/repo.git");
      acceptedUri("github.com:org/repo.git");
      acceptedUri("deploy.bot-1_~@git.example.com:repo");
    });

    it("is refused when ssh is not allowed", () => {
      refusedUri("git@github.com:org/repo.git", /scheme 'ssh' is not allowed/, ["https"]);
    });

    it("a local path is no scp address (the && must not become ||)", () => {
      refusedUri("/srv/repos/project.git", /must be a URL with one of the schemes/);
      refusedUri("relative/repo", /must be a URL with one of the schemes/);
      refusedUri("foo/bar:baz", /must be a URL with one of the schemes/);
    });

    it("a scheme later in the text is no scheme: the scp address is judged as ssh", () => {
      // only an anchored scheme counts: `host:file:///etc` is ssh to `host`, path `file:///etc`
      acceptedUri("host:file:///etc/passwd", ["ssh"]);
    });

    it("the refusal lists the allowed schemes, comma-separated", () => {
      refusedUri("/srv/repo.git", /schemes https, http$/, ["https", "http"]);
    });

    it("a backslash makes it a (Windows) path, not an scp address", () => {
      refusedUri("host:repo\\sub", /must be a URL with one of the schemes/);
    });

    it("needs a host before ':' and a path that does not start with ':' ", () => {
      refusedUri("@host:repo", /must be a URL with one of the schemes/);
      refusedUri("host:", /must be a URL with one of the schemes/);
      refusedUri("git@:repo", /must be a URL with one of the schemes/);
      refusedUri("us er@host:repo", /must be a URL with one of the schemes/);
    });
  });

  it("names the field in every message", () => {
    expect(() => validateRemoteUri("", ALL, "upstream remote URI")).toThrow(
      "upstream remote URI is empty",
    );
  });
});

describe("validateConfigEntry (custom_config is an allow-list)", () => {
  it("accepts every allowed key, in any case", () => {
    for (const key of ALLOWED_CONFIG_KEYS) {
      expect(() => validateConfigEntry(key, "x")).not.toThrow();
      expect(() => validateConfigEntry(key.toUpperCase(), "x")).not.toThrow();
    }
    expect(() => validateConfigEntry("Core.AutoCRLF", "false")).not.toThrow();
  });

  it("the allow-list is exactly the documented one", () => {
    expect(ALLOWED_CONFIG_KEYS).toEqual([
      "core.autocrlf",
      "core.eol",
      "core.safecrlf",
      "core.filemode",
      "core.symlinks",
      "core.ignorecase",
      "core.longpaths",
      "core.quotepath",
      "pull.rebase",
      "pull.ff",
      "fetch.prune",
      "push.default",
      "push.autosetupremote",
      "rebase.autostash",
      "init.defaultbranch",
      "user.name",
      "user.email",
      "http.postbuffer",
    ]);
  });

  it.each([
    "core.worktree",
    "core.sshCommand",
    "core.fsmonitor",
    "core.hooksPath",
    "core.gitProxy",
    "submodule.sub.update",
    "remote.origin.uploadpack",
    "url.https://evil.example/.insteadOf",
    "include.path",
    "credential.helper",
    "filter.x.clean",
    "gpg.program",
    "branch.main.description",
    "user.name.x",
    "xuser.name",
    "nodot",
  ])("refuses '%s', naming it", (key) => {
    expect(() => validateConfigEntry(key, "x")).toThrow(
      expect.objectContaining({
        kind: "invalid-argument",
        message: `custom config key '${key}' is not allowed (allowed: ${ALLOWED_CONFIG_KEYS.join(", ")})`,
      }),
    );
  });

  it("refuses '=' in a key (git clone --config would split there)", () => {
    expect(() => validateConfigEntry("remote.origin.uploadpack=touch x #.a", "x")).toThrow(
      "custom config key 'remote.origin.uploadpack=touch x #.a' contains '='",
    );
    expect(() => validateConfigEntry("user.name=", "x")).toThrow(/contains '='/);
  });

  it("refuses control characters in a key", () => {
    expect(() => validateConfigEntry("user.name\n[core]", "x")).toThrow(
      "custom config key contains control characters",
    );
    expect(() => validateConfigEntry("user.name\u0000", "x")).toThrow(/key contains control/);
  });

  it("refuses NUL, newline and other control characters in a value; spaces are fine", () => {
    for (const value of ["a\u0000b", "a\nb", "a\rb", "a\tb", "a\u001bb", "a\u007fb"]) {
      expect(() => validateConfigEntry("user.name", value)).toThrow(
        "custom config value of 'user.name' contains control characters (NUL, newline, ...)",
      );
    }
    expect(() => validateConfigEntry("user.name", "Jane Doe ~ é")).not.toThrow();
  });
});

describe("normalizeCommitId (only full ids can be fetched)", () => {
  it("accepts full SHA-1 and SHA-256 ids, lower-cased and trimmed", () => {
    expect(normalizeCommitId(SHA1)).toBe(SHA1);
    expect(normalizeCommitId(SHA1.toUpperCase())).toBe(SHA1);
    expect(normalizeCommitId(` ${SHA1}\n`)).toBe(SHA1);
    expect(normalizeCommitId(SHA256)).toBe(SHA256);
  });

  it.each([
    ["39 digits", SHA1.slice(1)],
    ["41 digits", `${SHA1}0`],
    ["between the lengths", SHA256.slice(0, 50)],
    ["63 digits", SHA256.slice(1)],
    ["65 digits", `${SHA256}0`],
    ["a non-hex digit", `g${SHA1.slice(1)}`],
    ["a suffix", `${SHA1}^`],
    ["a prefix", `^${SHA1}`],
    ["a branch name", "main"],
    ["an abbreviation", SHA1.slice(0, 7)],
  ])("refuses %s", (_what, target) => {
    expect(() => normalizeCommitId(target)).toThrow(
      expect.objectContaining({
        kind: "invalid-argument",
        message: `clone target '${target}' is not a full commit id`,
      }),
    );
  });
});

describe("validateCheckoutSpec", () => {
  it("accepts a minimal spec and every target mode with a target", () => {
    acceptedSpec({});
    acceptedSpec({ targetMode: "remote-branch", cloneTarget: "main" });
    acceptedSpec({ targetMode: "local-branch", cloneTarget: "my-work" });
    acceptedSpec({ targetMode: "remote-commit", cloneTarget: SHA1 });
  });

  it("checks the remote and the upstream remote, naming which", () => {
    refusedSpec({ remoteUri: "ftp://x/y" }, /^remote URI scheme 'ftp'/);
    refusedSpec({ upstreamRemoteUri: "ftp://x/y" }, /^upstream remote URI scheme 'ftp'/);
    acceptedSpec({ upstreamRemoteUri: "" });
    acceptedSpec({ upstreamRemoteUri: "https://example.com/upstream.git" });
  });

  it("refuses an unknown target mode", () => {
    refusedSpec(
      { targetMode: "remote-tag" as GitCheckoutSpec["targetMode"] },
      /unknown clone target mode 'remote-tag'/,
    );
  });

  it("refuses a relative checkout directory", () => {
    refusedSpec({ checkoutDir: "repo" }, /checkout directory must be an absolute path/);
  });

  it("needs a target except for remote-head, where it is ignored", () => {
    refusedSpec({ targetMode: "remote-branch" }, /clone target is required for remote-branch/);
    refusedSpec({ targetMode: "local-branch" }, /clone target is required for local-branch/);
    acceptedSpec({ targetMode: "remote-head", cloneTarget: "-ignored\n" });
  });

  it("refuses a target starting with '-' and a target with control characters", () => {
    refusedSpec({ targetMode: "remote-branch", cloneTarget: "-b" }, /must not start with '-'/);
    refusedSpec(
      { targetMode: "local-branch", cloneTarget: "a\u0007b" },
      /clone target contains control characters/,
    );
  });

  it("needs a full commit id for remote-commit only", () => {
    refusedSpec(
      { targetMode: "remote-commit", cloneTarget: "main" },
      /clone target 'main' is not a full commit id/,
    );
    acceptedSpec({ targetMode: "remote-branch", cloneTarget: "deadbeef" });
  });

  it("checks every custom config entry", () => {
    acceptedSpec({ customConfig: { "user.name": "a", "core.autocrlf": "input" } });
    refusedSpec(
      { customConfig: { "user.name": "a", "core.worktree": "/x" } },
      /custom config key 'core.worktree' is not allowed/,
    );
  });

  describe("basic auth", () => {
    it("needs both a user and a password", () => {
      refusedSpec(
        { auth: { kind: "basic", user: "", password: "p" } },
        /needs a user and a password/,
      );
      refusedSpec(
        { auth: { kind: "basic", user: "u", password: "" } },
        /needs a user and a password/,
      );
      acceptedSpec({ auth: { kind: "basic", user: "u", password: "p w" } });
    });

    it("refuses control characters in the user or the password alone", () => {
      for (const auth of [
        { kind: "basic" as const, user: "u\nx", password: "p" },
        { kind: "basic" as const, user: "u", password: "p\u0000" },
        { kind: "basic" as const, user: "u", password: "p\u007f" },
      ]) {
        refusedSpec({ auth }, /basic auth user or password contains control characters/);
      }
    });
  });

  describe("one-time secret", () => {
    it("refuses a URL the parser rejects", () => {
      refusedSpec({ auth: { kind: "basic-ots", otsUrl: "not a url" } }, /not a valid URL/);
    });

    it("accepts http and https only", () => {
      refusedSpec(
        { auth: { kind: "basic-ots", otsUrl: "file:///etc/passwd" } },
        /one-time secret URL must be http or https/,
      );
      acceptedSpec({ auth: { kind: "basic-ots", otsUrl: "https://ots.example/x" } });
      acceptedSpec({ auth: { kind: "basic-ots", otsUrl: "http://ots.example/x" } });
    });
  });

  it("refuses an unknown authentication method", () => {
    refusedSpec(
      { auth: { kind: "token" } as unknown as GitCheckoutSpec["auth"] },
      /unknown authentication method/,
    );
  });
});
