"""Simulators of real vendors, served on loopback for the tests (one module per vendor)."""
