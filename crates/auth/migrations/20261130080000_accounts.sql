-- What accounts keep beside the event log, because the log is forever and these must not be.
CREATE SCHEMA IF NOT EXISTS accounts;

-- Each account's data key, sealed under a key derived from AUTH_SECRET. Personal data in
-- events is encrypted under it; erasing the account deletes the row, and with it every way to
-- read that data again (crypto-shredding).
CREATE TABLE accounts.data_keys (
    user_id bigint PRIMARY KEY,
    sealed bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Argon2id password hashes (PHC strings). Never in an event.
CREATE TABLE accounts.credentials (
    user_id bigint PRIMARY KEY,
    password_hash text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Refresh tokens, by SHA-256 digest (the token itself is only ever with the client). A login
-- starts a family; each refresh spends its token and adds the next to the family. A spent
-- token presented again revokes the whole family (it was stolen, or its thief was first).
CREATE TABLE accounts.refresh_tokens (
    digest bytea PRIMARY KEY,
    family uuid NOT NULL,
    user_id bigint NOT NULL,
    issued_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    spent_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family ON accounts.refresh_tokens (family);
CREATE INDEX refresh_tokens_user ON accounts.refresh_tokens (user_id);
