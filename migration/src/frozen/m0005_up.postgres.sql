CREATE TABLE change_positions (tenant_id INTEGER NOT NULL PRIMARY KEY REFERENCES tenants (id), last_position BIGINT NOT NULL)
--;;
ALTER TABLE dialogues ADD COLUMN change_position BIGINT NOT NULL DEFAULT 0
--;;
ALTER TABLE dialogues ADD COLUMN change_index BIGINT NOT NULL DEFAULT 0
--;;
CREATE INDEX idx_dialogues_tenant_change_position ON dialogues (tenant_id, change_position, change_index)
