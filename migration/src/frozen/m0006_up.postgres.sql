-- PostgreSQL checks a foreign key with one look-up of the referenced row for every row written:
-- for an ingest call of 1,000 dialogues whose callers are all new, 2,000 look-ups of the one
-- tenant row, about a tenth of the call. The tenant of dialogues and endpoints is checked once a
-- statement instead, with the same guarantees: a row cannot name a tenant that does not exist,
-- and a tenant that has rows cannot be deleted or renumbered. Like the foreign key's check, the
-- statement check locks the tenants it names (FOR KEY SHARE) until its transaction ends, so a
-- concurrent delete waits and then sees the new rows. SQLite keeps its foreign keys (its checks
-- are in-process look-ups).
ALTER TABLE dialogues DROP CONSTRAINT IF EXISTS dialogues_tenant_id_fkey
--;;
ALTER TABLE endpoints DROP CONSTRAINT IF EXISTS endpoints_tenant_id_fkey
--;;
CREATE FUNCTION tenant_rows_named() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
  named integer;
  locked integer;
BEGIN
  SELECT count(DISTINCT tenant_id) INTO named FROM new_rows;
  SELECT count(*) INTO locked FROM (
    SELECT 1 FROM tenants t WHERE t.id IN (SELECT tenant_id FROM new_rows) FOR KEY SHARE OF t
  ) l;
  IF locked < named THEN
    RAISE EXCEPTION 'insert or update on table "%" names a tenant that does not exist', TG_TABLE_NAME
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END
$body$
--;;
CREATE TRIGGER dialogues_tenant_insert AFTER INSERT ON dialogues REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tenant_rows_named()
--;;
CREATE TRIGGER dialogues_tenant_update AFTER UPDATE ON dialogues REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tenant_rows_named()
--;;
CREATE TRIGGER endpoints_tenant_insert AFTER INSERT ON endpoints REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tenant_rows_named()
--;;
CREATE TRIGGER endpoints_tenant_update AFTER UPDATE ON endpoints REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tenant_rows_named()
--;;
CREATE FUNCTION tenant_rows_kept() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  IF (TG_OP = 'DELETE' OR NEW.id <> OLD.id)
     AND (EXISTS (SELECT 1 FROM dialogues WHERE tenant_id = OLD.id)
          OR EXISTS (SELECT 1 FROM endpoints WHERE tenant_id = OLD.id)) THEN
    RAISE EXCEPTION 'tenant % still has dialogues or endpoints', OLD.id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END
$body$
--;;
CREATE TRIGGER tenants_rows_kept BEFORE DELETE OR UPDATE OF id ON tenants FOR EACH ROW EXECUTE FUNCTION tenant_rows_kept()
