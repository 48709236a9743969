-- Accounts, for the admins' list. No readable personal data: the profile (username and
-- email) stays sealed under the user's own key, opened by the API when it answers, and an
-- erased account's row is deleted.
CREATE TABLE read_models.users (
    id bigint PRIMARY KEY,
    profile text NOT NULL,
    role text NOT NULL,
    registered_at timestamptz NOT NULL
);
