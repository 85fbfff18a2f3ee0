import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  randomUUID,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import type { FieldCipher } from '../crypto/index.js';
import {
  ENCRYPTED_COLUMNS,
  fieldContext,
  type SigningKeyRow,
  type SigningKeysRepository,
} from '../db/index.js';
import type { EventContext, SecurityEvents } from '../security-events.js';

export type SigningAlgorithm = 'EdDSA' | 'ES256';

/** A public key as a JSON Web Key (RFC 7517), with the members the JWKS adds. */
export type JWK = JsonWebKey & { kid?: string; alg?: string; use?: string };

/*
 * Keys are made and read with node:crypto alone: its JWK export has the members jose's had
 * (crv, x, kty; kty, x, y, crv), and jose is then not loaded at start (issue #8: ~9 MB and
 * ~60-140 ms of every start for modules the service no longer needed).
 */
const newKeyPair = promisify(generateKeyPair);

export interface SigningKey {
  kid: string;
  alg: SigningAlgorithm;
  /** The private key for node:crypto's synchronous sign (no trip through the thread pool). */
  keyObject: KeyObject;
}

export interface SigningKeyStoreOptions {
  algorithm: SigningAlgorithm;
  /** How long a retired key keeps verifying: at least the access-token lifetime plus skew. */
  retiredKeyLifetimeMs: number;
  /**
   * How long a rotation's new key is published (in the JWKS, and to other instances) before it
   * signs; the key it replaces signs until then. 0 (the default here): it signs at once.
   */
  publishAheadMs?: number;
  /** Minimum gap between two reloads triggered by an unknown `kid` (a forged kid must not hammer the DB). */
  reloadIntervalMs?: number;
  /**
   * Keys are re-read on a timer this often (from init() until close()), so a rotation done by
   * another instance or by `bulwark keys rotate` is picked up for signing and the JWKS without a
   * restart, even by an instance that gets no traffic. Signing never uses keys older than this.
   */
  refreshIntervalMs?: number;
  /** Told about a failed background refresh (the old keys stay in use). */
  onRefreshError?: (error: unknown) => void;
  now?: () => number;
  /** Where `keys.rotated` goes; every rotation path (CLI, admin code) passes through `rotate`. */
  events?: SecurityEvents;
  /**
   * Told about every rotation made here, once it is stored and loaded, and waited for (a CLI run
   * must not exit before it is done): announces it to the other instances (KeyRotationBus).
   */
  onRotated?: (kid: string) => Promise<void>;
}

/**
 * A public key that verifies tokens. A new object is made for every key on every reload, so a
 * holder can tell by identity whether the key it verified with is still the store's.
 */
export interface VerificationKey {
  readonly alg: SigningAlgorithm;
  /** For node:crypto's synchronous verify (no trip through the thread pool). */
  readonly keyObject: KeyObject;
  readonly publicJwk: JWK;
  readonly expiresAt: number | null;
}

/**
 * Of `rows` (newest first, as the repository lists them), the key signing at `now` (`due`) and,
 * in `rows`, it with those still to come: not retired by `now`. An older one never signs again.
 */
function signingRows(
  rows: SigningKeyRow[],
  now: number,
): { due: SigningKeyRow | undefined; rows: SigningKeyRow[] } {
  const signing = rows.filter((row) => row.retired_at === null || row.retired_at > now);
  const due = signing.find((row) => row.created_at <= now);
  return { due, rows: signing.filter((row) => row === due || row.created_at > now) };
}

function aad(kid: string) {
  return fieldContext(ENCRYPTED_COLUMNS.signingKeysPrivateKey, kid);
}

/** A key that signs, or will: from its `created_at` until its `retired_at` (null: no end yet). */
interface Signer {
  key: SigningKey;
  from: number;
  until: number | null;
}

/**
 * The service's JWT signing keys. Created on first start; private halves are stored encrypted
 * (AES-256-GCM under a key derived from the master key), public halves published as a JWKS.
 * Rotation adds the next key, published at once and signing `publishAheadMs` later (so verifiers
 * that cache the JWKS know it before they meet its tokens), and keeps the previous one signing
 * until then and verifying until every token it signed has expired: rotating causes no downtime.
 * @see https://www.rfc-editor.org/rfc/rfc7517
 */
export class SigningKeyStore {
  /** Newest first. */
  private signers: Signer[] = [];
  private verification = new Map<string, VerificationKey>();
  private lastReload = 0;
  /** When an unknown `kid` last made the keys reload: its own budget (see verificationKey). */
  private lastKidReload = Number.NEGATIVE_INFINITY;
  private reloading: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(
    private readonly repo: SigningKeysRepository,
    private readonly cipher: FieldCipher,
    private readonly options: SigningKeyStoreOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Loads the keys, creating the first one when the database has none, and starts re-reading
   * them every refreshIntervalMs (stopped by close()).
   */
  async init(): Promise<void> {
    await this.reload();
    if (this.signers.length === 0) {
      // The first key signs at once: no token of another key exists that a verifier could hold.
      await this.create(this.now());
      await this.reload();
    }
    // Instances started together on an empty database each created a first key (and before
    // rotations retired every older key, two at once left one each): only the newest signs, and
    // a key left behind would otherwise verify forever, through every later rotation.
    const newest = await this.repo.current();
    if (newest && (await this.retireOlderThan(newest)).length > 0) await this.reload();
    // Without the timer an idle instance would keep its keys until the next token it signs, and
    // sign that one with a key retired (and expired) long ago: dead on arrival everywhere.
    this.timer ??= setInterval(() => {
      this.refreshIfStale();
    }, this.refreshIntervalMs);
    // A one-shot CLI command must still exit when it is done.
    this.timer.unref();
  }

  /** Stops the periodic refresh. The loaded keys stay usable. */
  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private get refreshIntervalMs(): number {
    return this.options.refreshIntervalMs ?? 60_000;
  }

  /**
   * The key new tokens are signed with, as last loaded. Prefer `currentSigningKey()`, which
   * never returns a key older than refreshIntervalMs.
   */
  signingKey(): SigningKey {
    const key = this.signerAt(this.now());
    if (!key) throw new Error('signing keys are not loaded: call init() first');
    this.refreshIfStale();
    return key;
  }

  /**
   * The newest loaded key whose signing time has come and that is not retired yet. Every
   * instance switches at the next key's signing time by its own clock, without a reload. With
   * none (this clock is behind the one that made the only key), the one due first.
   */
  private signerAt(now: number): SigningKey | undefined {
    const due = this.signers.find(
      (signer) => signer.from <= now && (signer.until === null || signer.until > now),
    );
    return (due ?? this.signers.at(-1))?.key;
  }

  /**
   * The key to sign with now: when the loaded keys are older than refreshIntervalMs (the timer
   * fell behind, or the clock moved), they are re-read first. A retired key verifies for one
   * refresh interval longer than its tokens live, so a token signed with a key at most that
   * stale verifies on every instance; one signed with an older key may be refused at once.
   * @throws when the keys are stale and cannot be re-read (no token rather than a dead one)
   */
  async currentSigningKey(): Promise<SigningKey> {
    await this.refreshIfDue();
    return this.signingKey();
  }

  /** Re-reads the keys, and waits for it, when they are older than refreshIntervalMs. */
  async refreshIfDue(): Promise<void> {
    if (this.now() - this.lastReload < this.refreshIntervalMs) return;
    this.reloading ??= this.reload().finally(() => (this.reloading = undefined));
    await this.reloading;
  }

  /** Starts a background reload when the keys are older than refreshIntervalMs; never blocks. */
  private refreshIfStale(): void {
    if (this.reloading || this.now() - this.lastReload < this.refreshIntervalMs) return;
    this.reloading = this.reload()
      .catch((error: unknown) => this.options.onRefreshError?.(error))
      .finally(() => (this.reloading = undefined));
  }

  /**
   * The public key for `kid`, or undefined. An unknown kid triggers at most one reload per
   * interval, so keys rotated by another instance are picked up without a restart.
   *
   * The interval counts unknown-kid reloads only. Measured from any reload, the periodic one
   * included, an instance whose timer fired just before another instance rotated and began
   * signing with the new key refused every token naming it for up to the interval: valid tokens
   * of real users answered 401 after a routine rotation. Forged kids still cost at most one
   * database read per interval.
   */
  async verificationKey(kid: string): Promise<VerificationKey | undefined> {
    const found = this.usable(kid);
    if (found) return found;
    const now = this.now();
    if (now - this.lastKidReload < (this.options.reloadIntervalMs ?? 10_000)) return undefined;
    this.lastKidReload = now;
    // A reload already in flight may have read the keys before this one was created: it is
    // waited for, then the keys are read again if the kid is still unknown.
    if (this.reloading) {
      await this.reloading.catch(() => undefined);
      const loaded = this.usable(kid);
      if (loaded) return loaded;
    }
    this.reloading ??= this.reload().finally(() => (this.reloading = undefined));
    await this.reloading;
    return this.usable(kid);
  }

  /**
   * Re-reads the keys after an instance announced a rotation to `kid` (null: one may have been
   * missed), unless `kid` already signs here (the announcing instance itself, or one that met the
   * kid first). A reload already in flight may have read the keys before the rotation was stored:
   * it is waited for, then they are read again (concurrent announcements share that one read).
   */
  async reloadAfterRotation(kid: string | null): Promise<void> {
    if (this.signers.some((signer) => signer.key.kid === kid)) return;
    const inFlight = this.reloading;
    if (inFlight) await inFlight.catch(() => undefined);
    if (this.reloading === undefined || this.reloading === inFlight) {
      this.reloading = this.reload().finally(() => (this.reloading = undefined));
    }
    await this.reloading;
  }

  /**
   * The loaded public key for `kid` if it may verify now (not expired, not gone after a reload),
   * without reloading: what a cache of verified tokens checks on every hit.
   */
  usable(kid: string): VerificationKey | undefined {
    const entry = this.verification.get(kid);
    if (!entry) return undefined;
    if (entry.expiresAt !== null && entry.expiresAt <= this.now()) return undefined;
    return entry;
  }

  /** The JSON Web Key Set: current and still-valid previous public keys. */
  jwks(): { keys: JWK[] } {
    const keys: JWK[] = [];
    for (const [kid, entry] of this.verification) {
      if (entry.expiresAt !== null && entry.expiresAt <= this.now()) continue;
      keys.push({ ...entry.publicJwk, kid, alg: entry.alg, use: 'sig' });
    }
    return { keys };
  }

  /**
   * Makes the next key: published now, signing `publishAheadMs` from now (at once with
   * `immediate`, for a key that must stop signing now). The key signing now goes on until then,
   * and verifies for `retiredKeyLifetimeMs` after. With `revokeOthers` (a leaked key) the new key
   * signs at once and every other key stops verifying at once: the tokens they signed are refused
   * (their clients refresh), on every instance once it re-reads the keys. `context` names who
   * rotated (an admin's request, or nothing for the CLI) in the event.
   */
  async rotate(
    context: EventContext & { actorId?: string | null } = {},
    options: { immediate?: boolean; revokeOthers?: boolean } = {},
  ): Promise<{ kid: string; retired: string | undefined; signsFrom: number; revoked: string[] }> {
    const now = this.now();
    const immediate = options.immediate === true || options.revokeOthers === true;
    const previous = signingRows(await this.repo.listVerifiable(now), now).due;
    const latest = await this.repo.current();
    // Ordered after the key it replaces even when the clock says otherwise (another instance's
    // clock, the same millisecond), or the replaced key would stay the current one. An immediate
    // key goes after the key signing now, and before a next key already waiting, which still
    // takes over at its own time.
    const after = immediate ? previous : latest;
    const signsFrom = Math.max(
      now + (immediate ? 0 : (this.options.publishAheadMs ?? 0)),
      after ? after.created_at + 1 : Number.NEGATIVE_INFINITY,
    );
    const created = await this.create(signsFrom);
    const revoked = options.revokeOthers ? await this.repo.revokeAllExcept(created.id, now) : [];
    // Every older key, not only the one read as current: another instance's rotation at the same
    // moment may have added its own, and whichever of the two reads last keeps only the newest.
    const newest = await this.repo.current();
    if (newest) await this.retireOlderThan(newest);
    await this.reload();
    // Key ids are public (they are in every token header and the JWKS); the keys never leave.
    this.options.events?.emit({
      ...context,
      type: 'keys.rotated',
      outcome: 'success',
      target: { type: 'signing_key', id: created.id },
      details: {
        algorithm: this.options.algorithm,
        retired: previous?.id ?? null,
        signsFrom,
        ...(options.revokeOthers ? { revoked } : {}),
      },
    });
    await this.options.onRotated?.(created.id);
    return { kid: created.id, retired: previous?.id, signsFrom, revoked };
  }

  /**
   * Retires the keys older than `newest` at its signing time (now, if that has come), verifying
   * for `retiredKeyLifetimeMs` after.
   */
  private retireOlderThan(newest: Pick<SigningKeyRow, 'id' | 'created_at'>): Promise<string[]> {
    const at = Math.max(this.now(), newest.created_at);
    return this.repo.retireOlderThan(newest, at, at + this.options.retiredKeyLifetimeMs);
  }

  /** Re-reads the keys from the database (e.g. after another instance rotated them). */
  async reload(): Promise<void> {
    const now = this.now();
    this.lastReload = now;
    const verification = new Map<string, VerificationKey>();
    const rows = await this.repo.listVerifiable(now);
    for (const row of rows) {
      const alg = row.alg as SigningAlgorithm;
      const publicJwk = JSON.parse(row.public_jwk) as JWK;
      verification.set(row.id, {
        alg,
        keyObject: createPublicKey({ key: publicJwk, format: 'jwk' }),
        publicJwk,
        expiresAt: row.expires_at,
      });
    }
    // The signing keys from the same read as the verifying ones (every key that signs, now or
    // later, still verifies): read apart, a rotation stored between the two reads made this
    // instance sign with a key missing from its own JWKS and verification.
    const signers = signingRows(rows, now).rows.map((row) => ({
      key: this.loadPrivate(row),
      from: row.created_at,
      until: row.retired_at,
    }));
    this.verification = verification;
    this.signers = signers;
  }

  private loadPrivate(row: SigningKeyRow): SigningKey {
    const jwk = JSON.parse(this.cipher.decrypt(row.private_key_enc, aad(row.id))) as JWK;
    const alg = row.alg as SigningAlgorithm;
    return {
      kid: row.id,
      alg,
      keyObject: createPrivateKey({ key: jwk, format: 'jwk' }),
    };
  }

  /** Stores a new key that signs from `signsFrom` (its `created_at`). */
  private async create(signsFrom: number): Promise<SigningKeyRow> {
    const alg = this.options.algorithm;
    const { publicKey, privateKey } =
      alg === 'EdDSA'
        ? await newKeyPair('ed25519')
        : await newKeyPair('ec', { namedCurve: 'P-256' });
    const kid = randomUUID();
    const publicJwk = publicKey.export({ format: 'jwk' });
    const privateJwk = privateKey.export({ format: 'jwk' });
    return this.repo.insert({
      id: kid,
      alg,
      public_jwk: JSON.stringify(publicJwk),
      private_key_enc: this.cipher.encrypt(JSON.stringify(privateJwk), aad(kid)),
      created_at: signsFrom,
      retired_at: null,
      expires_at: null,
    });
  }
}
