-- Id allocation for accounts, with the same guarantees as the other id sequences: never
-- handed out twice, also after an account is erased.
CREATE SEQUENCE command_api.user_ids AS bigint;
