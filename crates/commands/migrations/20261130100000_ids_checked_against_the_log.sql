-- Marks that the id sequences were moved past the highest ids the event log holds. A read
-- database made anew (restored, or reset for a rebuild) lacks the mark, and the first process to
-- start moves its new sequences past the log before handing out an id.
CREATE TABLE command_api.ids_checked (
    checked_at timestamptz NOT NULL DEFAULT now()
);
