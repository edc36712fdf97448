export {
  DebugInfoSources,
  type DebugInfoFound,
  type DebugInfoLookup,
  type DebugInfoTarget,
  type NotFoundReason,
} from './sources.ts';
export {
  DebuginfodClient,
  DebuginfodConfigError,
  debuginfodUrls,
  type DebuginfodCounters,
  type DebuginfodErrorKind,
  type DebuginfodEvent,
  type DebuginfodOptions,
  type DebuginfodResult,
} from './debuginfod.ts';
export { DebugFileCache } from './debug-file-cache.ts';
export { LocalDebugSource, type LocalMatch } from './local.ts';
export { buildIdDebugPath, normalizeBuildId, readElfIdentity, type ElfIdentity } from './elf-identity.ts';
