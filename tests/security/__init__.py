"""Tests of interlink.security."""
