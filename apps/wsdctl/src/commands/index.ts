import type { CommandSpec } from "../command.js";
import { backup, snapshot } from "./archive.js";
import { completionCommand } from "./completion.js";
import { dispose } from "./dispose.js";
import { get } from "./get.js";
import { health } from "./health.js";
import { initCommands } from "./init.js";
import { iwsCommands } from "./iws.js";
import { list } from "./list.js";
import { wait } from "./wait.js";
import { watch } from "./watch.js";

export { IWS_DEFAULT_SOCKET } from "./iws.js";

/** Every command, in the order `--help` lists them. */
export function allCommands(env: NodeJS.ProcessEnv): CommandSpec[] {
  const commands: CommandSpec[] = [
    list,
    get,
    ...initCommands(env),
    wait,
    watch,
    snapshot,
    backup,
    dispose,
    health,
    ...iwsCommands,
  ];
  commands.push(...completionCommand(() => commands));
  return commands;
}
