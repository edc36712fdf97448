export * from './frame-type.ts';
export * from './fnv.ts';
export * from './ids.ts';
export * from './types.ts';
export * from './downsample.ts';
export * from './encoding.ts';
export * from './symbols.ts';
