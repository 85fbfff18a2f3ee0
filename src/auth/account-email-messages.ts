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
