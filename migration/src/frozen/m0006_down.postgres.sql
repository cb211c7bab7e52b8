DROP TRIGGER IF EXISTS tenants_rows_kept ON tenants
--;;
DROP FUNCTION IF EXISTS tenant_rows_kept()
--;;
DROP TRIGGER IF EXISTS endpoints_tenant_update ON endpoints
--;;
DROP TRIGGER IF EXISTS endpoints_tenant_insert ON endpoints
--;;
DROP TRIGGER IF EXISTS dialogues_tenant_update ON dialogues
--;;
DROP TRIGGER IF EXISTS dialogues_tenant_insert ON dialogues
--;;
DROP FUNCTION IF EXISTS tenant_rows_named()
--;;
ALTER TABLE endpoints ADD CONSTRAINT endpoints_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id)
--;;
ALTER TABLE dialogues ADD CONSTRAINT dialogues_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id)
