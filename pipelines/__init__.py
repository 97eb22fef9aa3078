"""ARES on Ray pipeline composition, configuration and CLI."""
