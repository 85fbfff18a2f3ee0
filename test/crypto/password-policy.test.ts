import { describe, expect, it, vi } from 'vitest';
import { checkPassword } from '../../src/crypto/password-policy.js';

const OPTS = { minLength: 12, maxLength: 128, userInputs: [] as string[] };
const ALICE = ['alice.smith@example.com', 'alice.smith', 'Alice Smith'];
const STRONG = 'violet tractor sings under midnight rain';

describe('checkPassword', () => {
  it('accepts a long, uncommon passphrase with no composition rules', async () => {
    expect(await checkPassword(STRONG, OPTS)).toEqual({ ok: true, reasons: [] });
    // No digit, no capital, no symbol: NIST forbids requiring them.
    expect((await checkPassword('quiltedmarmotpaddlesnorth', OPTS)).ok).toBe(true);
  });

  it('applies the defaults of 12 to 128 characters', async () => {
    expect((await checkPassword('Zq8#vL2!pX', {})).reasons).toContain(
      'must be at least 12 characters',
    );
    expect((await checkPassword(`${STRONG} `.repeat(4), {})).reasons).toContain(
      'must be at most 128 characters',
    );
  });

  it('rejects a password below the minimum length', async () => {
    expect(await checkPassword('Zq8#vL2!pX', OPTS)).toEqual({
      ok: false,
      reasons: ['must be at least 12 characters'],
    });
    expect((await checkPassword('', OPTS)).reasons).toContain('must be at least 12 characters');
  });

  it('rejects a password above the maximum length', async () => {
    const long = 'Zq8#vL2!pX'.repeat(13);
    expect(await checkPassword(long, OPTS)).toEqual({
      ok: false,
      reasons: ['must be at most 128 characters'],
    });
  });

  it('refuses an input far over the limit without analysing it', async () => {
    // The work is checked, not timed (a bound of 50 ms fails whenever a busy machine pauses the
    // test that long): a huge input is refused before NFKC, whose cost grows with its length.
    const normalize = vi.spyOn(String.prototype, 'normalize');
    try {
      const result = await checkPassword('x'.repeat(1_000_000), OPTS);
      expect(result).toEqual({ ok: false, reasons: ['must be at most 128 characters'] });
      expect(normalize).not.toHaveBeenCalled();
    } finally {
      normalize.mockRestore();
    }
  });

  it('counts code points after NFKC, not UTF-16 units or bytes', async () => {
    // 12 emoji are 24 UTF-16 units and 48 bytes, but 12 characters.
    const emoji = '🦊🐙🌵🎻🚲🧭🪁🍄🛶🗝🧩🦉';
    expect([...emoji]).toHaveLength(12);
    expect((await checkPassword(emoji, OPTS)).reasons).not.toContain(
      'must be at least 12 characters',
    );
    // "ﬃ" is one code point but three after NFKC.
    expect((await checkPassword('\ufb03'.repeat(4), OPTS)).reasons).not.toContain(
      'must be at least 12 characters',
    );
    // 11 letters each followed by a combining accent compose to 11 characters.
    const decomposed = 'e\u0301'.repeat(11);
    expect((await checkPassword(decomposed, OPTS)).reasons).toContain(
      'must be at least 12 characters',
    );
  });

  it.each(['password123456', 'qwertyuiopasdf', '123456789012', 'iloveyou2024!', 'P@ssw0rd12345'])(
    'rejects the guessable %s',
    async (password) => {
      const result = await checkPassword(password, OPTS);
      expect(result.ok).toBe(false);
      expect(result.reasons).toHaveLength(1);
      expect(result.reasons[0]).toMatch(/^is too easy to guess: \S/);
    },
  );

  it('explains why a common password is guessable', async () => {
    expect((await checkPassword('password123456', OPTS)).reasons).toEqual([
      'is too easy to guess: this is similar to a commonly used password',
    ]);
  });

  it.each([
    'alice.smith@example.com!',
    'AliceSmith-rocks-2024',
    'my name is smith, ok?',
    'zz alice.smith zz quill',
    'quill-ALICESMITH-breeze',
  ])('rejects %s, which contains the email or name', async (password) => {
    const result = await checkPassword(password, { ...OPTS, userInputs: ALICE });
    expect(result.ok).toBe(false);
    expect(result.reasons).toContain('contains your email address or name');
  });

  it('matches the email local part even when only the email is given', async () => {
    const result = await checkPassword('j.doe.quantum.harbor', {
      ...OPTS,
      userInputs: ['j.doe@mail.example'],
    });
    expect(result.reasons).toContain('contains your email address or name');
  });

  it('does not hold short name parts or the email domain against the user', async () => {
    const userInputs = ['bo@example.com', 'bo', 'Bo Li'];
    expect(await checkPassword('example bonsai limerick harbour', { ...OPTS, userInputs })).toEqual(
      {
        ok: true,
        reasons: [],
      },
    );
  });

  it('accepts the same strong password when it has nothing of the user', async () => {
    expect(await checkPassword(STRONG, { ...OPTS, userInputs: ALICE })).toEqual({
      ok: true,
      reasons: [],
    });
  });

  it.each(['aaaaaaaaaaaaaaaa', '                ', '🦊🦊🦊🦊🦊🦊🦊🦊🦊🦊🦊🦊'])(
    'rejects one repeated character (%j)',
    async (password) => {
      expect(await checkPassword(password, OPTS)).toEqual({
        ok: false,
        reasons: ['must not be a single repeated character'],
      });
    },
  );

  it.each([
    'violet\u0000tractor sings',
    'violet tractor\nsings',
    'violet\ttractor sings',
    'violet tractor\u007fsings',
    'violet tractor\u0085sings',
  ])('rejects control characters (%j)', async (password) => {
    expect((await checkPassword(password, OPTS)).reasons).toContain(
      'must not contain control characters',
    );
  });

  it('rejects an unpaired surrogate, which has no UTF-8 encoding', async () => {
    expect((await checkPassword('violet tractor \ud83d sings', OPTS)).reasons).toContain(
      'contains invalid Unicode',
    );
  });

  it('reports every length and character problem at once', async () => {
    expect((await checkPassword('aaa\u0000', OPTS)).reasons).toEqual([
      'must be at least 12 characters',
      'must not contain control characters',
    ]);
  });
});
