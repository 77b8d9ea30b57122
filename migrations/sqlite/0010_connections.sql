-- Connections: the provider account a channel speaks for, what the provider told about it,
-- whether inbound is wired up, how it was connected, and when its token runs out.

-- The provider's id of the account: a WhatsApp phone number id, a Facebook Page id, an
-- Instagram account id. Webhooks of the app are routed to channels by it.
ALTER TABLE channels ADD COLUMN account_id TEXT;
-- Provider metadata shown on the channel's card (business name, number, page name, handle,
-- follower count), as JSON.
ALTER TABLE channels ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
-- Inbound is wired up: the app's webhook subscription exists (or the provider has called).
ALTER TABLE channels ADD COLUMN webhook_attached BIGINT NOT NULL DEFAULT 0;
-- The business behind the account is verified by the provider.
ALTER TABLE channels ADD COLUMN verified BIGINT NOT NULL DEFAULT 0;
-- `manual` (credentials entered) or `consent` (the provider's consent flow).
ALTER TABLE channels ADD COLUMN setup TEXT NOT NULL DEFAULT 'manual';
-- When the channel's access token expires; NULL when it does not (or is not known to).
ALTER TABLE channels ADD COLUMN token_expires_at BIGINT;
-- When the token was last refreshed or checked by the daily token job.
ALTER TABLE channels ADD COLUMN token_checked_at BIGINT;

-- WhatsApp channels added before speak for their phone number id (unless two live channels
-- share one, which only manual setup could do: those stay unbound).
UPDATE channels SET account_id = json_extract(channels.public_config, '$.phone_number_id')
    WHERE kind = 'whatsapp_cloud' AND deleted_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM channels other
                       WHERE other.kind = 'whatsapp_cloud' AND other.deleted_at IS NULL
                         AND other.id <> channels.id
                         AND json_extract(other.public_config, '$.phone_number_id') = json_extract(channels.public_config, '$.phone_number_id'));

-- One live channel per provider account and kind.
CREATE UNIQUE INDEX channels_by_account ON channels(kind, account_id)
    WHERE deleted_at IS NULL AND account_id IS NOT NULL;
CREATE INDEX channels_by_update ON channels(updated_at);

-- The nonce of every consent state used at the callback: a state is good for one callback.
CREATE TABLE consent_nonces (
    nonce TEXT PRIMARY KEY,
    used_at BIGINT NOT NULL
);
