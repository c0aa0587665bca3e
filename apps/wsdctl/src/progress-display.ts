import type { Writable } from "node:stream";
import { toJsonString } from "@bufbuild/protobuf";
import {
  type WatchWorkspaceResponse,
  WatchWorkspaceResponseSchema,
  type WorkspaceEvent,
} from "@ws-daemon/api";
import ora, { type Ora } from "ora";
import { describeEvent, describeProgress } from "./progress-text.js";

/** Receives a watch's events and ends with the outcome of what was watched. */
export interface ProgressDisplay {
  event(event: WorkspaceEvent, raw: WatchWorkspaceResponse): void;
  /** The final line (with a ✔ or ✖ on a terminal); undefined ends quietly. */
  end(ok: boolean, text?: string): void;
}

/** How often a plain progress line is written at most (phase changes always are). */
const PLAIN_PROGRESS_EVERY_MS = 2_000;

/**
 * On a terminal: an ora spinner whose text is the progress line (a bar once a total is known);
 * state changes are printed above it, and it ends as a ✔/✖ line with the cursor restored.
 */
export function terminalDisplay(stream: Writable, id: string): ProgressDisplay {
  const spinner: Ora = ora({
    stream: stream as NodeJS.WritableStream,
    isEnabled: true,
    // stdin stays as it is: Ctrl-C reaches us as SIGINT and nothing typed is swallowed
    discardStdin: false,
    text: `${id}: connecting`,
  }).start();
  return {
    event(e) {
      if (e.type === "progress") {
        spinner.text = `${id}: ${describeProgress(e.progress, true)}`;
        return;
      }
      const line = describeEvent(id, e);
      if (e.type === "snapshot" && e.progress) {
        spinner.text = `${id}: ${describeProgress(e.progress, true)}`;
      } else if (line) {
        spinner.clear();
        stream.write(`${line}\n`);
        spinner.render();
      }
    },
    end(ok, text) {
      if (text === undefined) spinner.stop();
      else if (ok) spinner.succeed(text);
      else spinner.fail(text);
    },
  };
}

/** Not a terminal: plain lines, progress at most every 2 s and at each new phase. */
export function lineDisplay(stream: Writable, id: string): ProgressDisplay {
  let lastAt = 0;
  let lastPhase = "";
  let lastLine = "";
  return {
    event(e) {
      if (e.type === "progress") {
        const now = Date.now();
        const phase = `${e.progress.operationName}/${e.progress.phaseName}`;
        const complete = e.progress.fraction === 1;
        if (phase === lastPhase && !complete && now - lastAt < PLAIN_PROGRESS_EVERY_MS) return;
        const line = `${id}: ${describeProgress(e.progress, false)}`;
        if (line === lastLine) return;
        lastAt = now;
        lastPhase = phase;
        lastLine = line;
        stream.write(`${line}\n`);
        return;
      }
      const line = describeEvent(id, e);
      if (line) stream.write(`${line}\n`);
    },
    // Success was told by the operation's own "done" line; a failure is said once more, last.
    end(ok, text) {
      if (!ok && text !== undefined) stream.write(`${text}\n`);
    },
  };
}

/** `-o json` for `watch`: every response as one line of proto3 JSON. */
export function jsonLinesDisplay(stream: Writable): ProgressDisplay {
  return {
    event(_e, raw) {
      stream.write(`${toJsonString(WatchWorkspaceResponseSchema, raw)}\n`);
    },
    end() {},
  };
}

export const silentDisplay: ProgressDisplay = { event() {}, end() {} };
