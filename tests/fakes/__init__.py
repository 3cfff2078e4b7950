"""Faithful local stand-ins for Azure services that have no installable emulator."""
