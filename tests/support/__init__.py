"""Test helpers shared by every suite (live servers, ...)."""
