import { describe, expect, it } from 'vitest';
import { parseUserImport, type ImportRoles } from '../../src/users/user-import.js';

// Hashes in the shape a login verifies (bcrypt at cost 4, argon2id at OWASP's parameters): the
// parser checks formats and bounds, never a password.
const BCRYPT = '$2b$04$3bDS1Su2a0mHJyGH1l1g7eC6MT0dZmBb0Nq6eZPxaWqK7ByQiBOWa';
const ARGON2 = '$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$qwCk6f3YnKdGf5dGzVjPq7';

const roles: ImportRoles = {
  isRole: (role) => role === 'user' || role === 'admin',
  roles: () => ['admin', 'user'],
  defaultRole: 'user',
};

const parse = (...lines: string[]) => parseUserImport(lines.join('\n'), roles);
const line = (record: Record<string, unknown>) => JSON.stringify(record);

describe('parseUserImport', () => {
  it('reads one account per line, normalised as registration does, with defaults', () => {
    const { users, problems } = parseUserImport(
      [
        line({
          email: ' Ann@Example.COM ',
          name: '  Ann   Lee ',
          role: 'admin',
          passwordHash: BCRYPT,
          emailVerified: true,
        }),
        '',
        line({ email: 'bob@example.com', passwordHash: ARGON2 }),
        '   ',
        line({ email: 'cy@example.com' }),
        '',
      ].join('\r\n'),
      roles,
    );
    expect(problems).toEqual([]);
    expect(users).toEqual([
      {
        line: 1,
        email: 'ann@example.com',
        name: 'Ann Lee',
        role: 'admin',
        passwordHash: BCRYPT,
        emailVerified: true,
      },
      {
        line: 3,
        email: 'bob@example.com',
        name: 'bob',
        role: 'user',
        passwordHash: ARGON2,
        emailVerified: false,
      },
      {
        line: 5,
        email: 'cy@example.com',
        name: 'cy',
        role: 'user',
        passwordHash: null,
        emailVerified: false,
      },
    ]);
  });

  it.each([
    ['not JSON', '{"email": "a@example.com"', 'not a JSON object (one per line)'],
    ['an array', '[{"email": "a@example.com"}]', 'not a JSON object (one per line)'],
    ['a string', '"a@example.com"', 'not a JSON object (one per line)'],
    ['null', 'null', 'not a JSON object (one per line)'],
    [
      'an unknown field',
      line({ email: 'a@example.com', password_hash: BCRYPT }),
      'unknown field "password_hash" (fields: email, name, role, passwordHash, emailVerified)',
    ],
    [
      'a plaintext password',
      line({ email: 'a@example.com', password: 'hunter2hunter2' }),
      'plaintext "password" is not imported: give "passwordHash" (bcrypt or argon2), or leave it out and let the user set one by a password reset',
    ],
    ['no email', line({ name: 'Ann' }), '"email" is required (a string)'],
    ['a numeric email', line({ email: 42 }), '"email" is required (a string)'],
    [
      'an email too long',
      line({ email: `${'a'.repeat(60)}@${'b'.repeat(190)}.com` }),
      '"email" must be at most 254 characters',
    ],
    [
      'a malformed email',
      line({ email: 'ann at example.com' }),
      '"email" must be a valid email address',
    ],
    [
      'a look-alike email',
      line({ email: 'аdmin@example.com' }),
      expect.stringMatching(/^"email" /) as unknown as string,
    ],
    ['a numeric name', line({ email: 'a@example.com', name: 7 }), '"name" must be a string'],
    [
      'a name with a control character',
      line({ email: 'a@example.com', name: 'Eve\nAdmin' }),
      '"name" must not contain control characters',
    ],
    [
      'a name too long',
      line({ email: 'a@example.com', name: 'n'.repeat(101) }),
      '"name" must be at most 100 characters',
    ],
    [
      'an unknown role',
      line({ email: 'a@example.com', role: 'root' }),
      '"role" must be one of admin, user',
    ],
    [
      'a role that is not a string',
      line({ email: 'a@example.com', role: ['admin'] }),
      '"role" must be one of admin, user',
    ],
    [
      'an emailVerified that is not a boolean',
      line({ email: 'a@example.com', emailVerified: 'yes' }),
      '"emailVerified" must be true or false',
    ],
  ])('refuses %s', (_what, text, message) => {
    const { users, problems } = parse(line({ email: 'ok@example.com' }), text);
    expect(problems).toEqual([{ line: 2, message }]);
    expect(users.map((u) => u.email)).toEqual(['ok@example.com']);
  });

  it.each([
    ['a plain string', 'not-a-hash'],
    ['an unsalted SHA-256', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['bcrypt below cost 4', BCRYPT.replace('$04$', '$03$')],
    ['bcrypt above cost 16 (a login would take minutes)', BCRYPT.replace('$04$', '$17$')],
    ['bcrypt cut short', BCRYPT.slice(0, -1)],
    ['an unknown bcrypt variant', BCRYPT.replace('$2b$', '$2x$')],
    ['argon2 with 4 TiB of memory', ARGON2.replace('m=19456', 'm=4294967296')],
    ['a number', 12],
    ['an overlong string', `${BCRYPT}${'a'.repeat(600)}`],
  ])('refuses a passwordHash that no login can verify: %s, without quoting it', (_what, hash) => {
    const { users, problems } = parse(line({ email: 'a@example.com', passwordHash: hash }));
    expect(users).toEqual([]);
    expect(problems).toEqual([
      {
        line: 1,
        message:
          '"passwordHash" is not a hash a login can verify: bcrypt ($2a$, $2b$ or $2y$, cost 4 to 16) or argon2 (PHC string, $argon2id$…)',
      },
    ]);
  });

  it('refuses an address twice in the file, however it is spelt, naming the first line', () => {
    const { users, problems } = parse(
      line({ email: 'ann@example.com' }),
      line({ email: 'bob@example.com' }),
      line({ email: ' ANN@example.com' }),
    );
    expect(users.map((u) => u.line)).toEqual([1, 2]);
    expect(problems).toEqual([{ line: 3, message: 'ann@example.com is also on line 1' }]);
  });

  it('never quotes a line it cannot read (it may hold a hash)', () => {
    const secret = '$2b$04$thisIsNotQuiteAHashButSecretish';
    const { problems } = parse(`{"email": "a@example.com", "passwordHash": "${secret}"`);
    expect(JSON.stringify(problems)).not.toContain('thisIsNot');
  });

  it('reports every problem of the file, each with its line', () => {
    const { problems } = parse(
      'oops',
      line({ email: 'a@example.com' }),
      line({ email: 'b@example.com', role: 'root' }),
      line({}),
    );
    expect(problems.map((p) => p.line)).toEqual([1, 3, 4]);
  });
});
