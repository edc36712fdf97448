export { registerQueryApi, type QueryApiDeps, type QueryApiOptions } from './routes.ts';
export { registerUi, DEFAULT_UI_DIR } from './ui.ts';
export { BadRequestError } from './params.ts';
export { readBacklog, symbolUploadTarget, type BacklogStatus, type StatusResponse } from './symbolization.ts';
