import type { MailMessage } from '../mail/index.js';

/*
 * The wording of the account e-mails. Plain text only: no HTML to render, nothing a mail client
 * could load from elsewhere. A link is the configured front-end page with the token in its
 * fragment, which browsers never send to any server (not in logs, proxies or Referer headers).
 * Nothing a user chose (their name) is written in: only their address and the service's name.
 */

/** What an e-mail carrying a link needs: its recipient, the page, the token and how long it works. */
export interface LinkMessageInput {
  to: string;
  service: string;
  page: string;
  token: string;
  ttlMs: number;
}

/** The e-mailed link: the front-end page with the token in its fragment. */
function link(page: string, token: string): string {
  return `${page}#token=${token}`;
}

export function passwordResetMessage(input: LinkMessageInput): MailMessage {
  const minutes = Math.round(input.ttlMs / 60_000);
  return {
    to: input.to,
    kind: 'password_reset',
    subject: `Reset your ${input.service} password`,
    text: [
      `Someone asked to reset the password of your account ${input.to} at ${input.service}.`,
      '',
      `To choose a new password, open this link within ${minutes} minutes. It works once:`,
      link(input.page, input.token),
      '',
      'If it was not you, ignore this e-mail: your password stays as it is.',
      '',
    ].join('\n'),
  };
}

export function verificationMessage(input: LinkMessageInput): MailMessage {
  const hours = Math.round(input.ttlMs / 3_600_000);
  return {
    to: input.to,
    kind: 'email_verification',
    subject: `Verify your e-mail address for ${input.service}`,
    text: [
      `Please confirm that ${input.to} is your address at ${input.service}: sign in and open this link within ${hours} hours.`,
      link(input.page, input.token),
      '',
      'If you did not create this account, ignore this e-mail.',
      '',
    ].join('\n'),
  };
}

export function passwordChangedMessage(input: { to: string; service: string }): MailMessage {
  return {
    to: input.to,
    kind: 'password_changed',
    subject: `Your ${input.service} password was changed`,
    text: [
      `The password of your account ${input.to} at ${input.service} was changed, and its other sessions were signed out.`,
      '',
      'If it was not you, reset your password at once and contact an administrator.',
      '',
    ].join('\n'),
  };
}

/** To the requested address: the link that confirms an address change (signed in). */
export function emailChangeMessage(input: LinkMessageInput): MailMessage {
  const minutes = Math.round(input.ttlMs / 60_000);
  return {
    to: input.to,
    kind: 'email_change',
    subject: `Confirm your new e-mail address for ${input.service}`,
    text: [
      `Someone asked to make ${input.to} the address of their account at ${input.service}.`,
      '',
      `To confirm, sign in to that account and open this link within ${minutes} minutes. It works once:`,
      link(input.page, input.token),
      '',
      'If it was not you, ignore this e-mail: no account gets this address.',
      '',
    ].join('\n'),
  };
}

/**
 * To the requested address when it already belongs to an account: no link (the answer to the
 * request was the same 202), only word that someone tried.
 */
export function emailInUseMessage(input: { to: string; service: string }): MailMessage {
  return {
    to: input.to,
    kind: 'email_change_in_use',
    subject: `Someone tried to use your e-mail address at ${input.service}`,
    text: [
      `Someone signed in to another account at ${input.service} asked to change its address to ${input.to}, which is already the address of your account there. Nothing was changed.`,
      '',
      'If it was you, sign in with this address instead. If not, you need not do anything.',
      '',
    ].join('\n'),
  };
}

/** To the current address: a change to `newEmail` was asked for (a hijacked session shows here). */
export function emailChangeRequestedMessage(input: {
  to: string;
  newEmail: string;
  service: string;
}): MailMessage {
  return {
    to: input.to,
    kind: 'email_change_requested',
    subject: `A change of your ${input.service} e-mail address was requested`,
    text: [
      `Someone signed in to your account ${input.to} at ${input.service} asked to change its address to ${input.newEmail}. It changes only once the link sent there is opened.`,
      '',
      'If it was not you, change your password at once (this signs out every other session) and contact an administrator.',
      '',
    ].join('\n'),
  };
}

/** To the former address, once the change is made. */
export function emailChangedMessage(input: {
  to: string;
  newEmail: string;
  service: string;
}): MailMessage {
  return {
    to: input.to,
    kind: 'email_changed',
    subject: `Your ${input.service} e-mail address was changed`,
    text: [
      `The address of your account at ${input.service} was changed from ${input.to} to ${input.newEmail}, and its other sessions were signed out. E-mails about the account now go there.`,
      '',
      'If it was not you, contact an administrator at once.',
      '',
    ].join('\n'),
  };
}

/** A security change to an account, told to its owner (OWASP ASVS V2.2.3: notify of such). */
export type SecurityNotice =
  | { kind: 'mfa_enabled' }
  | { kind: 'mfa_disabled' }
  | { kind: 'mfa_reset' }
  | { kind: 'recovery_codes_regenerated' }
  | { kind: 'identity_linked'; provider: string }
  | { kind: 'identity_unlinked'; provider: string }
  | { kind: 'account_deleted'; byAdmin: boolean }
  | { kind: 'new_sign_in'; ip: string; at: number };

/**
 * To the account's address: how it signs in just changed. Whoever hijacked a session (and knows
 * the password) can change these, and the owner would otherwise learn of it only when locked out.
 * `provider` is a configured provider's name, never text a user chose.
 */
export function securityNoticeMessage(input: {
  to: string;
  service: string;
  notice: SecurityNotice;
}): MailMessage {
  const { to, service, notice } = input;
  const account = `your account ${to} at ${service}`;
  const [subject, what, ifNot] = ((): [string, string, string] => {
    switch (notice.kind) {
      case 'mfa_enabled':
        return [
          `Two-step sign-in was turned on for your ${service} account`,
          `Two-step sign-in with an authenticator app was turned on for ${account}, and its other sessions were signed out.`,
          'If it was not you, someone knows your password: reset it at once and ask an administrator to remove the authenticator.',
        ];
      case 'mfa_disabled':
        return [
          `Two-step sign-in was turned off for your ${service} account`,
          `Two-step sign-in was turned off for ${account}: a password alone signs in to it now.`,
          'If it was not you, change your password at once (this signs out every other session), turn two-step sign-in on again and contact an administrator.',
        ];
      case 'mfa_reset':
        return [
          `An administrator turned off two-step sign-in for your ${service} account`,
          `An administrator turned off two-step sign-in for ${account} and signed out all its sessions. Set it up again once you have signed in.`,
          'If you did not ask for this, contact an administrator at once.',
        ];
      case 'recovery_codes_regenerated':
        return [
          `New recovery codes for your ${service} account`,
          `New recovery codes were made for ${account}; the earlier ones no longer work.`,
          'If it was not you, change your password at once (this signs out every other session) and contact an administrator.',
        ];
      case 'identity_linked':
        return [
          `Your ${service} account can now be signed in to with ${notice.provider}`,
          `A ${notice.provider} account with your verified address signed in, and ${account} can now be signed in to with it.`,
          `If it was not you, sign in with your password and remove the ${notice.provider} sign-in from your account (this signs it out), then contact an administrator.`,
        ];
      case 'account_deleted':
        return [
          `Your ${service} account was deleted`,
          `${capitalised(account)} was deleted${notice.byAdmin ? ' by an administrator' : ''}, and all its sessions were signed out.`,
          notice.byAdmin
            ? 'If you did not expect this, contact an administrator.'
            : 'If it was not you, contact an administrator at once: someone signed in to your account recently.',
        ];
      case 'new_sign_in': {
        // The address as the service read it (digits, hex, dots and colons only, checked).
        const from = /^[0-9A-Fa-f:.]{2,45}$/.test(notice.ip) ? notice.ip : 'an unknown address';
        const when = `${new Date(notice.at).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
        return [
          `New sign-in to your ${service} account`,
          `${capitalised(account)} was signed in to on ${when} from ${from}, a network it had not been signed in from before.`,
          'If it was you, you need not do anything. If not, change your password at once (this signs out every other session) and contact an administrator.',
        ];
      }
      case 'identity_unlinked':
        return [
          `${notice.provider} sign-in was removed from your ${service} account`,
          `Signing in with ${notice.provider} was removed from ${account}, and the sessions it had signed in were signed out.`,
          'If it was not you, change your password at once (this signs out every other session) and contact an administrator.',
        ];
    }
  })();
  return { to, kind: notice.kind, subject, text: [what, '', ifNot, ''].join('\n') };
}

function capitalised(text: string): string {
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}`;
}
