export { BatchedOutput, type BatchedOutputOptions } from "./batched-output.js";
export { type LogContext, logContext } from "./log-context.js";
export { createLogger, type LogFormat, type Logger } from "./logger.js";
export { DaemonMetrics } from "./metrics.js";
export { prettyLine, prettyLogStream } from "./pretty-log-stream.js";
