import { HealthCheckResponse_ServingStatus as ServingStatus } from "@ws-daemon/api";
import { type CommandSpec, noPositionals, str } from "../command.js";
import { EXIT } from "../exit-codes.js";
import { printLine } from "../output.js";

export const health: CommandSpec = {
  name: "health",
  summary: "ask the daemon's grpc.health.v1 service; exit 0 only when SERVING",
  args: [],
  flags: {
    service: {
      type: "string",
      value: "NAME",
      description: 'a service, e.g. wsdaemon.WorkspaceContentService (default "": the daemon)',
    },
  },
  async run(ctx, input) {
    noPositionals(input);
    const service = str(input.flags, "service") ?? "";
    const { status } = await ctx.health().check({ service }, { signal: ctx.signal });
    const name = ServingStatus[status] ?? String(status);
    printLine(ctx, ctx.output === "json" ? JSON.stringify({ service, status: name }) : name);
    return status === ServingStatus.SERVING ? EXIT.ok : EXIT.failure;
  },
};
