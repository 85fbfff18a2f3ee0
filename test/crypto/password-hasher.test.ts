import { availableParallelism } from 'node:os';
import { hash as argon2Hash, type Algorithm } from '@node-rs/argon2';
import { hash as bcryptHash, verify as bcryptVerify } from '@node-rs/bcrypt';
import { describe, expect, it } from 'vitest';
import { PasswordHasher } from '../../src/crypto/password-hasher.js';
import { MAX_PASSWORD_BYTES } from '../../src/crypto/password-input.js';

/** Small parameters keep the suite fast; one test below uses the OWASP ones. */
const FAST = { memoryKiB: 1024, iterations: 1, parallelism: 1 };
const OWASP = { memoryKiB: 19456, iterations: 2, parallelism: 1 };
const PASSWORD = 'violet tractor sings at midnight';

const ARGON2D = 0 as Algorithm;
const ARGON2I = 1 as Algorithm;
const ARGON2ID = 2 as Algorithm;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

describe('PasswordHasher options', () => {
  it.each([
    { ...FAST, memoryKiB: 4 },
    { ...FAST, memoryKiB: 1024.5 },
    { ...FAST, iterations: 0 },
    { ...FAST, parallelism: 0 },
    { ...FAST, parallelism: 256 },
    { ...FAST, memoryKiB: 64, parallelism: 16 },
    { ...FAST, maxConcurrent: 0 },
    { ...FAST, maxQueued: -1 },
    { ...FAST, maxQueued: 2.5 },
  ])('refuses %o', (opts) => {
    expect(() => new PasswordHasher(opts)).toThrow(RangeError);
  });
});

describe('PasswordHasher.hash / verify', () => {
  const hasher = new PasswordHasher(FAST);

  it('produces an argon2id PHC string with the configured parameters and a fresh salt', async () => {
    const a = await hasher.hash(PASSWORD);
    const b = await hasher.hash(PASSWORD);
    expect(a).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(a).not.toBe(b);
  });

  it('verifies the right password without asking for a rehash', async () => {
    const stored = await hasher.hash(PASSWORD);
    await expect(hasher.verify(stored, PASSWORD)).resolves.toEqual({
      ok: true,
      needsRehash: false,
    });
  });

  it('rejects a wrong password', async () => {
    const stored = await hasher.hash(PASSWORD);
    for (const wrong of [
      '',
      'violet tractor sings at midnight ',
      'Violet tractor sings at midnight',
    ]) {
      await expect(hasher.verify(stored, wrong)).resolves.toEqual({
        ok: false,
        needsRehash: false,
      });
    }
  });

  it('treats NFKC-equivalent spellings as the same password', async () => {
    // Precomposed é vs e + combining acute; the fi ligature and full-width letters vs ASCII.
    const stored = await hasher.hash('caf\u00e9 \ufb01sh \uff21\uff11 tower');
    await expect(hasher.verify(stored, 'cafe\u0301 fish A1 tower')).resolves.toMatchObject({
      ok: true,
    });
  });

  it('refuses to hash a password over the byte limit, and accepts one at it', async () => {
    await expect(hasher.hash('a'.repeat(MAX_PASSWORD_BYTES + 1))).rejects.toThrow(RangeError);
    // 342 three-byte characters: within the UTF-16 length bound, over the byte bound.
    await expect(hasher.hash('€'.repeat(342))).rejects.toThrow(RangeError);
    // U+FDFA is 3 bytes but 33 after NFKC: under the limit before normalising, over it after.
    await expect(hasher.hash('\ufdfa'.repeat(40))).rejects.toThrow(RangeError);
    const max = 'a'.repeat(MAX_PASSWORD_BYTES);
    await expect(hasher.verify(await hasher.hash(max), max)).resolves.toMatchObject({ ok: true });
  });

  it('answers ok:false for an over-long password without hashing it', async () => {
    const stored = await hasher.hash(PASSWORD);
    await expect(hasher.verify(stored, 'a'.repeat(MAX_PASSWORD_BYTES + 1))).resolves.toEqual({
      ok: false,
      needsRehash: false,
    });
  });
});

describe('PasswordHasher.verify with older hashes', () => {
  const hasher = new PasswordHasher(FAST);

  it('verifies bcrypt $2a$/$2b$/$2y$ hashes and always asks for a rehash', async () => {
    const stored = await bcryptHash(PASSWORD, 4);
    expect(stored.startsWith('$2b$04$')).toBe(true);
    for (const prefix of ['$2a$', '$2b$', '$2y$']) {
      const variant = stored.replace('$2b$', prefix);
      await expect(hasher.verify(variant, PASSWORD)).resolves.toEqual({
        ok: true,
        needsRehash: true,
      });
      await expect(hasher.verify(variant, 'wrong password here')).resolves.toEqual({
        ok: false,
        needsRehash: false,
      });
    }
  });

  it('verifies a legacy bcrypt hash of a password that was not NFKC-normalised', async () => {
    const raw = '\ufb01sh and chips tonight';
    const stored = await bcryptHash(raw, 4);
    await expect(hasher.verify(stored, raw)).resolves.toEqual({ ok: true, needsRehash: true });
  });

  it('refuses a password over 72 bytes against bcrypt, which would compare its first 72 only', async () => {
    const prefix = 'p'.repeat(72);
    const stored = await bcryptHash(`${prefix}-the-real-tail`, 4);
    // What bcrypt itself says: any tail passes.
    await expect(bcryptVerify(`${prefix}-another-tail`, stored)).resolves.toBe(true);
    for (const password of [`${prefix}-another-tail`, `${prefix}-the-real-tail`, `${prefix}x`]) {
      await expect(hasher.verify(stored, password)).resolves.toEqual({
        ok: false,
        needsRehash: false,
      });
    }
    // 72 bytes exactly is all bcrypt ever checked: that still logs in (and is upgraded).
    await expect(hasher.verify(stored, prefix)).resolves.toEqual({ ok: true, needsRehash: true });
    // Bytes, not characters: 24 three-byte characters are 72 bytes, 25 are 75.
    const wide = await bcryptHash('€'.repeat(25), 4);
    await expect(hasher.verify(wide, '€'.repeat(25))).resolves.toMatchObject({ ok: false });
    await expect(hasher.verify(wide, '€'.repeat(24))).resolves.toMatchObject({ ok: true });
    // The raw (not NFKC) form of a legacy password is held to the same bound.
    const ligatures = await bcryptHash('\ufb01'.repeat(30), 4);
    await expect(hasher.verify(ligatures, '\ufb01'.repeat(30))).resolves.toMatchObject({
      ok: false,
    });
  });

  it('asks for a rehash when any argon2 parameter differs from the configured ones', async () => {
    for (const other of [
      { ...FAST, memoryKiB: 512 },
      { ...FAST, memoryKiB: 2048 },
      { ...FAST, iterations: 2 },
      { ...FAST, parallelism: 2 },
    ]) {
      const stored = await new PasswordHasher(other).hash(PASSWORD);
      await expect(hasher.verify(stored, PASSWORD)).resolves.toEqual({
        ok: true,
        needsRehash: true,
      });
    }
  });

  it('asks for a rehash of argon2i and argon2d hashes', async () => {
    for (const [algorithm, prefix] of [
      [ARGON2I, '$argon2i$'],
      [ARGON2D, '$argon2d$'],
    ] as const) {
      const stored = await argon2Hash(PASSWORD, {
        algorithm,
        memoryCost: FAST.memoryKiB,
        timeCost: FAST.iterations,
        parallelism: FAST.parallelism,
      });
      expect(stored.startsWith(prefix)).toBe(true);
      await expect(hasher.verify(stored, PASSWORD)).resolves.toEqual({
        ok: true,
        needsRehash: true,
      });
    }
  });

  it('asks for a rehash of a hash with a short salt or tag', async () => {
    const stored = await argon2Hash(PASSWORD, {
      algorithm: ARGON2ID,
      memoryCost: FAST.memoryKiB,
      timeCost: FAST.iterations,
      parallelism: FAST.parallelism,
      outputLen: 16,
      salt: Buffer.alloc(8, 7),
    });
    await expect(hasher.verify(stored, PASSWORD)).resolves.toEqual({
      ok: true,
      needsRehash: true,
    });
  });

  it('answers ok:false, without throwing, for malformed or unsupported hashes', async () => {
    const good = await hasher.hash(PASSWORD);
    const bcrypt = await bcryptHash(PASSWORD, 4);
    const malformed = [
      '',
      PASSWORD,
      '$argon2id$',
      good.slice(0, -10),
      good.replace('$argon2id$', '$argon2x$'),
      good.replace('m=1024', 'm=abc'),
      good.replace('m=1024', 'm=01024'),
      good.replace(',t=1,', ',t=1,x=2,'),
      good.replace('v=19', 'v=20'),
      good.replace(/\$[^$]+$/, '$not*base64'),
      // Passes the pattern, but 13 base64 characters cannot encode whole bytes: native refuses.
      good.replace(/\$([^$]+)\$([^$]+)$/, '$AAAAAAAAAAAAA$$$2'),
      // Parameters that would let one stored hash exhaust memory or time.
      good.replace('m=1024', 'm=4294967295'),
      good.replace('t=1', 't=100000'),
      '$pbkdf2-sha256$29000$N2ZMaW5K$nAJjPPXn',
      bcrypt.slice(0, -1),
      bcrypt.replace('$04$', '$31$'),
      bcrypt.replace('$04$', '$03$'),
      bcrypt.replace('$2b$', '$2x$'),
      `${good}\n`,
    ];
    for (const stored of malformed) {
      await expect(hasher.verify(stored, PASSWORD), stored).resolves.toEqual({
        ok: false,
        needsRehash: false,
      });
    }
    // Not a string at all (a null column for an account without a password).
    await expect(hasher.verify(null as unknown as string, PASSWORD)).resolves.toEqual({
      ok: false,
      needsRehash: false,
    });
  });
});

describe('PasswordHasher concurrency', () => {
  it('runs at most maxConcurrent hashes at once and queues the rest', async () => {
    const hasher = new PasswordHasher({ ...FAST, maxConcurrent: 2 });
    const pending = Array.from({ length: 10 }, (_, i) => hasher.hash(`${PASSWORD} ${i}`));
    expect(hasher.stats()).toEqual({ running: 2, queued: 8 });

    let settled = false;
    const all = Promise.all(pending).finally(() => (settled = true));
    let maxRunning = 0;
    const seenQueued = new Set<number>();
    while (!settled) {
      const { running, queued } = hasher.stats();
      maxRunning = Math.max(maxRunning, running);
      seenQueued.add(queued);
      await new Promise((r) => setImmediate(r));
    }
    const hashes = await all;
    expect(maxRunning).toBe(2);
    expect(new Set(hashes).size).toBe(10);
    expect(seenQueued.size).toBeGreaterThan(1);
    expect(hasher.stats()).toEqual({ running: 0, queued: 0 });
  });

  it('refuses work beyond maxQueued with 503 service_unavailable, never with a false verification', async () => {
    const hasher = new PasswordHasher({ ...FAST, maxConcurrent: 1, maxQueued: 2 });
    const stored = await hasher.hash(PASSWORD);
    const taken = [hasher.hash('a'), hasher.verify(stored, PASSWORD), hasher.verify(stored, 'b')];
    expect(hasher.stats()).toEqual({ running: 1, queued: 2 });
    for (const refused of [
      hasher.verify(stored, PASSWORD),
      hasher.hash(PASSWORD),
      hasher.verifyDummy(PASSWORD),
    ]) {
      await expect(refused).rejects.toMatchObject({
        code: 'service_unavailable',
        status: 503,
        headers: { 'retry-after': '1' },
      });
    }
    const [, right, wrong] = await Promise.all(taken);
    expect(right).toEqual({ ok: true, needsRehash: false });
    expect(wrong).toEqual({ ok: false, needsRehash: false });
    // Room again once the queue has drained.
    await expect(hasher.verify(stored, PASSWORD)).resolves.toMatchObject({ ok: true });
  });

  it('defaults maxQueued to 64 per concurrent slot', async () => {
    const hasher = new PasswordHasher({ ...FAST, maxConcurrent: 1 });
    const taken = Array.from({ length: 65 }, () => hasher.hash('x'));
    expect(hasher.stats()).toEqual({ running: 1, queued: 64 });
    await expect(hasher.hash('x')).rejects.toMatchObject({ code: 'service_unavailable' });
    await Promise.all(taken);
  });

  it('defaults maxConcurrent to the CPU count', async () => {
    const hasher = new PasswordHasher(FAST);
    const pending = Array.from({ length: availableParallelism() + 3 }, () => hasher.hash('x'));
    expect(hasher.stats()).toEqual({ running: availableParallelism(), queued: 3 });
    await Promise.all(pending);
  });
});

describe('PasswordHasher.verifyDummy', () => {
  // Heavier than FAST so one verification clearly outlasts timer and scheduling noise.
  const params = { memoryKiB: 8192, iterations: 3, parallelism: 1 };

  it('runs a real argon2 verification through the same queue', async () => {
    const hasher = new PasswordHasher({ ...params, maxConcurrent: 1 });
    await hasher.verifyDummy('warm up the lazy dummy hash');

    // Hold the only slot: a dummy verification must then wait for it like a real one.
    const blocker = hasher.hash(PASSWORD);
    const dummy = hasher.verifyDummy(PASSWORD);
    await new Promise((r) => setImmediate(r));
    expect(hasher.stats()).toEqual({ running: 1, queued: 1 });
    await Promise.all([blocker, dummy]);
    expect(hasher.stats()).toEqual({ running: 0, queued: 0 });
  });

  it('takes time comparable to verifying a wrong password', async () => {
    const hasher = new PasswordHasher(params);
    const stored = await hasher.hash(PASSWORD);
    await hasher.verifyDummy('warm up');
    const real: number[] = [];
    const dummy: number[] = [];
    for (let i = 0; i < 5; i += 1) {
      real.push(await timed(() => hasher.verify(stored, 'not the password')));
      dummy.push(await timed(() => hasher.verifyDummy('not the password')));
    }
    // Loose on purpose: the point is that a dummy does the argon2 work, not a benchmark.
    expect(median(dummy)).toBeGreaterThan(0.3 * median(real));
  });

  it('computes the dummy hash once, even for concurrent first calls', async () => {
    const hasher = new PasswordHasher({ ...FAST, maxConcurrent: 4 });
    const first = [hasher.verifyDummy('a'), hasher.verifyDummy('b'), hasher.verifyDummy('c')];
    // One hash for the dummy; the three verifications wait for it.
    expect(hasher.stats()).toEqual({ running: 1, queued: 0 });
    await Promise.all(first);
  });
});

describe('PasswordHasher with OWASP parameters', () => {
  it('hashes with m=19456 KiB, t=2, p=1 and verifies', async () => {
    const hasher = new PasswordHasher(OWASP);
    const start = performance.now();
    const stored = await hasher.hash(PASSWORD);
    const hashMs = performance.now() - start;
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    await expect(hasher.verify(stored, PASSWORD)).resolves.toEqual({
      ok: true,
      needsRehash: false,
    });
    await expect(hasher.verify(stored, 'wrong')).resolves.toEqual({
      ok: false,
      needsRehash: false,
    });
    // A hash under 1 ms would mean the parameters were not applied.
    expect(hashMs).toBeGreaterThan(1);
  });
});
