"""Upload jobs: a stored file of records applied to the vendor, one outcome per row."""
