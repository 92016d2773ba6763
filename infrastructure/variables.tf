# Every value without a default is supplied by the pipeline as TF_VAR_<name> (docs/operations.md lists them).
# Secrets have no default and are marked sensitive so they never appear in plan output.

# --- location and names -----------------------------------------------------------------------------

variable "resource_group_name" {
  type        = string
  description = "Resource group holding every resource of this deployment."

  validation {
    condition     = can(regex("^[-\\w.()]{1,89}[-\\w()]$", var.resource_group_name))
    error_message = "resource_group_name must be 2-90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'."
  }
}

variable "location" {
  type        = string
  description = "Azure region, e.g. westeurope."
  default     = "westeurope"

  validation {
    condition     = can(regex("^[a-z0-9]+$", var.location))
    error_message = "location must be an Azure region name in lower case without spaces, e.g. westeurope."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags put on every resource."
  default     = { application = "p1-energy" }
}

# --- Azure SQL -------------------------------------------------------------------------------------

variable "database_server_name" {
  type        = string
  description = "Globally unique name of the Azure SQL server (<name>.database.windows.net)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.database_server_name))
    error_message = "database_server_name must be 3-63 lower-case letters, digits or '-', not starting or ending with '-'."
  }
}

variable "database_name" {
  type        = string
  description = "Name of the application database."
  default     = "p1energy"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,128}$", var.database_name))
    error_message = "database_name must be 1-128 letters, digits, '_' or '-'."
  }
}

variable "sql_admin_login" {
  type        = string
  description = "SQL administrator login of the server (the application connects with it)."
  sensitive   = true

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_]{2,127}$", var.sql_admin_login)) && !contains(["admin", "administrator", "sa", "root", "dbmanager", "loginmanager", "dbo", "guest", "public"], lower(var.sql_admin_login))
    error_message = "sql_admin_login must be 3-128 letters, digits or '_', start with a letter, and not be a reserved name such as admin or sa."
  }
}

variable "sql_admin_password" {
  type        = string
  description = "SQL administrator password (at least 16 characters; Azure also requires three of: upper, lower, digit, symbol)."
  sensitive   = true

  validation {
    condition     = length(var.sql_admin_password) >= 16 && length(var.sql_admin_password) <= 128
    error_message = "sql_admin_password must be 16 to 128 characters long."
  }
}

variable "entra_admin" {
  type = object({
    login_username = string
    object_id      = string
  })
  description = "Optional Microsoft Entra ID (Azure AD) user or group made administrator of the SQL server; null for none."
  default     = null

  validation {
    condition     = var.entra_admin == null || can(regex("^[0-9a-fA-F-]{36}$", var.entra_admin.object_id))
    error_message = "entra_admin.object_id must be the object id (a GUID) of an Entra ID user or group."
  }
}

variable "database_sku" {
  type        = string
  description = "Database SKU, e.g. Basic, S0, S1, GP_S_Gen5_1."
  default     = "Basic"

  validation {
    condition     = can(regex("^(Basic|S[0-9]+|P[0-9]+|GP_S_Gen5_[0-9]+|GP_Gen5_[0-9]+|BC_Gen5_[0-9]+|HS_Gen5_[0-9]+)$", var.database_sku))
    error_message = "database_sku must be an Azure SQL SKU name such as Basic, S0, P1, GP_S_Gen5_1 or GP_Gen5_2."
  }
}

variable "database_max_size_gb" {
  type        = number
  description = "Maximum database size in GB (Basic allows at most 2)."
  default     = 2

  validation {
    condition     = var.database_max_size_gb >= 1 && var.database_max_size_gb <= 4096 && floor(var.database_max_size_gb) == var.database_max_size_gb
    error_message = "database_max_size_gb must be a whole number of GB between 1 and 4096."
  }
}

variable "database_collation" {
  type        = string
  description = "Database collation."
  default     = "SQL_Latin1_General_CP1_CI_AS"
}

variable "short_term_retention_days" {
  type        = number
  description = "Point-in-time restore window in days."
  default     = 7

  validation {
    condition     = var.short_term_retention_days >= 1 && var.short_term_retention_days <= 35
    error_message = "short_term_retention_days must be between 1 and 35."
  }
}

variable "backup_interval_in_hours" {
  type        = number
  description = "Differential backup interval in hours."
  default     = 24

  validation {
    condition     = contains([12, 24], var.backup_interval_in_hours)
    error_message = "backup_interval_in_hours must be 12 or 24."
  }
}

variable "long_term_monthly_retention" {
  type        = string
  description = "How long the first backup of each month is kept (ISO 8601 duration, e.g. P6M)."
  default     = "P6M"

  validation {
    condition     = can(regex("^P[0-9]+[DWMY]$", var.long_term_monthly_retention))
    error_message = "long_term_monthly_retention must be an ISO 8601 duration such as P6M or P26W."
  }
}

variable "long_term_yearly_retention" {
  type        = string
  description = "How long the yearly backup is kept (ISO 8601 duration, e.g. P5Y)."
  default     = "P5Y"

  validation {
    condition     = can(regex("^P[0-9]+[DWMY]$", var.long_term_yearly_retention))
    error_message = "long_term_yearly_retention must be an ISO 8601 duration such as P5Y."
  }
}

variable "long_term_yearly_week" {
  type        = number
  description = "Week of the year whose backup is kept as the yearly backup."
  default     = 1

  validation {
    condition     = var.long_term_yearly_week >= 1 && var.long_term_yearly_week <= 52
    error_message = "long_term_yearly_week must be between 1 and 52."
  }
}

variable "qlik_ips" {
  type        = list(string)
  description = "Public IPv4 addresses of the Qlik Sense tenant that reads the database (one firewall rule each)."
  default     = []

  validation {
    condition     = alltrue([for ip in var.qlik_ips : can(regex("^((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])$", ip))])
    error_message = "qlik_ips must be a list of IPv4 addresses such as 34.247.21.179."
  }
}

# --- App Service ------------------------------------------------------------------------------------

variable "service_plan_name" {
  type        = string
  description = "Name of the Linux App Service plan."
}

variable "service_plan_sku" {
  type        = string
  description = "App Service plan SKU (B1 is the smallest with always-on)."
  default     = "B1"

  validation {
    condition     = contains(["B1", "B2", "B3", "S1", "S2", "S3", "P0v3", "P1v3", "P2v3", "P3v3"], var.service_plan_sku)
    error_message = "service_plan_sku must be one of B1, B2, B3, S1, S2, S3, P0v3, P1v3, P2v3, P3v3 (always-on needs Basic or higher)."
  }
}

variable "app_service_name" {
  type        = string
  description = "Globally unique name of the web app (<name>.azurewebsites.net)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,58}[a-z0-9]$", var.app_service_name))
    error_message = "app_service_name must be 2-60 lower-case letters, digits or '-', not starting or ending with '-'."
  }
}

variable "container_registry" {
  type        = string
  description = "Host of the container registry, e.g. registry.gitlab.com (the pipeline passes CI_REGISTRY)."

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?$", var.container_registry))
    error_message = "container_registry must be a registry host name such as registry.gitlab.com, without https://."
  }
}

variable "container_image" {
  type        = string
  description = "Image repository including the registry host (the pipeline passes CI_REGISTRY_IMAGE)."

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+$", var.container_image))
    error_message = "container_image must look like registry.gitlab.com/group/project, without a tag."
  }
}

variable "container_image_tag" {
  type        = string
  description = "Image tag to run (the pipeline passes its CI_PIPELINE_IID)."

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.container_image_tag))
    error_message = "container_image_tag must be a Docker tag (letters, digits, '_', '.', '-')."
  }
}

variable "registry_username" {
  type        = string
  description = "User name of a GitLab deploy token with read_registry scope, used by App Service to pull the image."
  sensitive   = true
}

variable "registry_password" {
  type        = string
  description = "Password of that deploy token."
  sensitive   = true
}

# --- Django ---------------------------------------------------------------------------------------

variable "django_secret_key" {
  type        = string
  description = "Django SECRET_KEY: a long random value, at least 50 characters."
  sensitive   = true

  validation {
    condition     = length(var.django_secret_key) >= 50
    error_message = "django_secret_key must be at least 50 characters long (python -c 'import secrets; print(secrets.token_urlsafe(50))')."
  }
}

variable "extra_allowed_hosts" {
  type        = list(string)
  description = "Host names besides <app_service_name>.azurewebsites.net that the site answers to (custom domains)."
  default     = []
}

variable "hsts_seconds" {
  type        = number
  description = "Strict-Transport-Security max-age sent by Django (0 turns HSTS off)."
  default     = 31536000

  validation {
    condition     = var.hsts_seconds >= 0
    error_message = "hsts_seconds must be 0 or more."
  }
}

variable "app_settings" {
  type        = map(string)
  description = "Further non-secret environment variables for the app (e.g. EMAIL_HOST, LOG_LEVEL, QLIK_TENANT_HOST)."
  default     = {}
}

variable "django_superuser" {
  type = object({
    username = string
    email    = string
    password = string
  })
  description = "Optional first administrator, created by the container at start when missing (never reset). null for none."
  sensitive   = true
  default     = null
}
