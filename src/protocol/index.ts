export * from './errors.ts';
export * from './int64.ts';
export type * from './types.ts';
export * from './otlp-profiles.ts';
export type * from './view.ts';
