"""reconciler: declarative, Terraform-style management of Azure Machine Learning datastores."""

__version__ = "0.1.0"
