DROP INDEX IF EXISTS idx_dialogues_tenant_change_position
--;;
ALTER TABLE dialogues DROP COLUMN change_index
--;;
ALTER TABLE dialogues DROP COLUMN change_position
--;;
DROP TABLE IF EXISTS change_positions
