export {
  registerReaderAuth,
  OPEN_ROUTES,
  SESSION_COOKIE,
  LOGIN_PAGE,
  LOGIN_ATTEMPTS_PER_MINUTE,
} from './register.ts';
export { ReaderAccess, type Reader, type ReaderAccessOptions } from './reader-access.ts';
export { hashPassword, parsePasswordHash, PasswordHashError } from './passwords.ts';
export { randomSecret } from './secrets.ts';
