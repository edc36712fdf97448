export { runLoadgen, ExportClient, latencySummary, type LoadgenOptions, type LoadgenStats } from './run.ts';
export {
  Workload,
  AGENT_VERSION,
  nanosFromMillis,
  type WorkloadOptions,
  type GeneratedRequest,
  type Runtime,
} from './workload.ts';
