/**
 * The security checklist of the product spec, one entry per numbered line. `bulwark doctor`
 * reports every line; the checks in ./checks.ts say which line they belong to.
 */
export const CHECKLIST: readonly { line: number; practice: string }[] = Object.freeze([
  { line: 1, practice: 'strong authentication' },
  { line: 2, practice: 'authorization / RBAC' },
  { line: 3, practice: 'OAuth 2.0 / OIDC login' },
  { line: 4, practice: 'input validation' },
  { line: 5, practice: 'sanitization' },
  { line: 6, practice: 'SQL injection' },
  { line: 7, practice: 'rate limiting' },
  { line: 8, practice: 'HTTPS' },
  { line: 9, practice: 'encryption at rest' },
  { line: 10, practice: 'security headers' },
  { line: 11, practice: 'error handling' },
  { line: 12, practice: 'logging & monitoring' },
  { line: 13, practice: 'API versioning' },
  { line: 14, practice: 'CORS' },
  { line: 15, practice: 'security testing' },
  { line: 16, practice: 'dependency hygiene' },
  { line: 17, practice: 'misconfiguration' },
]);
