"""Foundations every other engine package may use: errors and exit codes, paths, settings, input text."""
