-- Read-only BI role for Azure SQL Database / SQL Server: SELECT on the three BI views and nothing else.
-- Run as the database's Entra ID admin or the server admin, connected to the application's database (not master).
-- Cannot be tested here (no SQL Server in CI); review with docs/bi/sqlserver-views.sql.
--
-- The views and the tables they read are all owned by dbo, so ownership chaining lets the role read the views
-- without any permission on meters_reading, meters_meter or auth_user. Do NOT add BI users to db_datareader.

CREATE ROLE bi_reader;
GRANT SELECT ON OBJECT::dbo.bi_quarter_hour TO bi_reader;
GRANT SELECT ON OBJECT::dbo.bi_day TO bi_reader;
GRANT SELECT ON OBJECT::dbo.bi_month_peak TO bi_reader;
GO

-- One login per BI tool. Preferred: a Microsoft Entra ID identity (no password to keep), e.g. the Power BI
-- gateway's service principal:
--   CREATE USER [powerbi-gateway-sp] FROM EXTERNAL PROVIDER;
--   ALTER ROLE bi_reader ADD MEMBER [powerbi-gateway-sp];
-- Qlik Cloud connects with SQL authentication: a contained database user whose password comes from your secret
-- store (never from this repository), replacing $(QlikPassword) with sqlcmd -v QlikPassword="..." :
CREATE USER qlik_loader WITH PASSWORD = '$(QlikPassword)';
ALTER ROLE bi_reader ADD MEMBER qlik_loader;
GO
