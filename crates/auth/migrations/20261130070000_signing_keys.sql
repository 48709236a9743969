-- The keys that sign access tokens, shared by every instance so that each verifies what the
-- others signed and a restart signs nobody out. The private key is sealed (AES-256-GCM under a
-- key derived from AUTH_SECRET, the kid as associated data): a copy of this table alone cannot
-- mint tokens. The public key is stored in the clear for verification and the JWKS.
-- retire_after is null for the signer; a rotation sets it on the previous signer to when the
-- last token it could have signed has expired, after which nothing verifies with it.
CREATE SCHEMA IF NOT EXISTS auth;
CREATE TABLE auth.signing_keys (
    kid text PRIMARY KEY,
    private_key bytea NOT NULL,
    public_key bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    retire_after timestamptz
);
