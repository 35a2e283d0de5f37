-- The email-pattern inferrer looks up the contacts at one email domain per call
-- (src/providers/email-pattern): an expression index on the domain part serves it instead of a scan
-- of the whole contacts table.
CREATE INDEX contacts_email_domain_idx ON contacts ((lower(split_part(email, '@', 2))))
  WHERE email IS NOT NULL;
