// MailSink: work in progress; see docs/ARCHITECTURE.md.
