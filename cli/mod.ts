// The `infernet` command and node daemon, for embedding or testing.
export { main } from "./main.ts";
export { CliError, type CliErrorCode } from "./cli_error.ts";
export { NodeDaemon, type NodeDaemonOptions } from "./daemon/node_daemon.ts";
export { type DetectedEngine, detectEngine } from "./engines/detect.ts";
export { detectHardware, type HardwareInfo } from "./hardware/detect.ts";
