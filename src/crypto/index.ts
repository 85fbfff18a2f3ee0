/** The crypto layer: password hashing and policy, encryption at rest, random tokens. */
export { randomToken, sha256Hex, timingSafeEqualString } from './random.js';
export { Semaphore } from './semaphore.js';
export {
  matchTotp,
  newRecoveryCodes,
  newTotpSecret,
  legacyRecoveryCodeHash,
  RECOVERY_CODE_COUNT,
  recoveryCodeHash,
  TOTP_DIGITS,
  TOTP_PERIOD_SECONDS,
  totpCode,
  totpStep,
  totpUri,
} from './totp.js';
export { MAX_PASSWORD_BYTES, normalizePassword } from './password-input.js';
export {
  isAcceptedPasswordHash,
  PasswordHasher,
  type PasswordHasherOptions,
  type VerifyResult,
} from './password-hasher.js';
export {
  checkPassword,
  DEFAULT_MAX_PASSWORD_LENGTH,
  DEFAULT_MIN_PASSWORD_LENGTH,
  type PasswordCheck,
  type PasswordPolicyOptions,
} from './password-policy.js';
export { EstimatorUnavailableError } from './password-estimator.js';
export {
  assertPurpose,
  Keyring,
  KeyringError,
  MASTER_KEY_BYTES,
  type KeyringFileJson,
  type LoadedKeyring,
} from './keyring.js';
export {
  DecryptionError,
  FieldCipher,
  type DecryptionFailure,
  type FieldContext,
} from './field-cipher.js';
export {
  createSecretFile,
  keyringText,
  replaceSecretFile,
  rotateKeyFile,
  type KeyringFormat,
  type RotatedKeyFile,
} from './key-file.js';
