export { configSchema, type DaemonConfig } from "./config-schema.js";
export {
  isLoopbackHost,
  type ListenSettings,
  servesUnauthenticatedOffLoopback,
} from "./listen-policy.js";
export { ConfigError, type ConfigSources, loadConfig, validateConfig } from "./load-config.js";
export { envName, helpText, listSettings, type Setting, settingsMarkdown } from "./settings.js";
