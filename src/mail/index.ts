export {
  Mailer,
  type MailMessage,
  type MailOutcome,
  type MailTransport,
  type MailerOptions,
  type OutboxTransport,
  type SmtpTransport,
} from './mailer.js';
