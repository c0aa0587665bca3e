import { AsyncLocalStorage } from "node:async_hooks";

export interface LogContext {
  requestId: string;
  method: string;
  workspaceId?: string;
}

/**
 * The RPC a piece of work belongs to. Every log line written while serving a call, in any
 * module and in work the call started, carries its request id and workspace id.
 */
export const logContext = new AsyncLocalStorage<LogContext>();
