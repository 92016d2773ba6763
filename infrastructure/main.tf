locals {
  default_host = "${var.app_service_name}.azurewebsites.net"
  hosts        = distinct(concat([local.default_host], var.extra_allowed_hosts))

  # App Service pulls <repository>:<tag> from docker_registry_url, so the registry host is cut off the image.
  image_name = "${trimprefix(var.container_image, "${var.container_registry}/")}:${var.container_image_tag}"

  # docker/entrypoint.sh creates this account only if it does not exist yet.
  superuser_settings = var.django_superuser == null ? {} : {
    DJANGO_SUPERUSER_USERNAME = var.django_superuser.username
    DJANGO_SUPERUSER_EMAIL    = var.django_superuser.email
    DJANGO_SUPERUSER_PASSWORD = var.django_superuser.password
  }

  # Read by energy_app/settings.py; mssql:// selects mssql-django with ODBC Driver 18 and encryption on.
  database_url = format(
    "mssql://%s:%s@%s:1433/%s",
    urlencode(var.sql_admin_login),
    urlencode(var.sql_admin_password),
    azurerm_mssql_server.main.fully_qualified_domain_name,
    azurerm_mssql_database.main.name,
  )
}

resource "azurerm_resource_group" "main" {
  name     = var.resource_group_name
  location = var.location
  tags     = var.tags
}

# --- Azure SQL ------------------------------------------------------------------------------------

resource "azurerm_mssql_server" "main" {
  #checkov:skip=CKV_AZURE_113:Public endpoint needed: Qlik Cloud and the App Service outbound IPs connect through IP firewall rules (no VNet on B1).
  #checkov:skip=CKV2_AZURE_2:Vulnerability assessment needs Microsoft Defender for SQL (paid plan), enabled per subscription by the operator.
  #checkov:skip=CKV2_AZURE_45:Private endpoint needs VNet integration, which the B1 default plan does not use.
  name                          = var.database_server_name
  resource_group_name           = azurerm_resource_group.main.name
  location                      = azurerm_resource_group.main.location
  version                       = "12.0"
  administrator_login           = var.sql_admin_login
  administrator_login_password  = var.sql_admin_password
  minimum_tls_version           = "1.2"
  public_network_access_enabled = true
  tags                          = var.tags

  dynamic "azuread_administrator" {
    for_each = var.entra_admin == null ? [] : [var.entra_admin]
    content {
      login_username = azuread_administrator.value.login_username
      object_id      = azuread_administrator.value.object_id
    }
  }
}

resource "azurerm_mssql_database" "main" {
  #checkov:skip=CKV_AZURE_224:Ledger tables are append-only and cannot be turned off; the app updates and deletes rows (meters, profiles).
  #checkov:skip=CKV_AZURE_229:Zone redundancy is unavailable on the Basic/Standard SKUs sized for this workload; backups are geo-redundant.
  name        = var.database_name
  server_id   = azurerm_mssql_server.main.id
  collation   = var.database_collation
  sku_name    = var.database_sku
  max_size_gb = var.database_max_size_gb
  tags        = var.tags

  # Backups go to geo-redundant storage so a regional outage does not lose them.
  storage_account_type = "Geo"

  short_term_retention_policy {
    retention_days           = var.short_term_retention_days
    backup_interval_in_hours = var.backup_interval_in_hours
  }

  long_term_retention_policy {
    monthly_retention = var.long_term_monthly_retention
    yearly_retention  = var.long_term_yearly_retention
    week_of_year      = var.long_term_yearly_week
  }
}

# Server auditing (logins, permission changes, queries) to Log Analytics, kept 90 days.
resource "azurerm_log_analytics_workspace" "audit" {
  name                = "${var.database_server_name}-audit"
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  sku                 = "PerGB2018"
  retention_in_days   = 90
  tags                = var.tags
}

resource "azurerm_monitor_diagnostic_setting" "sql_audit" {
  name                       = "sql-audit"
  target_resource_id         = "${azurerm_mssql_server.main.id}/databases/master"
  log_analytics_workspace_id = azurerm_log_analytics_workspace.audit.id

  enabled_log {
    category = "SQLSecurityAuditEvents"
  }
}

resource "azurerm_mssql_server_extended_auditing_policy" "main" {
  server_id              = azurerm_mssql_server.main.id
  log_monitoring_enabled = true
  retention_in_days      = 91

  depends_on = [azurerm_monitor_diagnostic_setting.sql_audit]
}

resource "azurerm_mssql_firewall_rule" "qlik" {
  for_each = toset(var.qlik_ips)

  name             = "qlik-${replace(each.value, ".", "-")}"
  server_id        = azurerm_mssql_server.main.id
  start_ip_address = each.value
  end_ip_address   = each.value
}

# One rule per address the web app may use for outbound traffic. The list is only known once the app exists:
# on the very first deployment the pipeline's plan job targets the web app first (see .gitlab-ci.yml).
resource "azurerm_mssql_firewall_rule" "app" {
  for_each = toset(azurerm_linux_web_app.main.possible_outbound_ip_address_list)

  name             = "app-${replace(each.value, ".", "-")}"
  server_id        = azurerm_mssql_server.main.id
  start_ip_address = each.value
  end_ip_address   = each.value
}

# --- App Service ----------------------------------------------------------------------------------

resource "azurerm_service_plan" "main" {
  #checkov:skip=CKV_AZURE_211:B1 is deliberate for a household-scale site; service_plan_sku selects a larger plan.
  #checkov:skip=CKV_AZURE_212:One instance by design (cost); the app is stateless, so worker count can be raised without changes.
  #checkov:skip=CKV_AZURE_225:Zone redundancy needs Premium v3 plans; not worth the cost at this scale.
  name                = var.service_plan_name
  resource_group_name = azurerm_resource_group.main.name
  location            = azurerm_resource_group.main.location
  os_type             = "Linux"
  sku_name            = var.service_plan_sku
  tags                = var.tags
}

resource "azurerm_linux_web_app" "main" {
  #checkov:skip=CKV_AZURE_13:The application has its own login (accounts, JWT for devices); App Service Authentication would block the devices' API.
  #checkov:skip=CKV_AZURE_17:Client certificates are not used: the Raspberry Pi devices authenticate with JWT bearer tokens.
  #checkov:skip=CKV_AZURE_222:The dashboard and ingest API are public websites by design.
  #checkov:skip=CKV_AZURE_88:No persistent files: data lives in Azure SQL, static files are inside the image.
  name                    = var.app_service_name
  resource_group_name     = azurerm_resource_group.main.name
  location                = azurerm_resource_group.main.location
  service_plan_id         = azurerm_service_plan.main.id
  https_only              = true
  client_affinity_enabled = false
  tags                    = var.tags

  identity {
    type = "SystemAssigned"
  }

  # Defaults first (app_settings may override them: the privacy page's hosting line); fixed settings come last so
  # app_settings cannot override them.
  app_settings = merge({ PRIVACY_HOSTING = "Microsoft Azure, region ${var.location}" }, var.app_settings, local.superuser_settings, {
    WEBSITES_PORT                       = "8000"
    WEBSITES_ENABLE_APP_SERVICE_STORAGE = "false"
    DATABASE_URL                        = local.database_url
    SECRET_KEY                          = var.django_secret_key
    ALLOWED_HOSTS                       = join(",", local.hosts)
    CSRF_TRUSTED_ORIGINS                = join(",", [for host in local.hosts : "https://${host}"])
    MIGRATE_ON_START                    = "1"
    # App Service terminates TLS and forwards X-Forwarded-Proto; only its front ends can reach the container.
    BEHIND_HTTPS_PROXY             = "1"
    FORWARDED_ALLOW_IPS            = "*"
    TRUSTED_PROXY_COUNT            = "1"
    SECURE_SSL_REDIRECT            = "1"
    SESSION_COOKIE_SECURE          = "1"
    CSRF_COOKIE_SECURE             = "1"
    SECURE_HSTS_SECONDS            = tostring(var.hsts_seconds)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = "1"
  })

  site_config {
    always_on                         = true
    health_check_path                 = "/healthz"
    health_check_eviction_time_in_min = 5
    http2_enabled                     = true
    minimum_tls_version               = "1.2"
    ftps_state                        = "Disabled"

    application_stack {
      docker_image_name        = local.image_name
      docker_registry_url      = "https://${var.container_registry}"
      docker_registry_username = var.registry_username
      docker_registry_password = var.registry_password
    }
  }

  logs {
    detailed_error_messages = true
    failed_request_tracing  = true

    application_logs {
      file_system_level = "Information"
    }

    http_logs {
      file_system {
        retention_in_days = 7
        retention_in_mb   = 35
      }
    }
  }
}
