import { randomBytes, randomUUID } from 'node:crypto';
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  importJWK,
  jwtVerify,
  SignJWT,
  type JWK,
  type JSONWebKeySet,
} from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildApp, type BulwarkApp } from '../../src/app.js';
import { createConfig, type ConfigInput } from '../../src/config/index.js';
import { FieldCipher } from '../../src/crypto/index.js';
import {
  ENCRYPTED_COLUMNS,
  SigningKeysRepository,
  type SigningKeyRow,
} from '../../src/db/index.js';
import type { RecordedSecurityEvent } from '../../src/security-events.js';
import { MemoryStore } from '../../src/store/index.js';
import { KeyRotationBus } from '../../src/tokens/key-rotation-bus.js';
import { SigningKeyStore, type SigningKey } from '../../src/tokens/signing-keys.js';
import {
  buildTestApp,
  LogCapture,
  TEST_MASTER_KEY,
  testConfigInput,
  type TestApp,
} from '../helpers/app.js';
import { createMigratedTestDb, type TestDb } from '../helpers/db.js';
import { deletePrefix, redisUrl, requireRedis, uniquePrefix } from '../helpers/redis.js';
import { bearer, jwtPayload, registerAndLogin, type LoggedIn } from '../helpers/identity.js';

/*
 * The signing-key lifecycle: created once and stored wrapped, published without private parts,
 * rotated without downtime, retired on schedule, shared by every instance on one database.
 * The tests run in order on one app whose clock they move. Most rotate with `--now` (the new key
 * signs at once), which puts the most strain on other instances; 'publishing the next key ahead'
 * covers the default.
 */

const TTL = 900;
const TOLERANCE = 5;
const REFRESH_INTERVAL_MS = 60_000; // src/config/signing-keys.ts KEY_REFRESH_INTERVAL_MS
const RETIRED_LIFETIME_MS = (TTL + TOLERANCE) * 1000 + REFRESH_INTERVAL_MS;
const RELOAD_INTERVAL_MS = 10_000; // SigningKeyStore's default reloadIntervalMs
const PUBLISH_AHEAD_MS = 600_000; // tokens.keyPublishAheadSeconds' default
/** `bulwark keys rotate --now`. */
const NOW = { immediate: true };
const TOKENS: ConfigInput = {
  tokens: { accessTokenTtlSeconds: TTL, clockToleranceSeconds: TOLERANCE },
};

let clock = Date.now();
let t: TestApp;
let alice: LoggedIn;
const events: RecordedSecurityEvent[] = [];

beforeAll(async () => {
  t = await buildTestApp(TOKENS, { now: () => clock });
  t.app.services.events.addSink({ record: (event) => void events.push(event) });
  alice = await registerAndLogin(t.app);
});
afterAll(async () => {
  await t.app.close();
});
beforeEach(() => {
  events.length = 0;
});

async function keyRows(): Promise<SigningKeyRow[]> {
  return t.testDb.db.kysely.selectFrom('signing_keys').selectAll().orderBy('created_at').execute();
}

async function fetchJwks(app: BulwarkApp = t.app): Promise<{ raw: string; jwks: JSONWebKeySet }> {
  const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
  expect(res.statusCode).toBe(200);
  return { raw: res.body, jwks: res.json<JSONWebKeySet>() };
}

async function kids(app: BulwarkApp = t.app): Promise<string[]> {
  return (await fetchJwks(app)).jwks.keys.map((k) => k.kid!).sort();
}

function kidOf(token: string): string {
  return decodeProtectedHeader(token).kid!;
}

async function loginFresh(app: BulwarkApp, user: LoggedIn): Promise<string> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email: user.email, password: user.password },
  });
  expect(res.statusCode, res.body).toBe(200);
  return res.json<{ accessToken: string }>().accessToken;
}

async function meStatus(token: string, app: BulwarkApp = t.app): Promise<number> {
  return (await app.inject({ method: 'GET', url: '/api/v1/users/me', headers: bearer(token) }))
    .statusCode;
}

/** A token with fresh, valid claims signed by `signing` (which may be a retired key). */
async function signWith(signing: SigningKey, user: LoggedIn, sid = user.sessionId) {
  const iat = Math.floor(clock / 1000);
  return new SignJWT({ sid, role: 'user' })
    .setProtectedHeader({ alg: signing.alg, kid: signing.kid, typ: 'at+jwt' })
    .setIssuer(t.config.tokens.issuer)
    .setAudience(t.config.tokens.audience)
    .setSubject(user.id)
    .setJti(randomUUID())
    .setIssuedAt(iat)
    .setExpirationTime(iat + TTL)
    .sign(signing.keyObject);
}

function invalidReasons(): unknown[] {
  return events.filter((e) => e.type === 'token.invalid').map((e) => e.details?.reason);
}

/** Builds another instance on the test's database (as a second process would). */
async function secondInstance(input: ConfigInput = TOKENS): Promise<BulwarkApp> {
  return buildApp(createConfig(testConfigInput(t.testDb, input)), {
    logger: new LogCapture(),
    now: () => clock,
  });
}

describe('the first key', () => {
  it('is created on first start, once', async () => {
    const rows = await keyRows();
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(row).toMatchObject({
      id: t.app.services.signingKeys.signingKey().kid,
      alg: 'EdDSA',
      retired_at: null,
      expires_at: null,
    });
    expect(kidOf(alice.accessToken)).toBe(row!.id);
  });

  it('is published in the JWKS with its public members only', async () => {
    const { raw, jwks } = await fetchJwks();
    expect(raw).not.toMatch(/"d"\s*:/);
    expect(raw).not.toMatch(/"(p|q|dp|dq|qi|k|oth)"\s*:/);
    const [row] = await keyRows();
    const publicJwk = JSON.parse(row!.public_jwk) as JWK;
    expect(jwks.keys).toEqual([
      { kty: 'OKP', crv: 'Ed25519', x: publicJwk.x, kid: row!.id, alg: 'EdDSA', use: 'sig' },
    ]);
    expect(publicJwk).not.toHaveProperty('d');
  });

  it('verifies issued tokens for anyone holding only the published JWKS', async () => {
    const { jwks } = await fetchJwks();
    const { payload, protectedHeader } = await jwtVerify(
      alice.accessToken,
      createLocalJWKSet(jwks),
      {
        issuer: t.config.tokens.issuer,
        audience: t.config.tokens.audience,
        typ: 'at+jwt',
        algorithms: ['EdDSA'],
        currentDate: new Date(clock),
      },
    );
    expect(protectedHeader).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' });
    expect(payload.sub).toBe(alice.id);
  });

  it('stores the private key only wrapped under the master key', async () => {
    const [row] = await keyRows();
    const envelope = row!.private_key_enc;
    expect(envelope.startsWith('bwf1.')).toBe(true);

    // Unwrap it the way the store does, to learn the secret `d` the column must not reveal.
    const cipher = new FieldCipher(t.app.services.keyring, 'signing-key-wrap');
    const location = { table: 'signing_keys', column: 'private_key', rowId: row!.id };
    const privateJwk = JSON.parse(cipher.decrypt(envelope, location)) as JWK;
    expect(typeof privateJwk.d).toBe('string');
    const d = privateJwk.d!;
    const dBytes = Buffer.from(d, 'base64url');
    for (const form of [d, dBytes.toString('base64'), dBytes.toString('hex'), '"d"', 'OKP']) {
      expect(envelope).not.toContain(form);
    }
    expect(row!.public_jwk).not.toContain(d);

    // It is the private half of the published key: what it signs, the JWKS verifies.
    const privateKey = await importJWK(privateJwk, 'EdDSA');
    const token = await new SignJWT({ probe: true })
      .setProtectedHeader({ alg: 'EdDSA', kid: row!.id })
      .sign(privateKey);
    await expect(
      jwtVerify(token, createLocalJWKSet((await fetchJwks()).jwks)),
    ).resolves.toBeTruthy();

    // The envelope is bound to its row: copied onto another key id it does not decrypt.
    expect(() => cipher.decrypt(envelope, { ...location, rowId: randomUUID() })).toThrow();
    // ...and to its purpose: the field-encryption key cannot open it.
    expect(() =>
      new FieldCipher(t.app.services.keyring, 'field-encryption').decrypt(envelope, location),
    ).toThrow();
  });
});

describe('rotation', () => {
  let oldKey: SigningKey;
  let oldToken: string;
  let newKid: string;
  let rotatedAt: number;

  it('publishes the new key next to the old one', async () => {
    // The clock stands still unless a test moves it: a rotation in the very millisecond of the
    // first key's creation would order the new key a millisecond later.
    clock += 1_000;
    oldKey = t.app.services.signingKeys.signingKey();
    oldToken = alice.accessToken;
    rotatedAt = clock;
    const { kid, retired } = await t.app.services.signingKeys.rotate({}, NOW);
    newKid = kid;
    expect(retired).toBe(oldKey.kid);
    expect(newKid).not.toBe(oldKey.kid);
    expect(await kids()).toEqual([oldKey.kid, newKid].sort());

    const rows = await keyRows();
    expect(rows.find((r) => r.id === oldKey.kid)).toMatchObject({
      retired_at: rotatedAt,
      expires_at: rotatedAt + RETIRED_LIFETIME_MS,
    });
    expect(rows.find((r) => r.id === newKid)).toMatchObject({ retired_at: null, expires_at: null });
  });

  it('keeps tokens signed before the rotation working', async () => {
    expect(kidOf(oldToken)).toBe(oldKey.kid);
    expect(await meStatus(oldToken)).toBe(200);
  });

  it('signs new tokens with the new key', async () => {
    const token = await loginFresh(t.app, alice);
    expect(kidOf(token)).toBe(newKid);
    expect(decodeProtectedHeader(token).alg).toBe('EdDSA');
    expect(await meStatus(token)).toBe(200);
  });

  it('drops the old key once every token it signed has expired', async () => {
    // One moment before the old key expires it still verifies a token it signed.
    clock = rotatedAt + RETIRED_LIFETIME_MS - 1_000;
    expect(await meStatus(await signWith(oldKey, alice))).toBe(200);

    clock = rotatedAt + RETIRED_LIFETIME_MS + 1;
    expect(await kids()).toEqual([newKid]);
    events.length = 0;
    expect(await meStatus(oldToken)).toBe(401);
    // A token with fresh claims shows it is the key that is refused, not just the old exp.
    expect(await meStatus(await signWith(oldKey, alice))).toBe(401);
    expect(invalidReasons()).toEqual(['unknown kid', 'unknown kid']);

    const current = await loginFresh(t.app, alice);
    expect(kidOf(current)).toBe(newKid);
    expect(await meStatus(current)).toBe(200);
  });

  it('reloads for an unknown kid at most once per interval, so forged kids cannot hammer the database', async () => {
    const listVerifiable = vi.spyOn(SigningKeysRepository.prototype, 'listVerifiable');
    try {
      const forged = { ...t.app.services.signingKeys.signingKey(), kid: randomUUID() };
      clock += RELOAD_INTERVAL_MS;
      const tokens = await Promise.all(
        Array.from({ length: 20 }, () => signWith({ ...forged, kid: randomUUID() }, alice)),
      );
      const statuses = await Promise.all(tokens.map((token) => meStatus(token)));
      expect(statuses.every((s) => s === 401)).toBe(true);
      expect(listVerifiable).toHaveBeenCalledTimes(1);
      for (const token of tokens.slice(0, 5)) expect(await meStatus(token)).toBe(401);
      expect(listVerifiable).toHaveBeenCalledTimes(1);
    } finally {
      listVerifiable.mockRestore();
    }
  });
});

describe('several instances on one database', () => {
  let other: BulwarkApp;

  beforeAll(async () => {
    other = await secondInstance();
  });
  afterAll(async () => {
    await other.close();
  });

  it('share the existing key instead of creating their own', async () => {
    expect((await keyRows()).filter((r) => r.retired_at === null)).toHaveLength(1);
    expect(await kids(other)).toEqual(await kids(t.app));
    expect(other.services.signingKeys.signingKey().kid).toBe(
      t.app.services.signingKeys.signingKey().kid,
    );
  });

  it("verify each other's tokens", async () => {
    const fromFirst = await loginFresh(t.app, alice);
    expect(await meStatus(fromFirst, other)).toBe(200);
    const fromSecond = await loginFresh(other, alice);
    expect(await meStatus(fromSecond, t.app)).toBe(200);
  });

  it('pick up a rotation done by another instance through the unknown-kid reload', async () => {
    const previous = t.app.services.signingKeys.signingKey();
    const before = other.services.signingKeys.signingKey().kid;
    expect(before).toBe(previous.kid);
    const { kid } = await t.app.services.signingKeys.rotate({}, NOW);
    const token = await loginFresh(t.app, alice);
    expect(kidOf(token)).toBe(kid);

    // The second instance has not seen the new key yet; the first request naming it reloads.
    clock += RELOAD_INTERVAL_MS;
    expect(await kids(other)).not.toContain(kid);
    expect(await meStatus(token, other)).toBe(200);
    expect(await kids(other)).toEqual([before, kid].sort());
    // ...and from then on it signs with the new key too, and still verifies the previous one.
    const fromSecond = await loginFresh(other, alice);
    expect(kidOf(fromSecond)).toBe(kid);
    expect(await meStatus(await signWith(previous, alice), other)).toBe(200);
  });

  it('verify a token naming a key rotated elsewhere even right after their own periodic reload', async () => {
    // Each instance re-reads the keys on its own timer. This one's fired just before another
    // instance rotated and began signing with the new key: a token naming it must still verify
    // here (the periodic reload is no forged kid, and must not hold the reload for one back).
    clock += RELOAD_INTERVAL_MS;
    await other.services.signingKeys.reload();
    clock += 1_000;
    const { kid } = await t.app.services.signingKeys.rotate({}, NOW);
    const token = await loginFresh(t.app, alice);
    expect(kidOf(token)).toBe(kid);
    clock += 1_000;
    expect(await meStatus(token, other)).toBe(200);
  });

  it('switch to a key rotated elsewhere (e.g. by `bulwark keys rotate`) within the refresh interval, unprompted', async () => {
    const { kid } = await t.app.services.signingKeys.rotate({}, NOW);
    // No request names the new kid: only the periodic refresh can bring it to the other instance.
    expect(other.services.signingKeys.signingKey().kid).not.toBe(kid);
    clock += REFRESH_INTERVAL_MS;
    other.services.signingKeys.signingKey(); // stale: starts a background reload
    await vi.waitFor(() => expect(other.services.signingKeys.signingKey().kid).toBe(kid));
    expect(kidOf(await loginFresh(other, alice))).toBe(kid);
    expect(await kids(other)).toContain(kid);
  });
});

describe('an instance that gets no traffic', () => {
  it('picks up a rotation on its own timer, without signing or a request', async () => {
    // A clock running in real time from the test's, and a short interval: only the store's own
    // timer can reload it here.
    const started = Date.now();
    const idle = new SigningKeyStore(
      new SigningKeysRepository(t.testDb.db.kysely),
      new FieldCipher(t.app.services.keyring, ENCRYPTED_COLUMNS.signingKeysPrivateKey.purpose),
      {
        algorithm: 'EdDSA',
        retiredKeyLifetimeMs: RETIRED_LIFETIME_MS,
        refreshIntervalMs: 40,
        now: () => clock + (Date.now() - started),
      },
    );
    await idle.init();
    try {
      const { kid } = await t.app.services.signingKeys.rotate({}, NOW);
      // jwks() and usable() never reload by themselves.
      await vi.waitFor(() => expect(idle.jwks().keys.map((k) => k.kid)).toContain(kid), {
        timeout: 2_000,
      });
      expect(idle.signingKey().kid).toBe(kid);
    } finally {
      idle.close();
    }
    // Closed: no more reloads (the database may be gone by now in a real shutdown).
    const listVerifiable = vi.spyOn(SigningKeysRepository.prototype, 'listVerifiable');
    try {
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(listVerifiable).not.toHaveBeenCalled();
    } finally {
      listVerifiable.mockRestore();
    }
  });

  it('signs its first login after a rotation with a key every instance accepts', async () => {
    const idle = await secondInstance();
    try {
      const before = idle.services.signingKeys.signingKey().kid;
      const { kid } = await t.app.services.signingKeys.rotate({}, NOW); // e.g. `bulwark keys rotate`
      // Right after: still the retired key, which verifies for a refresh interval longer than
      // its tokens live.
      const right = await loginFresh(idle, alice);
      expect(kidOf(right)).toBe(before);
      expect(await meStatus(right, idle)).toBe(200);
      expect(await meStatus(right, t.app)).toBe(200);
      // Long after, with no traffic in between (the clock moved, no timer ran): a token signed
      // with the retired key would be refused at once; the login re-reads the keys first.
      clock += RETIRED_LIFETIME_MS + 1;
      const later = await loginFresh(idle, alice);
      expect(kidOf(later)).toBe(kid);
      expect(await meStatus(later, idle)).toBe(200);
      expect(await meStatus(later, t.app)).toBe(200);
      expect(await kids(idle)).toEqual([kid]);
    } finally {
      await idle.close();
    }
  });

  it('publishes a rotation in its JWKS once its keys are a refresh interval old', async () => {
    const idle = await secondInstance();
    try {
      const { kid } = await t.app.services.signingKeys.rotate({}, NOW);
      expect(await kids(idle)).not.toContain(kid);
      clock += REFRESH_INTERVAL_MS;
      expect(await kids(idle)).toContain(kid);
    } finally {
      await idle.close();
    }
  });
});

describe('publishing the next key ahead (the default)', () => {
  let other: BulwarkApp;
  beforeAll(async () => {
    other = await secondInstance();
  });
  afterAll(async () => {
    await other.close();
  });
  beforeEach(() => {
    clock += 1_000; // a rotation in the millisecond a key began signing orders its key 1 ms later
  });

  /** Whether a resource server holding only `jwks` (a cached copy) accepts `token` now. */
  async function verifiesWith(jwks: JSONWebKeySet, token: string): Promise<boolean> {
    try {
      await jwtVerify(token, createLocalJWKSet(jwks), {
        issuer: t.config.tokens.issuer,
        audience: t.config.tokens.audience,
        currentDate: new Date(clock),
      });
      return true;
    } catch {
      return false;
    }
  }

  it('publishes the next key at once and signs with it only from its time', async () => {
    const signingNow = t.app.services.signingKeys.signingKey().kid;
    const rotatedAt = clock;
    const { kid, retired, signsFrom } = await t.app.services.signingKeys.rotate();
    expect(signsFrom).toBe(rotatedAt + PUBLISH_AHEAD_MS);
    expect(retired).toBe(signingNow);
    expect(await kids()).toEqual(expect.arrayContaining([signingNow, kid]));
    const rows = await keyRows();
    expect(rows.find((r) => r.id === kid)).toMatchObject({
      created_at: signsFrom,
      retired_at: null,
      expires_at: null,
    });
    expect(rows.find((r) => r.id === signingNow)).toMatchObject({
      retired_at: signsFrom,
      expires_at: signsFrom + RETIRED_LIFETIME_MS,
    });
    expect(events.filter((e) => e.type === 'keys.rotated')).toEqual([
      expect.objectContaining({
        target: { type: 'signing_key', id: kid },
        details: { algorithm: 'EdDSA', retired: signingNow, signsFrom },
      }),
    ]);

    // Until its time the current key goes on signing; from then on the new one.
    expect(kidOf(await loginFresh(t.app, alice))).toBe(signingNow);
    clock = signsFrom - 1;
    expect(kidOf(await loginFresh(t.app, alice))).toBe(signingNow);
    clock = signsFrom;
    const first = await loginFresh(t.app, alice);
    expect(kidOf(first)).toBe(kid);
    expect(await meStatus(first, other)).toBe(200);
  });

  it('issues no token that a JWKS fetched within its max-age before cannot verify', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    const maxAgeMs = Number(/max-age=(\d+)/.exec(String(res.headers['cache-control']))?.[1]) * 1000;
    expect(maxAgeMs).toBe(300_000);
    expect(PUBLISH_AHEAD_MS).toBeGreaterThan(maxAgeMs + REFRESH_INTERVAL_MS);

    // Fetched just before the rotation: verifies what is issued just after it.
    const beforeRotation = res.json<JSONWebKeySet>();
    const { kid, signsFrom } = await t.app.services.signingKeys.rotate();
    clock += 1_000;
    expect(await verifiesWith(beforeRotation, await loginFresh(t.app, alice))).toBe(true);
    // The oldest copy still fresh at the switch already names the new key.
    clock = signsFrom - maxAgeMs;
    const oldestFresh = (await fetchJwks()).jwks;
    clock = signsFrom;
    const first = await loginFresh(t.app, alice);
    expect(kidOf(first)).toBe(kid);
    expect(await verifiesWith(oldestFresh, first)).toBe(true);

    // What a key signing at once (`--now`) does to the same kind of verifier: refused until it
    // fetches the JWKS again.
    const held = (await fetchJwks()).jwks;
    clock += 1_000;
    const immediate = await t.app.services.signingKeys.rotate({}, NOW);
    expect(immediate.signsFrom).toBe(clock);
    const token = await loginFresh(t.app, alice);
    expect(kidOf(token)).toBe(immediate.kid);
    expect(await verifiesWith(held, token)).toBe(false);
    expect(await verifiesWith((await fetchJwks()).jwks, token)).toBe(true);
  });

  it('switches every instance at the key’s time by its own clock, with no reload', async () => {
    const { kid, signsFrom, retired } = await t.app.services.signingKeys.rotate();
    // The other instance's periodic reload, some time before the switch, sees the next key.
    clock = signsFrom - 30_000;
    await other.services.signingKeys.reload();
    expect(await kids(other)).toContain(kid);
    const listVerifiable = vi.spyOn(SigningKeysRepository.prototype, 'listVerifiable');
    try {
      clock = signsFrom - 1;
      expect(other.services.signingKeys.signingKey().kid).toBe(retired);
      clock = signsFrom;
      expect(other.services.signingKeys.signingKey().kid).toBe(kid);
      expect(listVerifiable).not.toHaveBeenCalled();
    } finally {
      listVerifiable.mockRestore();
    }
  });

  it('a rotation while the next key waits lets that key sign only until the newer one’s time', async () => {
    const first = await t.app.services.signingKeys.rotate();
    clock += 60_000;
    const second = await t.app.services.signingKeys.rotate();
    expect(second.signsFrom).toBe(clock + PUBLISH_AHEAD_MS);
    expect(second.retired).toBe(first.retired); // the key signing now
    expect(await kids()).toEqual(expect.arrayContaining([first.retired, first.kid, second.kid]));
    expect((await keyRows()).find((r) => r.id === first.kid)).toMatchObject({
      retired_at: second.signsFrom,
      expires_at: second.signsFrom + RETIRED_LIFETIME_MS,
    });
    clock = first.signsFrom;
    expect(kidOf(await loginFresh(t.app, alice))).toBe(first.kid);
    clock = second.signsFrom;
    expect(kidOf(await loginFresh(t.app, alice))).toBe(second.kid);
  });

  it('--now signs at once, and a next key already waiting still takes over at its time', async () => {
    const waiting = await t.app.services.signingKeys.rotate();
    const immediate = await t.app.services.signingKeys.rotate({}, NOW);
    expect(immediate.retired).toBe(waiting.retired);
    expect(kidOf(await loginFresh(t.app, alice))).toBe(immediate.kid);
    clock = waiting.signsFrom;
    expect(kidOf(await loginFresh(t.app, alice))).toBe(waiting.kid);
    // Both keys it replaced stopped signing then, and leave the JWKS a token lifetime later.
    clock = waiting.signsFrom + RETIRED_LIFETIME_MS + 1;
    expect(await kids()).toEqual([waiting.kid]);
  });
});

describe('revoking every other key (a leaked key)', () => {
  let other: BulwarkApp;
  beforeAll(async () => {
    other = await secondInstance();
  });
  afterAll(async () => {
    await other.close();
  });

  it('refuses every token signed before at once, here and on other instances after their re-read', async () => {
    clock += 1_000;
    const before = await loginFresh(t.app, alice);
    const waiting = await t.app.services.signingKeys.rotate(); // a next key, already published
    expect(await meStatus(before, other)).toBe(200);
    const oldKeys = (await kids()).filter((kid) => kid !== waiting.kid);
    events.length = 0;

    const { kid, revoked, signsFrom } = await t.app.services.signingKeys.rotate(
      {},
      { revokeOthers: true },
    );
    expect(signsFrom).toBe(clock);
    expect(revoked).toEqual([...oldKeys, waiting.kid].sort());
    expect(await kids()).toEqual([kid]);
    for (const row of await keyRows()) {
      if (row.id === kid) continue;
      expect(row.expires_at).toBeLessThanOrEqual(clock);
    }
    expect(events.find((e) => e.type === 'keys.rotated')?.details).toEqual({
      algorithm: 'EdDSA',
      retired: kidOf(before),
      signsFrom,
      revoked,
    });

    // Here: refused at once, even the cached verification of a token seen before.
    expect(await meStatus(before)).toBe(401);
    const after = await loginFresh(t.app, alice);
    expect(kidOf(after)).toBe(kid);
    expect(await meStatus(after)).toBe(200);
    // A next key that was waiting would have signed later: it is revoked too, and never signs.
    clock = waiting.signsFrom + 1;
    expect(kidOf(await loginFresh(t.app, alice))).toBe(kid);

    // Another instance without Redis: at its periodic re-read at the latest (its timer runs on
    // real time; here the clock moves, so the test makes the timer's call).
    clock += REFRESH_INTERVAL_MS;
    await other.services.signingKeys.refreshIfDue();
    expect(await meStatus(before, other)).toBe(401);
    expect(await meStatus(after, other)).toBe(200);
    expect(await kids(other)).toEqual([kid]);
  });
});

describe('ES256', () => {
  let es: TestApp;
  beforeAll(async () => {
    es = await buildTestApp({ tokens: { algorithm: 'ES256' } });
  });
  afterAll(async () => {
    await es.app.close();
  });

  it('issues ES256 tokens that verify, and publishes a P-256 key', async () => {
    const user = await registerAndLogin(es.app);
    const header = decodeProtectedHeader(user.accessToken);
    expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    expect(
      (
        await es.app.inject({
          method: 'GET',
          url: '/api/v1/users/me',
          headers: bearer(user.accessToken),
        })
      ).statusCode,
    ).toBe(200);

    const { raw, jwks } = await fetchJwks(es.app);
    expect(raw).not.toMatch(/"d"\s*:/);
    expect(jwks.keys).toEqual([
      {
        kty: 'EC',
        crv: 'P-256',
        x: expect.any(String) as unknown,
        y: expect.any(String) as unknown,
        kid: header.kid,
        alg: 'ES256',
        use: 'sig',
      },
    ]);
    const { payload } = await jwtVerify(user.accessToken, createLocalJWKSet(jwks), {
      algorithms: ['ES256'],
      issuer: es.config.tokens.issuer,
      audience: es.config.tokens.audience,
    });
    expect(payload.sub).toBe(user.id);
    expect(jwtPayload(user.accessToken).sid).toBe(user.sessionId);
  });
});

describe('a wrong master key', () => {
  it('cannot load the stored key: start-up fails, without key material in the error', async () => {
    const wrongKey = randomBytes(32).toString('base64');
    const rowsBefore = await keyRows();
    const logs = new LogCapture();
    let failure: unknown;
    try {
      const app = await buildApp(
        createConfig(testConfigInput(t.testDb, { ...TOKENS, keys: { masterKey: wrongKey } })),
        { logger: logs, now: () => clock },
      );
      await app.close();
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(Error);

    // Everything an operator (or a log shipper) could see of the error.
    const chain: string[] = [];
    for (let e: unknown = failure; e instanceof Error; e = e.cause) {
      chain.push(e.message, e.stack ?? '', JSON.stringify(e));
    }
    const seen = [...chain, ...logs.raw].join('\n');
    const secrets = [wrongKey, TEST_MASTER_KEY].flatMap((key) => {
      const bytes = Buffer.from(key, 'base64');
      return [key, bytes.toString('hex'), bytes.toString('base64url')];
    });
    for (const row of rowsBefore) secrets.push(...row.private_key_enc.split('.').slice(2));
    for (const secret of secrets) expect(seen).not.toContain(secret);

    // Nothing was written: no replacement key was generated behind the operator's back.
    expect(await keyRows()).toEqual(rowsBefore);
    expect(await meStatus(await loginFresh(t.app, alice))).toBe(200);
  });
});

describe('several instances creating or rotating keys at the same moment', () => {
  let own: TestDb;
  beforeAll(async () => {
    own = await createMigratedTestDb();
  });
  afterAll(async () => {
    await own?.cleanup();
  });

  /**
   * A repository whose inserts wait until `parties` of them are pending: every instance has read
   * the keys (found none, or the same current one) before any writes, as two processes can.
   */
  function racingRepo(parties: number): SigningKeysRepository {
    let waiting: (() => void)[] = [];
    return new (class extends SigningKeysRepository {
      override async insert(row: SigningKeyRow): Promise<SigningKeyRow> {
        await new Promise<void>((resolve) => {
          waiting.push(resolve);
          if (waiting.length === parties) {
            for (const go of waiting) go();
            waiting = [];
          }
        });
        return super.insert(row);
      }
    })(own.db.kysely);
  }

  /** A key store on the file's own database, as another process would hold. */
  function store(repo = new SigningKeysRepository(own.db.kysely)): SigningKeyStore {
    return new SigningKeyStore(
      repo,
      new FieldCipher(t.app.services.keyring, ENCRYPTED_COLUMNS.signingKeysPrivateKey.purpose),
      { algorithm: 'EdDSA', retiredKeyLifetimeMs: RETIRED_LIFETIME_MS, now: () => clock },
    );
  }
  const rows = (): Promise<SigningKeyRow[]> =>
    own.db.kysely.selectFrom('signing_keys').selectAll().orderBy('created_at').execute();
  const signing = async (): Promise<SigningKeyRow[]> =>
    (await rows()).filter((row) => row.retired_at === null);

  /** Exactly one key signs; every other one verifies for the retired lifetime, then never. */
  async function expectOneCurrent(stores: SigningKeyStore[]): Promise<string> {
    const current = await signing();
    expect(current).toHaveLength(1);
    const kid = current[0]!.id;
    for (const row of await rows()) {
      if (row.id === kid) continue;
      expect(row.expires_at).toBe((row.retired_at ?? Number.NaN) + RETIRED_LIFETIME_MS);
    }
    for (const s of stores) {
      await s.reload();
      expect(s.signingKey().kid).toBe(kid);
    }
    return kid;
  }

  it('instances starting together on an empty database end with one signing key', async () => {
    const repo = racingRepo(3);
    const stores = [store(repo), store(repo), store(repo)];
    try {
      await Promise.all(stores.map((s) => s.init()));
      expect(await rows()).toHaveLength(3); // each found no key and made its own
      await expectOneCurrent(stores);
      // The others leave the JWKS once no token they signed can be alive any more.
      clock += RETIRED_LIFETIME_MS + 1;
      await stores[0]!.reload();
      expect(stores[0]!.jwks().keys).toHaveLength(1);
    } finally {
      for (const s of stores) s.close();
    }
  });

  it('two rotations at once leave one signing key, not two that never expire', async () => {
    const repo = racingRepo(2);
    const stores = [store(repo), store(repo)];
    try {
      await Promise.all(stores.map((s) => s.init()));
      const before = (await rows()).length;
      const results = await Promise.all(stores.map((s) => s.rotate()));
      expect(await rows()).toHaveLength(before + 2);
      const kid = await expectOneCurrent(stores);
      // The rotation that read the keys last knows it; the other may name its own (now retired).
      expect(results.map((r) => r.kid)).toContain(kid);
    } finally {
      for (const s of stores) s.close();
    }
  });

  it('a rotation stored while an instance reads its keys never leaves it signing with a key it does not publish', async () => {
    const rotator = store();
    let rotateDuringRead = false;
    const reader = store(
      new (class extends SigningKeysRepository {
        override async listVerifiable(now: number): Promise<SigningKeyRow[]> {
          const rows = await super.listVerifiable(now);
          // Another instance's rotation lands right after this read returns.
          if (rotateDuringRead) {
            rotateDuringRead = false;
            await rotator.rotate();
          }
          return rows;
        }
      })(own.db.kysely),
    );
    try {
      await rotator.init();
      await reader.init();
      rotateDuringRead = true;
      await reader.reload();
      const { kid } = reader.signingKey();
      expect(reader.usable(kid)).toBeDefined();
      expect(reader.jwks().keys.map((k) => k.kid)).toContain(kid);
      // The next read finds the rotation, whole.
      await reader.reload();
      expect(reader.signingKey().kid).toBe(rotator.signingKey().kid);
      expect(reader.usable(rotator.signingKey().kid)).toBeDefined();
    } finally {
      rotator.close();
      reader.close();
    }
  });

  it('a start retires the extra keys such a race left behind before', async () => {
    const [newest] = await signing();
    // The race ordered its keys a millisecond ahead of this frozen clock: let that millisecond pass.
    clock = Math.max(clock, newest!.created_at);
    // As an older version left it: a second key never retired, older than the current one.
    await new SigningKeysRepository(own.db.kysely).insert({
      ...newest!,
      id: randomUUID(),
      created_at: newest!.created_at - 1,
    });
    expect(await signing()).toHaveLength(2);
    const s = store();
    try {
      await s.init();
      expect(await expectOneCurrent([s])).toBe(newest!.id);
    } finally {
      s.close();
    }
  });
});

describe('rotations announced on the shared store', () => {
  let own: TestDb;
  beforeAll(async () => {
    own = await createMigratedTestDb();
  });
  afterAll(async () => {
    await own?.cleanup();
  });

  const warnings: unknown[] = [];
  const logger = { warn: (...args: unknown[]) => void warnings.push(args) };

  /** One instance's key store, wired to `shared` as src/services/token-services.ts wires it. */
  function instance(shared: MemoryStore): SigningKeyStore {
    const keys: SigningKeyStore = new SigningKeyStore(
      new SigningKeysRepository(own.db.kysely),
      new FieldCipher(t.app.services.keyring, ENCRYPTED_COLUMNS.signingKeysPrivateKey.purpose),
      {
        algorithm: 'EdDSA',
        retiredKeyLifetimeMs: RETIRED_LIFETIME_MS,
        refreshIntervalMs: REFRESH_INTERVAL_MS,
        now: () => clock,
        onRotated: (kid) => bus.announce(kid),
      },
    );
    const bus: KeyRotationBus = new KeyRotationBus(shared, keys, logger);
    return keys;
  }

  it('every instance signs with, and verifies, the new key at once, even with its unknown-kid budget spent', async () => {
    const shared = new MemoryStore({ keyPrefix: 't:', maxKeys: 100 });
    const [a, b] = [instance(shared), instance(shared)];
    try {
      await a.init();
      await b.init();
      // Someone sends tokens with made-up kids: b's reload for an unknown kid is spent.
      expect(await b.verificationKey(randomUUID())).toBeUndefined();
      const reloadsOfA = vi.spyOn(a, 'reload');
      clock += 1_000; // not in the millisecond the first key began signing
      const { kid } = await a.rotate();
      // The clock has not moved: neither b's periodic refresh nor its kid budget can have run.
      await vi.waitFor(() => expect(b.usable(kid)).toBeDefined());
      expect(b.signingKey().kid).toBe(kid);
      expect(await b.verificationKey(kid)).toBeDefined();
      expect(b.jwks().keys.map((k) => k.kid)).toContain(kid);
      // The rotating instance read its keys once, in rotate: its own announcement adds no read.
      expect(reloadsOfA).toHaveBeenCalledTimes(1);
    } finally {
      a.close();
      b.close();
    }
  });

  it('a message that is not a key id reloads nothing', async () => {
    const shared = new MemoryStore({ keyPrefix: 't:', maxKeys: 100 });
    const b = instance(shared);
    try {
      await b.init();
      const reload = vi.spyOn(b, 'reload');
      warnings.length = 0;
      for (const message of [
        '',
        'not-a-kid',
        `${randomUUID()}\n`,
        JSON.stringify([randomUUID()]),
      ]) {
        await shared.publish('signing-keys:rotated', message);
      }
      expect(reload).not.toHaveBeenCalled();
      expect(warnings).toHaveLength(4);
    } finally {
      b.close();
    }
  });
});

describe.skipIf(!redisUrl)('two instances on one database and one Redis', () => {
  it('a rotation --now on one is signed with and verified by the other at once', async () => {
    const url = await requireRedis();
    const prefix = uniquePrefix();
    const input: ConfigInput = { ...TOKENS, redis: { url, keyPrefix: prefix } };
    const [a, b] = [await secondInstance(input), await secondInstance(input)];
    try {
      // b's reload for an unknown kid is spent, and its clock does not move.
      const forged = await signWith(
        { ...b.services.signingKeys.signingKey(), kid: randomUUID() },
        alice,
      );
      expect(await meStatus(forged, b)).toBe(401);
      clock += 1_000;
      const { kid } = await a.services.signingKeys.rotate({}, NOW);
      await vi.waitFor(() => expect(b.services.signingKeys.usable(kid)).toBeDefined(), {
        timeout: 5_000,
      });
      const token = await loginFresh(a, alice);
      expect(kidOf(token)).toBe(kid);
      expect(await meStatus(token, b)).toBe(200);
      expect(kidOf(await loginFresh(b, alice))).toBe(kid);
    } finally {
      await a.close();
      await b.close();
      await deletePrefix(url, prefix);
    }
  });

  it('a rotation --revoke-old on one: the other refuses every token signed before at once', async () => {
    const url = await requireRedis();
    const prefix = uniquePrefix();
    const input: ConfigInput = { ...TOKENS, redis: { url, keyPrefix: prefix } };
    const [a, b] = [await secondInstance(input), await secondInstance(input)];
    try {
      const before = await loginFresh(b, alice);
      expect(await meStatus(before, b)).toBe(200); // verified, and cached
      clock += 1_000;
      const { kid } = await a.services.signingKeys.rotate({}, { revokeOthers: true });
      // The clock does not move: only the announcement can make b re-read its keys.
      await vi.waitFor(() => expect(b.services.signingKeys.usable(kid)).toBeDefined(), {
        timeout: 5_000,
      });
      expect(await meStatus(before, b)).toBe(401);
      expect(kidOf(await loginFresh(b, alice))).toBe(kid);
    } finally {
      await a.close();
      await b.close();
      await deletePrefix(url, prefix);
    }
  });
});
