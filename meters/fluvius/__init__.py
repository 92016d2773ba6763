"""History from Mijn Fluvius (docs/design.md, "Mijn Fluvius import"): ``parse`` reads an export, ``imports`` stores
it (``import_file``), ``series`` fills the dashboards' buckets the Pi leaves unknown, ``reconcile`` compares the two
sources per day and register."""
