export { registerQueryApi, type QueryApiDeps, type QueryApiOptions } from './routes.ts';
export { registerUi, DEFAULT_UI_DIR } from './ui.ts';
export { BadRequestError } from './params.ts';
export {
  registerSetupRoute,
  setupInstructions,
  type AgentEndpoints,
  type SetupInstructions,
} from './setup.ts';
export { readBacklog, symbolUploadTarget, type BacklogStatus, type StatusResponse } from './symbolization.ts';
export {
  registerReaderAuth,
  ReaderAccess,
  OPEN_ROUTES,
  SESSION_COOKIE,
  LOGIN_PAGE,
  LOGIN_ATTEMPTS_PER_MINUTE,
  hashPassword,
  PasswordHashError,
  type Reader,
  type ReaderAccessOptions,
} from './auth/index.ts';
