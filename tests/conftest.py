"""Shared fixtures. Each double fixture starts a real server on 127.0.0.1 and stops it after the test."""
