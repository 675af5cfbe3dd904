-- MFA: what verifying a factor needs beside GoTrue's columns. The last TOTP
-- time step accepted (a code is good once), and the failed verifications
-- counted against the factor's limit.
ALTER TABLE auth.mfa_factors ADD COLUMN IF NOT EXISTS last_totp_step bigint;
ALTER TABLE auth.mfa_factors ADD COLUMN IF NOT EXISTS failed_verifications integer NOT NULL DEFAULT 0;
ALTER TABLE auth.mfa_factors ADD COLUMN IF NOT EXISTS last_failed_at timestamptz;

-- GoTrue's uniqueness rules: one friendly name per user, one phone factor
-- per number and user.
CREATE UNIQUE INDEX IF NOT EXISTS mfa_factors_user_friendly_name_unique
    ON auth.mfa_factors (friendly_name, user_id) WHERE trim(friendly_name) <> '';
CREATE UNIQUE INDEX IF NOT EXISTS unique_phone_factor_per_user ON auth.mfa_factors (user_id, phone);
CREATE INDEX IF NOT EXISTS mfa_challenge_created_at_idx ON auth.mfa_challenges (created_at DESC);
CREATE INDEX IF NOT EXISTS mfa_factors_user_id_idx ON auth.mfa_factors (user_id);
