/**
 * Logging through pino, never to stdout (stdout carries only the CNI result or error). pino is
 * required only when a record at an enabled level is written: most invocations log nothing at the
 * default level (warn) and should not pay for loading it.
 */
import type { Logger as PinoLogger } from "pino";
import { lazy } from "./lazy";

const pinoModule = lazy(() => require("pino") as typeof import("pino"));

export const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;
export type Level = keyof typeof LEVELS;

export interface LogOptions {
  level?: Level | undefined;
  /** Absolute path of a log file (appended); stderr when absent. */
  file?: string | undefined;
}

type Fields = Record<string, unknown>;

export class Log {
  private pino: PinoLogger | undefined;
  private bindings: Fields = {};
  private threshold: number;

  constructor(private options: LogOptions = {}) {
    this.threshold = LEVELS[options.level ?? "warn"];
  }

  /** Later configuration (the plugin config's `log`) overrides earlier; TETHER_LOG_LEVEL wins over both. */
  configure(options: LogOptions, envLevel?: string): void {
    const level = envLevel !== undefined && envLevel in LEVELS ? (envLevel as Level) : options.level ?? this.options.level;
    const next: LogOptions = { ...this.options, ...options };
    if (level !== undefined) next.level = level;
    if (next.file !== this.options.file) this.pino = undefined;
    this.options = next;
    this.threshold = LEVELS[next.level ?? "warn"];
  }

  bind(fields: Fields): void {
    this.bindings = { ...this.bindings, ...fields };
    this.pino = undefined;
  }

  enabled(level: Level): boolean {
    return LEVELS[level] >= this.threshold;
  }

  private logger(): PinoLogger {
    if (!this.pino) {
      const pino = pinoModule();
      const dest = this.options.file
        ? pino.destination({ dest: this.options.file, sync: true, append: true, mkdir: true })
        : pino.destination({ dest: 2, sync: true });
      this.pino = pino.pino({ level: this.options.level ?? "warn", base: { pid: process.pid, ...this.bindings } }, dest);
    }
    return this.pino;
  }

  private write(level: Exclude<Level, "silent">, msg: string, fields?: Fields): void {
    if (!this.enabled(level)) return;
    try {
      this.logger()[level](fields ?? {}, msg);
    } catch {
      // A log file we cannot open must not turn a working ADD into a failure.
    }
  }

  trace(msg: string, fields?: Fields): void {
    this.write("trace", msg, fields);
  }
  debug(msg: string, fields?: Fields): void {
    this.write("debug", msg, fields);
  }
  info(msg: string, fields?: Fields): void {
    this.write("info", msg, fields);
  }
  warn(msg: string, fields?: Fields): void {
    this.write("warn", msg, fields);
  }
  error(msg: string, fields?: Fields): void {
    this.write("error", msg, fields);
  }
}

/** The process-wide logger. */
export const log = new Log({ level: "warn" });
