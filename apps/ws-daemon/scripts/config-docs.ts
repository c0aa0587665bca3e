/**
 * Writes docs/configuration.md from the config schema (`npm run docs:config`); the unit test
 * test/config/settings.test.ts fails when the committed file differs from what this writes.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { settingsMarkdown } from "../src/config/index.js";

export const CONFIG_DOC = fileURLToPath(new URL("../../../docs/configuration.md", import.meta.url));

export function configDoc(): string {
  return `# Configuration

Generated from \`apps/ws-daemon/src/config/config-schema.ts\` by \`npm run docs:config\`; do not
edit by hand (a unit test compares this file with the schema). \`ws-daemon --help\` prints the same.

Sources, later ones winning: defaults < the config file (\`--config FILE\` or \`WSD_CONFIG\`; JSON
or YAML, the same nesting as the keys) < environment variables < flags.

- **Environment**: \`WSD_\` + the key with each level in upper snake case and \`__\` between
  levels: \`listen.port\` is \`WSD_LISTEN__PORT\`, \`storage.forcePathStyle\` is
  \`WSD_STORAGE__FORCE_PATH_STYLE\`. Values that look like numbers, booleans or JSON are parsed.
- **Flags**: \`--listen.port=8081\` or \`--listen.port 8081\`; a flag alone is \`true\`.
- **Sections with kinds** (\`storage\`, \`runtime\`): a section without \`kind\` is of the default
  kind, so \`--storage.root=/data\` alone works; keys of another kind are refused.
- **Relative paths** resolve against the directory the daemon runs in (\`npm start\` runs it in
  the directory you ran \`npm start\` from).

${settingsMarkdown()}
`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(CONFIG_DOC, configDoc());
  process.stdout.write(`wrote ${CONFIG_DOC}\n`);
}
