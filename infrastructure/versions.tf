terraform {
  required_version = ">= 1.6.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.14"
    }
  }

  # GitLab-managed Terraform state: the pipeline passes address, lock and credentials as TF_HTTP_* variables.
  backend "http" {}
}

# Credentials come from the ARM_CLIENT_ID / ARM_CLIENT_SECRET / ARM_TENANT_ID / ARM_SUBSCRIPTION_ID
# environment variables (GitLab CI/CD variables), never from a file or a Terraform variable.
provider "azurerm" {
  features {}
}
