import { randomInt, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from '../helpers/app.js';
import { STRONG_PASSWORD, uniqueEmail } from '../helpers/identity.js';
import { captureEvents, expectProblem, fieldErrors, postLogin, register } from './support.js';

let t: TestApp;
beforeAll(async () => {
  t = await buildTestApp();
});
afterAll(async () => {
  await t.app.close();
});

const USER_KEYS = [
  'createdAt',
  'email',
  'emailVerified',
  'id',
  'mfaEnabled',
  'name',
  'phone',
  'role',
  'updatedAt',
];

/** Anything that looks like a stored secret or a column that must stay internal. */
const LEAK = /hash|secret|password|argon2|\$2[aby]\$|_enc|disabled|phone_enc/i;

/** A unique suffix of digits only: letters would add a script to the address under test. */
function uniqueDigits(): string {
  return String(randomInt(1e9, 1e10));
}

describe('POST /api/v1/auth/register', () => {
  it('creates a user and answers 201 with the public User shape only', async () => {
    const email = uniqueEmail('reg');
    const res = await register(t.app, { email, password: STRONG_PASSWORD, name: 'Ada Lovelace' });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json<{ user: Record<string, unknown> }>();
    expect(Object.keys(body)).toEqual(['user']);
    expect(Object.keys(body.user).sort()).toEqual(USER_KEYS);
    expect(body.user).toMatchObject({
      email,
      name: 'Ada Lovelace',
      role: 'user',
      phone: null,
      emailVerified: false,
      mfaEnabled: false,
    });
    expect(body.user.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-/);
    expect(new Date(body.user.createdAt as string).toISOString()).toBe(body.user.createdAt);
    // The raw text too: no hash, secret or internal column under any name.
    expect(res.body).not.toMatch(LEAK);
    expect(res.body).not.toContain(STRONG_PASSWORD);
  });

  it('stores an argon2id hash, never the password itself', async () => {
    const email = uniqueEmail('stored');
    const res = await register(t.app, { email, password: STRONG_PASSWORD, name: 'Stored User' });
    expect(res.statusCode).toBe(201);
    const row = await t.app.services.usersRepo.findByEmail(email);
    expect(row?.password_hash).toMatch(/^\$argon2id\$v=19\$/);
    expect(JSON.stringify(row)).not.toContain(STRONG_PASSWORD);
  });

  it('gives ids that are random, not sequential', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await register(t.app, {
        email: uniqueEmail('seq'),
        password: STRONG_PASSWORD,
        name: 'Seq User',
      });
      ids.push(res.json<{ user: { id: string } }>().user.id);
    }
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('normalises the email: trimmed, Unicode NFC, lower-case', async () => {
    const tag = randomUUID().slice(0, 8);
    // "JOSÉ" spelled with a combining acute accent (NFD), padded and in mixed case.
    const res = await register(t.app, {
      email: `  JOSE\u0301-${tag}@Example.COM \t`,
      password: STRONG_PASSWORD,
      name: '  José   Núñez  ',
    });
    expect(res.statusCode, res.body).toBe(201);
    const user = res.json<{ user: { email: string; name: string } }>().user;
    expect(user.email).toBe(`jos\u00e9-${tag}@example.com`);
    expect(user.email).toBe(user.email.normalize('NFC'));
    expect(user.name).toBe('José Núñez');
    // Login finds the account however the address is spelled.
    const login = await postLogin(t.app, `JOSE\u0301-${tag}@EXAMPLE.com`);
    expect(login.statusCode, login.body).toBe(200);
  });

  it('accepts an emoji with its presentation selector, and a keycap, in the name', async () => {
    for (const name of ['Anna \u2764\ufe0f', 'Team 1\ufe0f\u20e3', 'Snow \u2603\ufe0e']) {
      const res = await register(t.app, {
        email: uniqueEmail('emoji'),
        password: STRONG_PASSWORD,
        name,
      });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json<{ user: { name: string } }>().user.name).toBe(name);
    }
  });

  it('emits user.created as a self-registration', async () => {
    const events = captureEvents(t.app);
    const res = await register(t.app, {
      email: uniqueEmail('evt'),
      password: STRONG_PASSWORD,
      name: 'Event User',
    });
    const id = res.json<{ user: { id: string } }>().user.id;
    const created = events.find((e) => e.type === 'user.created' && e.target?.id === id);
    expect(created).toMatchObject({
      outcome: 'success',
      details: { role: 'user', selfRegistered: true },
    });
    expect(JSON.stringify(events)).not.toContain(STRONG_PASSWORD);
  });

  describe('email_taken', () => {
    it('answers 409 for an email already registered', async () => {
      const email = uniqueEmail('dup');
      expect(
        (await register(t.app, { email, password: STRONG_PASSWORD, name: 'One' })).statusCode,
      ).toBe(201);
      const res = await register(t.app, { email, password: STRONG_PASSWORD, name: 'Two' });
      const body = expectProblem(res, 409, 'email_taken');
      expect(res.body).not.toMatch(/unique|constraint|sqlite|duplicate key/i);
      expect(body.errors).toBeUndefined();
    });

    it('answers 409 for the same address in another case or with padding', async () => {
      const email = uniqueEmail('case');
      expect(
        (await register(t.app, { email, password: STRONG_PASSWORD, name: 'One' })).statusCode,
      ).toBe(201);
      for (const variant of [email.toUpperCase(), `  ${email}  `]) {
        expectProblem(
          await register(t.app, { email: variant, password: STRONG_PASSWORD, name: 'Two' }),
          409,
          'email_taken',
        );
      }
    });
  });

  describe('weak_password', () => {
    async function expectWeak(password: string, email: string, name: string): Promise<string[]> {
      const res = await register(t.app, { email, password, name });
      const body = expectProblem(res, 400, 'weak_password');
      const errors = fieldErrors(body);
      expect(errors.length).toBeGreaterThan(0);
      for (const error of errors) {
        expect(error.path).toBe('/body/password');
        // Readable: an English fragment, not a code or a library dump.
        expect(error.message).toMatch(/^[a-z]/i);
        expect(error.message).not.toMatch(/[{}[\]<>]|undefined|null|zxcvbn/);
        expect(error.message.length).toBeLessThan(200);
      }
      // Nothing was created.
      expect(await t.app.services.usersRepo.findByEmail(email)).toBeUndefined();
      // The refused password is never echoed back.
      expect(res.body).not.toContain(password);
      return errors.map((e) => e.message);
    }

    it('refuses a short password', async () => {
      const messages = await expectWeak('Xy7#kq', uniqueEmail('short'), 'Short Pw');
      expect(messages).toContain('must be at least 12 characters');
    });

    it('refuses a common password', async () => {
      const messages = await expectWeak('password1234', uniqueEmail('common'), 'Common Pw');
      expect(messages.some((m) => m.startsWith('is too easy to guess'))).toBe(true);
    });

    it('refuses a password containing the email', async () => {
      const tag = randomUUID().slice(0, 8);
      const email = `quintessa${tag}@example.com`;
      const messages = await expectWeak(`quintessa${tag} rides again 91`, email, 'Some Body');
      expect(messages).toContain('contains your email address or name');
    });

    it('refuses a password containing the name', async () => {
      const messages = await expectWeak(
        'Bartholomew Quince rocks 77',
        uniqueEmail('name'),
        'Bartholomew Quince',
      );
      expect(messages).toContain('contains your email address or name');
    });
  });

  describe('validation_failed', () => {
    it('rejects unknown fields: role: "admin" cannot create an admin (mass assignment)', async () => {
      const email = uniqueEmail('mass');
      const res = await register(t.app, {
        email,
        password: STRONG_PASSWORD,
        name: 'Mallory',
        role: 'admin',
      });
      const body = expectProblem(res, 400, 'validation_failed');
      expect(fieldErrors(body)).toContainEqual({ path: '/body/role', message: 'is not allowed' });
      // Refused, not stripped: no account exists, admin or otherwise.
      expect(await t.app.services.usersRepo.findByEmail(email)).toBeUndefined();
    });

    it('rejects other privileged fields the same way', async () => {
      for (const extra of [
        { disabled: false },
        { emailVerified: true },
        { mfaEnabled: true },
        { password_hash: '$argon2id$v=19$m=1024,t=1,p=1$abc$def' },
        { id: randomUUID() },
      ]) {
        const email = uniqueEmail('extra');
        const res = await register(t.app, {
          email,
          password: STRONG_PASSWORD,
          name: 'Mallory',
          ...extra,
        });
        const body = expectProblem(res, 400, 'validation_failed');
        expect(fieldErrors(body)).toContainEqual({
          path: `/body/${Object.keys(extra)[0]!}`,
          message: 'is not allowed',
        });
        expect(await t.app.services.usersRepo.findByEmail(email)).toBeUndefined();
      }
    });

    it('gives a self-registered user the default role', async () => {
      const email = uniqueEmail('role');
      await register(t.app, { email, password: STRONG_PASSWORD, name: 'Plain' });
      const row = await t.app.services.usersRepo.findByEmail(email);
      expect(row?.role).toBe('user');
    });

    it('names every missing field', async () => {
      const res = await register(t.app, { email: uniqueEmail('missing') });
      const body = expectProblem(res, 400, 'validation_failed');
      expect(fieldErrors(body)).toEqual(
        expect.arrayContaining([
          { path: '/body/password', message: 'is required' },
          { path: '/body/name', message: 'is required' },
        ]),
      );
      expectProblem(await register(t.app, {}), 400, 'validation_failed');
    });

    it('rejects values of the wrong type', async () => {
      const res = await register(t.app, {
        email: ['a@example.com'],
        password: STRONG_PASSWORD,
        name: 42,
      });
      const body = expectProblem(res, 400, 'validation_failed');
      const paths = fieldErrors(body).map((e) => e.path);
      expect(paths).toEqual(expect.arrayContaining(['/body/email', '/body/name']));
    });

    it.each([
      'not-an-email',
      'two@@example.com',
      'spaces in@example.com',
      'no-domain@',
      '@example.com',
      'user@localhost',
      `bell\u0007@example.com`,
      `rtl\u202e@example.com`,
      // RFC 5322 specials: only a quoted local part may hold them, and "admin"@ is admin@.
      '"admin"@example.com',
      '<script>alert(1)</script>@example.com',
      'a,b@example.com',
      'a;b@example.com',
      'a:b@example.com',
      'a(comment)b@example.com',
      'a[b]@example.com',
      'a\\b@example.com',
    ])('rejects the bad email %j', async (email) => {
      const res = await register(t.app, { email, password: STRONG_PASSWORD, name: 'Bad Email' });
      const body = expectProblem(res, 400, 'validation_failed');
      expect(fieldErrors(body)).toEqual([
        { path: '/body/email', message: 'must be a valid email address' },
      ]);
    });

    it.each([
      ['a lone high surrogate', 'sur\ud800@example.com'],
      ['another lone high surrogate', 'sur\ud801@example.com'],
      ['a lone low surrogate', 'sur\udfff@example.com'],
      ['surrogates in the wrong order', 'sur\udc00\ud800@example.com'],
      ['a lone surrogate in the domain', 'sur@exam\ud800ple.com'],
    ])('rejects an email with %s as invalid Unicode, nothing stored', async (_label, email) => {
      const res = await register(t.app, { email, password: STRONG_PASSWORD, name: 'Sur' });
      const body = expectProblem(res, 400, 'validation_failed');
      expect(fieldErrors(body)).toEqual([
        {
          path: '/body/email',
          message: 'must not contain invalid Unicode (an unpaired surrogate)',
        },
      ]);
      // Neither the exact string nor what a driver would make of it (U+FFFD) was stored.
      for (const stored of [email, email.replace(/[\ud800-\udfff]/g, '\ufffd')])
        expect(await t.app.services.usersRepo.findByEmail(stored)).toBeUndefined();
    });

    it.each([
      ['soft hyphen', '\u00ad'],
      ['combining grapheme joiner', '\u034f'],
      ['Arabic letter mark', '\u061c'],
      ['Hangul choseong filler', '\u115f'],
      ['Hangul jungseong filler', '\u1160'],
      ['Khmer inherent vowel', '\u17b4'],
      ['Mongolian variation selector', '\u180b'],
      ['Mongolian vowel separator', '\u180e'],
      ['word joiner', '\u2060'],
      ['invisible plus', '\u2064'],
      ['inhibit symmetric swapping', '\u206a'],
      ['Hangul filler', '\u3164'],
      ['variation selector-1', '\ufe00'],
      ['variation selector-16', '\ufe0f'],
      ['halfwidth Hangul filler', '\uffa0'],
      ['language tag', '\u{e0001}'],
      ['tag letter A', '\u{e0041}'],
      ['cancel tag', '\u{e007f}'],
      ['variation selector-17', '\u{e0100}'],
      ['Arabic number sign', '\u0600'],
      ['interlinear annotation anchor', '\ufff9'],
    ])('rejects an email with an invisible character (%s)', async (_label, char) => {
      const email = uniqueEmail(`inv${char}x`);
      const res = await register(t.app, { email, password: STRONG_PASSWORD, name: 'Invisible' });
      const body = expectProblem(res, 400, 'validation_failed');
      expect(fieldErrors(body)).toEqual([
        { path: '/body/email', message: 'must not contain invisible characters' },
      ]);
      expect(await t.app.services.usersRepo.findByEmail(email)).toBeUndefined();
    });

    it.each([
      [
        'full-width letters',
        '\uff41dmin',
        'must not contain full-width, ligature or other compatibility forms of letters',
      ],
      [
        'a ligature',
        '\ufb01nance',
        'must not contain full-width, ligature or other compatibility forms of letters',
      ],
      [
        'a circled letter',
        '\u24d0dmin',
        'must not contain full-width, ligature or other compatibility forms of letters',
      ],
      [
        'a Cyrillic а among Latin letters',
        '\u0430dmin',
        'must not mix letters or digits of different scripts (such as Latin and Cyrillic)',
      ],
      [
        'a Greek ο among Latin letters',
        'r\u03bfot',
        'must not mix letters or digits of different scripts (such as Latin and Cyrillic)',
      ],
      [
        'Devanagari zeros among Latin letters',
        'g\u0966\u0966gle',
        'must not mix letters or digits of different scripts (such as Latin and Cyrillic)',
      ],
      [
        'a Cyrillic mark on Latin letters',
        'admin\u0483',
        'must not mix letters or digits of different scripts (such as Latin and Cyrillic)',
      ],
      [
        'Cyrillic letters only, each drawn like a Latin one (ѕсоре reads as scope)',
        '\u0455\u0441\u043e\u0440\u0435',
        'must not be spelled only with Cyrillic or Greek letters that look Latin',
      ],
      [
        'Greek letters only, each drawn like a Latin one (ορα reads as opa)',
        '\u039f\u03a1\u0391',
        'must not be spelled only with Cyrillic or Greek letters that look Latin',
      ],
      [
        'a dotted capital I, which lower-cases to i and a hidden dot',
        'ADM\u0130N',
        'must not contain accents hidden in a letter or drawn over each other',
      ],
      [
        'the same accent twice on one letter',
        'a\u0301\u0301dmin',
        'must not contain accents hidden in a letter or drawn over each other',
      ],
    ])(
      'rejects an email that looks like another (%s), nothing stored',
      async (_label, local, message) => {
        const email = `${local}-${uniqueDigits()}@example.com`;
        const res = await register(t.app, { email, password: STRONG_PASSWORD, name: 'Look Alike' });
        const body = expectProblem(res, 400, 'validation_failed');
        expect(fieldErrors(body)).toEqual([{ path: '/body/email', message }]);
        expect(
          await t.app.services.usersRepo.findByEmail(email.normalize('NFC').toLowerCase()),
        ).toBeUndefined();
      },
    );

    it.each([
      ['Cyrillic', '\u0438\u0432\u0430\u043d'],
      [
        'Japanese (Han, Hiragana, Katakana and Latin)',
        '\u7530\u4e2d\u305f\u306a\u304b\u30ab\u30ca-ab',
      ],
      ['Korean with Latin', '\ud64d\uae38\ub3d9-kim'],
      // The prolonged sound mark is a letter of Common script used by both kana.
      ['Japanese with the prolonged sound mark', '\u30b3\u30fc\u30d2\u30fc'],
      ['Arabic with a tatweel and Arabic-Indic digits', '\u0645\u062d\u0640\u0645\u062f\u0661'],
      ['accented Latin', 'ren\u00e9e.m\u00fcller'],
    ])(
      'accepts an address written in one script, or a mix natural to a language (%s)',
      async (_label, local) => {
        const email = `${local}-${uniqueDigits()}@example.com`;
        const res = await register(t.app, { email, password: STRONG_PASSWORD, name: 'One Script' });
        expect(res.statusCode, res.body).toBe(201);
      },
    );

    it('rejects an over-long email', async () => {
      const res = await register(t.app, {
        email: `${'a'.repeat(250)}@example.com`,
        password: STRONG_PASSWORD,
        name: 'Long',
      });
      expectProblem(res, 400, 'validation_failed');
    });

    it.each([
      ['NUL', 'Evil\u0000Name'],
      ['escape', 'Evil\u001b[31mName'],
      ['bidi override', 'Evil\u202eemaN'],
      ['zero-width space', 'Evil\u200bName'],
      ['DEL', 'Evil\u007fName'],
    ])('rejects a name with a control character (%s)', async (_label, name) => {
      const email = uniqueEmail('ctrl');
      const res = await register(t.app, { email, password: STRONG_PASSWORD, name });
      const body = expectProblem(res, 400, 'validation_failed');
      expect(fieldErrors(body)).toEqual([
        { path: '/body/name', message: 'must not contain control characters' },
      ]);
      expect(await t.app.services.usersRepo.findByEmail(email)).toBeUndefined();
    });

    it.each([
      ['a lone high surrogate', 'x\ud800y'],
      ['a lone low surrogate', 'x\udfffy'],
      ['a trailing high surrogate', 'Eve\ud83d'],
    ])('rejects a name with %s as invalid Unicode', async (_label, name) => {
      const email = uniqueEmail('sur');
      const res = await register(t.app, { email, password: STRONG_PASSWORD, name });
      const body = expectProblem(res, 400, 'validation_failed');
      expect(fieldErrors(body)).toEqual([
        { path: '/body/name', message: 'must not contain invalid Unicode (an unpaired surrogate)' },
      ]);
      expect(await t.app.services.usersRepo.findByEmail(email)).toBeUndefined();
    });

    it.each([
      ['soft hyphen', 'Al\u00adice'],
      ['word joiner', 'Al\u2060ice'],
      ['Hangul filler as the whole name', '\u3164'],
      ['Mongolian vowel separator', 'Al\u180eice'],
      ['a variation selector after a letter', 'Alice\ufe0f'],
      ['a second selector after an emoji', 'Alice \u2764\ufe0f\ufe0f'],
      ['a leading selector', '\ufe0fAlice'],
      ['tag characters (hidden text)', 'Alice\u{e0069}\u{e0067}\u{e006e}'],
      ['an ideographic variation selector', '\u845b\u{e0100}'],
    ])('rejects a name with an invisible character (%s)', async (_label, name) => {
      const email = uniqueEmail('inv');
      const res = await register(t.app, { email, password: STRONG_PASSWORD, name });
      const body = expectProblem(res, 400, 'validation_failed');
      expect(fieldErrors(body)).toEqual([
        { path: '/body/name', message: 'must not contain invisible characters' },
      ]);
      expect(await t.app.services.usersRepo.findByEmail(email)).toBeUndefined();
    });

    // The claims of docs/security.md "Input normalisation" that the cases above leave out.
    it.each([
      ['a C1 control character', 'c1\u0085x', 'must be a valid email address'],
      ['a C1 CSI', 'c1\u009bx', 'must be a valid email address'],
      // Zero-width characters, bidi controls and a BOM inside the address are control characters.
      ['a zero-width joiner', 'a\u200db', 'must be a valid email address'],
      ['a BOM inside', 'a\ufeffb', 'must be a valid email address'],
      [
        'a superscript letter',
        '\u1d43dmin',
        'must not contain full-width, ligature or other compatibility forms of letters',
      ],
      [
        'a dot above on j',
        'j\u0307ohn',
        'must not contain accents hidden in a letter or drawn over each other',
      ],
      [
        'a dot above on i, written out',
        'admi\u0307n',
        'must not contain accents hidden in a letter or drawn over each other',
      ],
      [
        'Cyrillic letters only, each drawn like a Latin one (хор)',
        '\u0445\u043e\u0440',
        'must not be spelled only with Cyrillic or Greek letters that look Latin',
      ],
    ])('rejects an email with %s, nothing stored', async (_label, local, message) => {
      const email = `${local}-${uniqueDigits()}@example.com`;
      const res = await register(t.app, { email, password: STRONG_PASSWORD, name: 'Odd Email' });
      const body = expectProblem(res, 400, 'validation_failed');
      expect(fieldErrors(body)).toEqual([{ path: '/body/email', message }]);
      expect(
        await t.app.services.usersRepo.findByEmail(email.normalize('NFC').toLowerCase()),
      ).toBeUndefined();
    });

    it('takes an ASCII domain only: an IDN in its xn-- form, never in Unicode', async () => {
      const unicode = await register(t.app, {
        email: `idn-${uniqueDigits()}@b\u00fccher.example`,
        password: STRONG_PASSWORD,
        name: 'Idn',
      });
      expect(fieldErrors(expectProblem(unicode, 400, 'validation_failed'))).toEqual([
        { path: '/body/email', message: 'must be a valid email address' },
      ]);
      const punycode = await register(t.app, {
        email: `idn-${uniqueDigits()}@xn--bcher-kva.example`,
        password: STRONG_PASSWORD,
        name: 'Idn',
      });
      expect(punycode.statusCode, punycode.body).toBe(201);
    });

    it('accepts Latin with Han and Bopomofo in one local part', async () => {
      const res = await register(t.app, {
        email: `\u4e2d\u3105\u3106-ab-${uniqueDigits()}@example.com`,
        password: STRONG_PASSWORD,
        name: 'Bopomofo',
      });
      expect(res.statusCode, res.body).toBe(201);
    });

    it.each([
      ['a C1 control character', 'Evil\u0085Name', 'must not contain control characters'],
      [
        'emoji joined with U+200D',
        '\u{1f469}\u200d\u{1f4bb}',
        'must not contain control characters',
      ],
      [
        'Persian text with U+200C',
        '\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645',
        'must not contain control characters',
      ],
      [
        'a flag made of tag characters',
        '\u{1f3f4}\u{e0067}\u{e0062}\u{e0065}\u{e006e}\u{e0067}\u{e007f}',
        'must not contain invisible characters',
      ],
    ])(
      'rejects a name with %s (control and invisible characters)',
      async (_label, name, message) => {
        const email = uniqueEmail('price');
        const res = await register(t.app, { email, password: STRONG_PASSWORD, name });
        const body = expectProblem(res, 400, 'validation_failed');
        expect(fieldErrors(body)).toEqual([{ path: '/body/name', message }]);
        expect(await t.app.services.usersRepo.findByEmail(email)).toBeUndefined();
      },
    );

    it('rejects an empty or blank name and an over-long one', async () => {
      for (const name of ['', '   ', 'x'.repeat(101)]) {
        const res = await register(t.app, {
          email: uniqueEmail('blank'),
          password: STRONG_PASSWORD,
          name,
        });
        const body = expectProblem(res, 400, 'validation_failed');
        expect(fieldErrors(body)[0]?.path).toBe('/body/name');
      }
    });

    it('refuses a body that is not JSON with 415', async () => {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/register',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: `email=${encodeURIComponent(uniqueEmail('form'))}&password=x&name=y`,
      });
      expectProblem(res, 415, 'unsupported_media_type');
    });
  });
});
