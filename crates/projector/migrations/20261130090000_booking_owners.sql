-- A booking made by a signed-in traveller belongs to their account. For such a booking
-- user_credentials holds the traveller's name sealed under the owner's key (the API opens
-- it when it answers, and shows "Erased traveller" once the key is destroyed); a booking
-- without an owner (AUTH=off, or made before accounts) keeps its name in the clear.
ALTER TABLE read_models.bookings ADD COLUMN owner_id bigint;
CREATE INDEX bookings_owner_id ON read_models.bookings (owner_id, id) WHERE owner_id IS NOT NULL;
