output "site_url" {
  description = "Public URL of the web app."
  value       = "https://${azurerm_linux_web_app.main.default_hostname}"
}

output "database_server_fqdn" {
  description = "Host name of the Azure SQL server (for Qlik and administrators)."
  value       = azurerm_mssql_server.main.fully_qualified_domain_name
}

output "database_name" {
  description = "Name of the application database."
  value       = azurerm_mssql_database.main.name
}

output "app_outbound_ips" {
  description = "Addresses the web app may connect from (each has a SQL firewall rule)."
  value       = azurerm_linux_web_app.main.possible_outbound_ip_address_list
}
